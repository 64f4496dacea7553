from .ccam_neck import CCAMNeck

__all__ = ['CCAMNeck']
