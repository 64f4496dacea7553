"""Cross-Channel Attention Module (CCAM) between a segmentation and a depth feature map."""
import math
from typing import Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor


def cross_channel_attention(x_s: Tensor, x_d: Tensor, gamma_s: Tensor,
                            gamma_d: Tensor) -> Tuple[Tensor, Tensor]:
    """Exchange information between two feature maps along their channels.

    With ``X_s, X_d`` the inputs flattened to ``B x C x N`` (``N = H * W``)::

        A_sd = softmax_j(X_s X_d^T / sqrt(N))    # B x C x C
        A_ds = softmax_j(X_d X_s^T / sqrt(N))
        y_s  = x_s + gamma_s * (A_sd X_d)
        y_d  = x_d + gamma_d * (A_ds X_s)

    The attention is computed in float32 even under autocast: each entry of
    the ``C x C`` energy sums ``N`` products (N = 8192 for a 64 x 128 map), which
    overflows float16 (max 65504) for ordinary post-ReLU activations and would
    turn the softmax into NaN.

    Args:
        x_s (Tensor): Segmentation features, shape (B, C, H, W).
        x_d (Tensor): Depth features, shape (B, C, H, W).
        gamma_s (Tensor): Scalar weight of the message sent to ``x_s``.
        gamma_d (Tensor): Scalar weight of the message sent to ``x_d``.

    Returns:
        tuple[Tensor, Tensor]: ``(y_s, y_d)``, each of shape (B, C, H, W) and of
        the dtype of the corresponding input.
    """
    if x_s.dim() != 4 or x_d.dim() != 4:
        raise ValueError('cross_channel_attention expects two 4-D tensors B x C x H x W, got '
                         f'shapes {tuple(x_s.shape)} and {tuple(x_d.shape)}.')
    if x_s.shape != x_d.shape:
        raise ValueError(
            'cross_channel_attention: segmentation and depth features must have the same '
            f'B x C x H x W, got {tuple(x_s.shape)} and {tuple(x_d.shape)}. Give both task '
            'adapters of CCAMNeck the same `adapter_channels` at this level.')
    b, c, h, w = x_s.shape
    n = h * w
    with torch.autocast(device_type=x_s.device.type, enabled=False):
        fs = x_s.float().reshape(b, c, n)
        fd = x_d.float().reshape(b, c, n)
        # One energy matrix serves both directions: X_d X_s^T is its transpose.
        energy = torch.bmm(fs, fd.transpose(1, 2)) / math.sqrt(n)
        attn_sd = energy.softmax(dim=-1)
        attn_ds = energy.transpose(1, 2).softmax(dim=-1)
        msg_s = torch.bmm(attn_sd, fd).reshape(b, c, h, w)
        msg_d = torch.bmm(attn_ds, fs).reshape(b, c, h, w)
        y_s = x_s.float() + gamma_s.float() * msg_s
        y_d = x_d.float() + gamma_d.float() * msg_d
    return y_s.to(x_s.dtype), y_d.to(x_d.dtype)


@MODELS.register_module()
class CrossChannelAttention(nn.Module):
    """Cross-Channel Attention between the segmentation and depth branches.

    Each segmentation channel attends over all depth channels (and vice
    versa); the attended message is added to the input with a learnable
    scalar weight initialised to 0, so a freshly built module is the identity
    and the module adds exactly two parameters. See
    :func:`cross_channel_attention` for the formula.

    Args:
        gamma_init (float): Initial value of ``gamma_s`` and ``gamma_d``.
            Defaults to 0.0 (identity at initialisation, as in the method).

    Shapes:
        - x_s, x_d: (B, C, H, W), identical shapes.
        - outputs: (B, C, H, W) each.
    """

    def __init__(self, gamma_init: float = 0.0) -> None:
        super().__init__()
        self.gamma_s = nn.Parameter(torch.full((1, ), float(gamma_init)))
        self.gamma_d = nn.Parameter(torch.full((1, ), float(gamma_init)))

    def forward(self, x_s: Tensor, x_d: Tensor) -> Tuple[Tensor, Tensor]:
        """Return ``(y_s, y_d)`` for segmentation features ``x_s`` and depth
        features ``x_d``."""
        return cross_channel_attention(x_s, x_d, self.gamma_s, self.gamma_d)

    def extra_repr(self) -> str:
        return f'gamma_s={self.gamma_s.item():.4g}, gamma_d={self.gamma_d.item():.4g}'
