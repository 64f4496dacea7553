from .berhu_loss import BerHuLoss, berhu_loss
from .inverse_depth_l1_loss import InverseDepthL1Loss, inverse_depth_l1_loss
from .weighted_cross_entropy_loss import WeightedCrossEntropyLoss, weighted_cross_entropy

__all__ = [
    'BerHuLoss', 'berhu_loss', 'InverseDepthL1Loss', 'inverse_depth_l1_loss',
    'WeightedCrossEntropyLoss', 'weighted_cross_entropy'
]
