from .berhu_loss import BerHuLoss, berhu_loss
from .inverse_depth_l1_loss import InverseDepthL1Loss, inverse_depth_l1_loss

__all__ = ['BerHuLoss', 'berhu_loss', 'InverseDepthL1Loss', 'inverse_depth_l1_loss']
