"""Strong photometric augmentation of a batch (the student's view in mean-teacher training).

The teacher labels the *weak* view (geometric augmentation only, what the data pipeline
produced); the student learns from the *strong* view of the same (mixed) pixels, as in DACS
(Tranheden et al., WACV 2021) and Hoyer et al. (CVPR 2021): per sample,

* with probability ``color_prob``, a ColorJitter of the whole image (brightness, contrast,
  saturation, hue; the fixed order and formulas of :func:`color_aug_batch` with one region,
  the image: the contrast anchor is the image's mean luma);
* with probability ``blur_prob``, a Gaussian blur with ``sigma ~ U(blur_sigma)`` and a kernel
  of ``blur_kernel_ratio`` of the shorter image side (rounded up to an odd size, >= 3),
  reflect-padded, computed separably.

Only the image changes: labels, confidence and depth stay aligned. Works on normalised images
(pass the preprocessor's ``mean`` / ``std``): the jitter de-normalises and normalises back,
the blur is linear and channel-wise, so it commutes with the normalisation.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .color_aug import ColorJitter, Range, color_aug_batch

__all__ = ['StrongAugBatchResult', 'gaussian_kernels', 'strong_aug_batch', 'STRONG_AUG_DEFAULTS']

# The one home of the strong view's defaults (DACS: colour jitter, Gaussian blur); the
# semi-supervised step's ``strong_aug`` reads them, configs override.
STRONG_AUG_DEFAULTS = dict(color_prob=0.8, brightness=0.2, contrast=0.2, saturation=0.2,
                           hue=0.05, blur_prob=0.5, blur_sigma=(0.15, 1.15),
                           blur_kernel_ratio=0.1)


class StrongAugBatchResult(NamedTuple):
    """Output of :func:`strong_aug_batch`.

    Attributes:
        img (Tensor): ``B x C x H x W`` augmented images, dtype of the input.
        jittered (Tensor): ``(B,)`` bool, samples that got the colour jitter.
        blur_sigma (Tensor): ``(B,)`` float, sigma of the blur (0: not blurred).
    """
    img: torch.Tensor
    jittered: torch.Tensor
    blur_sigma: torch.Tensor


def gaussian_kernels(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels ``(len(sigma), size)``; sigma 0 gives a unit impulse."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f'gaussian_kernels: size must be odd and >= 1, got {size}')
    x = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - (size - 1) / 2
    s = sigma.clamp(min=1e-6)[:, None]
    k = torch.exp(-0.5 * (x[None] / s)**2)
    return k / k.sum(dim=1, keepdim=True)


def _blur(img: torch.Tensor, sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Separable per-sample Gaussian blur, reflect padding (grouped convs, one per axis)."""
    b, c, h, w = img.shape
    k = gaussian_kernels(sigma.to(img.dtype), size)  # B x K
    weight = k.repeat_interleave(c, dim=0)  # (B*C) x K
    x = img.reshape(1, b * c, h, w)
    pad = size // 2
    mode = 'reflect' if pad < min(h, w) else 'replicate'
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode=mode), weight[:, None, None, :], groups=b * c)
    x = F.conv2d(F.pad(x, (0, 0, pad, pad), mode=mode), weight[:, None, :, None], groups=b * c)
    return x.reshape(b, c, h, w)


