"""Cross-Channel Attention Module (CCAM) between a segmentation and a depth feature map."""
import contextlib
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor


def _sqrt_size(flat: Tensor, n: int):
    """``sqrt(n)`` for ``flat`` of shape ``B x C x n``, as a value an ONNX trace keeps dynamic.

    Under tracing, ``math.sqrt`` of the feature size can be stored as the constant of the
    export size, and a ``--dynamic`` graph then scales the energy wrongly at every other size
    (seen with the shipped R18 checkpoint). Traced, the count is a sum of ones instead: exact in
    float32 below 2**24, and IEEE sqrt is correctly rounded, so the value is the same.
    """
    if torch.jit.is_tracing():
        return torch.ones_like(flat[0, 0]).sum().sqrt()
    return math.sqrt(n)


def cross_channel_attention(x_s: Tensor,
                            x_d: Tensor,
                            gamma_s: Tensor,
                            gamma_d: Tensor,
                            energy: str = 'dot',
                            temperature: Optional[Tensor] = None,
                            return_attention: bool = False):
    """Exchange information between two feature maps along their channels.

    With ``X_s, X_d`` the inputs flattened to ``B x C x N`` (``N = H * W``)::

        A_sd = softmax_j(E)      A_ds = softmax_j(E^T)     # B x C x C
        y_s  = x_s + gamma_s * (A_sd X_d)
        y_d  = x_d + gamma_d * (A_ds X_s)

    with the energy ``E`` of DANet's channel attention (``energy='dot'``)::

        E = X_s X_d^T / sqrt(N)

    or the normalised energy (``energy='cosine'``): the cosine similarity of the channels
    (each row of ``X_s`` and ``X_d`` L2-normalised over ``N``) divided by a temperature ``T``::

        E = (X_s / |X_s|) (X_d / |X_d|)^T / T

    The dot energy grows with the channels' norms, so for correlated post-ReLU features the
    softmax saturates (each row puts ~all its weight on one channel, row entropy ~0): one
    channel is passed on, scaled by ``gamma``. The cosine energy is bounded by ``1 / T``,
    so the row entropy stays controllable (``T = 0.1``: logits in [-10, 10]).

    The attention is computed in float32 even under autocast: each entry of
    the ``C x C`` energy sums ``N`` products (N = 8192 for a 64 x 128 map), which
    overflows float16 (max 65504) for ordinary post-ReLU activations and would
    turn the softmax into NaN.

    Args:
        x_s (Tensor): Segmentation features, shape (B, C, H, W).
        x_d (Tensor): Depth features, shape (B, C, H, W).
        gamma_s (Tensor): Scalar weight of the message sent to ``x_s``.
        gamma_d (Tensor): Scalar weight of the message sent to ``x_d``.
        energy (str): ``'dot'`` (DANet) or ``'cosine'``. Default: 'dot'.
        temperature (Tensor | None): Scalar ``T > 0`` of the cosine energy (required for it).
        return_attention (bool): Also return ``(A_sd, A_ds)`` (B x C x C, float32).

    Returns:
        tuple: ``(y_s, y_d)``, each of shape (B, C, H, W) and of the dtype of the
        corresponding input; ``(y_s, y_d, A_sd, A_ds)`` with ``return_attention``.
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
    # No autocast to switch off where the device has none (e.g. `meta` in the device tests).
    device_type = x_s.device.type
    no_autocast = torch.autocast(device_type=device_type, enabled=False) \
        if torch.amp.is_autocast_available(device_type) else contextlib.nullcontext()
    with no_autocast:
        fs = x_s.float().reshape(b, c, n)
        fd = x_d.float().reshape(b, c, n)
        # One energy matrix serves both directions: X_d X_s^T is its transpose.
        if energy == 'dot':
            e = torch.bmm(fs, fd.transpose(1, 2)) / _sqrt_size(fs, n)
        elif energy == 'cosine':
            if temperature is None:
                raise ValueError("cross_channel_attention: energy='cosine' needs a temperature")
            e = torch.bmm(F.normalize(fs, dim=-1), F.normalize(fd, dim=-1).transpose(1, 2))
            e = e / temperature.float()
        else:
            raise ValueError(f"cross_channel_attention: energy must be 'dot' or 'cosine', got "
                             f'{energy!r}')
        attn_sd = e.softmax(dim=-1)
        attn_ds = e.transpose(1, 2).softmax(dim=-1)
        msg_s = torch.bmm(attn_sd, fd).reshape(b, c, h, w)
        msg_d = torch.bmm(attn_ds, fs).reshape(b, c, h, w)
        y_s = x_s.float() + gamma_s.float() * msg_s
        y_d = x_d.float() + gamma_d.float() * msg_d
    if return_attention:
        return y_s.to(x_s.dtype), y_d.to(x_d.dtype), attn_sd, attn_ds
    return y_s.to(x_s.dtype), y_d.to(x_d.dtype)


def row_entropy(attn: Tensor) -> Tensor:
    """Mean entropy (nats) of the rows of a row-stochastic ``B x C x C`` attention.

    ``log(C)`` for uniform rows, 0 for one-hot (saturated) rows.
    """
    p = attn.float()
    return -(p * torch.log(p.clamp(min=torch.finfo(p.dtype).tiny))).sum(dim=-1).mean()


@MODELS.register_module()
class CrossChannelAttention(nn.Module):
    """Cross-Channel Attention between the segmentation and depth branches.

    Each segmentation channel attends over all depth channels (and vice
    versa); the attended message is added to the input with a learnable
    scalar weight initialised to 0, so a freshly built module is the identity.
    See :func:`cross_channel_attention` for the formulas.

    ``energy='dot'`` (default) is DANet's channel attention and adds exactly two parameters
    (``gamma_s``, ``gamma_d``). ``energy='cosine'`` compares L2-normalised channels with a
    temperature, which keeps the softmax from saturating on correlated features; with
    ``learn_temperature`` the temperature is a third parameter (stored as its log).

    After each training forward the module keeps, without gradient, the mean row entropy of
    both attention maps in :attr:`last_stats` (``entropy_sd``, ``entropy_ds``, nats; ``log C``
    is uniform, 0 saturated), which :class:`MeanTeacherSegDepth` logs.

    Args:
        gamma_init (float): Initial value of ``gamma_s`` and ``gamma_d``.
            Defaults to 0.0 (identity at initialisation, as in the method).
        energy (str): ``'dot'`` (DANet, default) or ``'cosine'``.
        temperature (float): Initial (or fixed) temperature of the cosine energy.
            Defaults to 0.1.
        learn_temperature (bool): Learn the temperature (as ``log_temperature``).
            Defaults to False.

    Shapes:
        - x_s, x_d: (B, C, H, W), identical shapes.
        - outputs: (B, C, H, W) each.
    """

    # Checkpoint loading (mmseg_ccam.engine.checkpoint_loading.zero_init_keys) lets a checkpoint
    # lack these when they are still 0 in the model: with both gates at 0 the module is the
    # identity, so a no-CCAM checkpoint loaded into a CCAM model computes what it computed.
    zero_init_keys: Tuple[str, ...] = ('gamma_s', 'gamma_d')
    zero_init_message: str = (
        'The checkpoint has no CCAM attention weights ({n} gamma keys): they stay at 0, so the '
        "model computes what the checkpoint's model computed (attention off).")

    def __init__(self,
                 gamma_init: float = 0.0,
                 energy: str = 'dot',
                 temperature: float = 0.1,
                 learn_temperature: bool = False) -> None:
        super().__init__()
        if energy not in ('dot', 'cosine'):
            raise ValueError(f"CrossChannelAttention: energy must be 'dot' (DANet) or 'cosine' "
                             f'(normalised), got {energy!r}.')
        if not temperature > 0:
            raise ValueError(f'CrossChannelAttention: temperature must be > 0, got {temperature}')
        self.energy = energy
        self.gamma_s = nn.Parameter(torch.full((1, ), float(gamma_init)))
        self.gamma_d = nn.Parameter(torch.full((1, ), float(gamma_init)))
        self.learn_temperature = bool(learn_temperature) and energy == 'cosine'
        log_t = torch.full((1, ), math.log(float(temperature)))
        if self.learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer('log_temperature', log_t, persistent=False)
        self.last_stats: Dict[str, Tensor] = {}

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def forward(self, x_s: Tensor, x_d: Tensor) -> Tuple[Tensor, Tensor]:
        """Return ``(y_s, y_d)`` for segmentation features ``x_s`` and depth
        features ``x_d``."""
        temperature = self.temperature if self.energy == 'cosine' else None
        y_s, y_d, a_sd, a_ds = cross_channel_attention(
            x_s, x_d, self.gamma_s, self.gamma_d, self.energy, temperature,
            return_attention=True)
        if self.training:
            with torch.no_grad():
                self.last_stats = dict(entropy_sd=row_entropy(a_sd), entropy_ds=row_entropy(a_ds))
        return y_s, y_d

    def diagnostics(self) -> Dict[str, Tensor]:
        """Detached scalars for logging: ``gamma_s``, ``gamma_d`` and the row entropies of
        :attr:`last_stats` (``entropy_sd``, ``entropy_ds``; after a training forward)."""
        out = {name: getattr(self, name).detach().reshape(-1)[0]
               for name in ('gamma_s', 'gamma_d')}
        out.update({name: value.detach() for name, value in self.last_stats.items()})
        return out

    def extra_repr(self) -> str:
        out = (f'energy={self.energy!r}, gamma_s={self.gamma_s.item():.4g}, '
               f'gamma_d={self.gamma_d.item():.4g}')
        if self.energy == 'cosine':
            out += (f', temperature={self.temperature.item():.4g}, '
                    f'learn_temperature={self.learn_temperature}')
        return out
