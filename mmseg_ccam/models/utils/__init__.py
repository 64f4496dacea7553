from .cross_channel_attention import CrossChannelAttention, cross_channel_attention

__all__ = ['CrossChannelAttention', 'cross_channel_attention']