def strong_aug_batch(img: torch.Tensor,
                     *,
                     generator: Optional[torch.Generator] = None,
                     color_prob: float = STRONG_AUG_DEFAULTS['color_prob'],
                     brightness: Range = STRONG_AUG_DEFAULTS['brightness'],
                     contrast: Range = STRONG_AUG_DEFAULTS['contrast'],
                     saturation: Range = STRONG_AUG_DEFAULTS['saturation'],
                     hue: Range = STRONG_AUG_DEFAULTS['hue'],
                     blur_prob: float = STRONG_AUG_DEFAULTS['blur_prob'],
                     blur_sigma: Tuple[float, float] = STRONG_AUG_DEFAULTS['blur_sigma'],
                     blur_kernel_ratio: float = STRONG_AUG_DEFAULTS['blur_kernel_ratio'],
                     channel_order: str = 'rgb',
                     mean: Optional[Sequence[float]] = None,
                     std: Optional[Sequence[float]] = None,
                     value_range: Optional[Tuple[float, float]] = (0.0, 255.0)
                     ) -> StrongAugBatchResult:
    """Colour jitter + Gaussian blur per sample (DACS's strong transform), on any device.

    Args:
        img (Tensor): ``B x 3 x H x W`` float images, 0-255 or normalised with ``mean`` /
            ``std`` (0-255 units, as in ``SegDataPreProcessor``).
        generator (torch.Generator | None): Source of all draws (None: torch's global RNG).
        color_prob (float): Per-sample probability of the colour jitter. Default: 0.8.
        brightness, contrast, saturation, hue: ColorJitter strengths (a number ``v``:
            ``U(1 - v, 1 + v)``, hue ``U(-v, v)`` of a turn; or an explicit ``(lo, hi)``).
            Defaults: 0.2, 0.2, 0.2, 0.05.
        blur_prob (float): Per-sample probability of the blur. Default: 0.5.
        blur_sigma (tuple[float, float]): Range of the blur's sigma in pixels.
            Default: (0.15, 1.15).
        blur_kernel_ratio (float): Kernel size as a fraction of ``min(H, W)``. Default: 0.1.
        channel_order (str): ``'rgb'`` or ``'bgr'``: order of ``img``'s channels (for hue and
            saturation). Default: 'rgb'.
        mean, std (Sequence[float] | None): Normalisation of ``img``.
        value_range (tuple | None): Clamp bounds in pixel units during the jitter.

    Returns:
        StrongAugBatchResult
    """
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(f'strong_aug_batch: `img` must be B x 3 x H x W, got {tuple(img.shape)}')
    for name, p in (('color_prob', color_prob), ('blur_prob', blur_prob)):
        if not 0 <= p <= 1:
            raise ValueError(f'strong_aug_batch: `{name}` must be in [0, 1], got {p}')
    lo, hi = (float(v) for v in blur_sigma)
    if not 0 <= lo <= hi:
        raise ValueError(f'strong_aug_batch: `blur_sigma` must be (lo, hi) with 0 <= lo <= hi, '
                         f'got {blur_sigma}')
    if not blur_kernel_ratio > 0:
        raise ValueError(f'strong_aug_batch: `blur_kernel_ratio` must be > 0, got '
                         f'{blur_kernel_ratio}')
    b, _, h, w = img.shape
    device = img.device
    # One region (label 0) per image: ColorAug's per-class jitter becomes a whole-image jitter.
    region = torch.zeros((b, h, w), dtype=torch.long, device=device)
    jitter = ColorJitter(color_prob, brightness, contrast, saturation, hue)
    jit = color_aug_batch(img, region, generator=generator, jitter=jitter, ignore_index=-1,
                          channel_order=channel_order, mean=mean, std=std,
                          value_range=value_range)
    out = jit.img
    jittered = jit.mask.flatten(1).any(dim=1)

    gdev = generator.device if generator is not None else torch.device('cpu')
    u = torch.rand(b, 2, generator=generator, device=gdev, dtype=torch.float64).to(device)
    blurred = u[:, 0] < blur_prob
    sigma = torch.where(blurred, lo + (hi - lo) * u[:, 1], torch.zeros_like(u[:, 1]))
    size = max(3, int(math.ceil(blur_kernel_ratio * min(h, w))) // 2 * 2 + 1)
    if bool(blurred.any()):
        smooth = _blur(out, sigma, size)
        out = torch.where(blurred.view(b, 1, 1, 1), smooth.to(out.dtype), out)
    return StrongAugBatchResult(img=out, jittered=jittered, blur_sigma=sigma.to(torch.float32))
