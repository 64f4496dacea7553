from .depth_head import DepthHead, depth_to_logits, logits_to_depth

__all__ = ['DepthHead', 'logits_to_depth', 'depth_to_logits']
