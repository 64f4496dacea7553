from .cross_channel_attention import CrossChannelAttention, cross_channel_attention
from .frozen_bn_stats import frozen_bn_stats
from .loss_guard import FiniteLossGuardMixin, NonFiniteLossError, check_finite_losses

__all__ = [
    'CrossChannelAttention', 'cross_channel_attention', 'frozen_bn_stats', 'FiniteLossGuardMixin',
    'NonFiniteLossError', 'check_finite_losses'
]
