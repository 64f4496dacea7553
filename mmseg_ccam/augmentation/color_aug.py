"""ColorAug core: an independent photometric change per semantic class (docs/method.md, "ColorAug").

One algorithm, two forms with the same per-pixel formulas:

* numpy (pipeline, one ``H x W x 3`` image): :func:`sample_color_aug_params`,
  :func:`color_aug`;
* torch (batches, ``B x 3 x H x W`` float images, any device): :func:`color_aug_batch`.

Both draw what a :class:`ColorJitter` (``prob`` and the four ranges) says. For every class
present (not ``ignore_index``), selected with probability ``prob``, draw ColorJitter-style
factors: brightness ``b ~ U(max(0, 1-B), 1+B)``, contrast
``c ~ U(max(0, 1-C), 1+C)``, saturation ``s ~ U(max(0, 1-S), 1+S)``, hue ``h ~ U(-H, H)``
(``H <= 0.5``, a fraction of a full turn). A tuple ``(lo, hi)`` gives the range directly.
They are applied to that class's pixels in a fixed order (brightness, contrast, saturation,
hue; torchvision's ColorJitter shuffles the order, a fixed order keeps both forms identical),
in RGB pixel values, clamping to ``value_range`` (default ``[0, 255]``) after each step::

    x = clamp(b * x)
    x = clamp(m + c * (x - m))      m = mean luma Y over the class region (not the image)
    x = clamp(Y + s * (x - Y))      Y = 0.299 R + 0.587 G + 0.114 B of each pixel
    x = clamp(YIQ^-1 R(2 pi h) YIQ x)   hue: rotation of the (I, Q) chroma plane

The hue change is a rotation in YIQ space: linear, vectorised, keeps luma, and needs no
HSV branch logic (it differs slightly from an HSV hue shift for saturated colours). The
contrast anchor is the class-region mean because the change is meant to alter the class's
appearance, independently of what else is in the image.

Pixels of unselected classes and of ``ignore_index`` are copied back from the input, so they
are bit-for-bit unchanged. The numpy form rounds (half to even) and clips integer images
back to their dtype; the torch form keeps float values (no rounding), optionally
de-normalising with ``mean``/``std`` first and re-normalising afterwards.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    'COLOR_AUG_DEFAULTS', 'ColorJitter',
    'ColorAugParams', 'ColorAugBatchResult', 'jitter_range', 'sample_color_aug_params',
    'color_aug', 'color_aug_batch'
]

Range = Union[float, Tuple[float, float]]

# RGB -> YIQ (NTSC) and its exact inverse; the luma row is also the grey level used by the
# contrast and saturation steps.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = np.linalg.inv(_YIQ)
_Y = tuple(float(v) for v in _YIQ[0])
_I = tuple(float(v) for v in _YIQ[1])
_Q = tuple(float(v) for v in _YIQ[2])
_INV = tuple(tuple(float(v) for v in row) for row in _YIQ_INV)


def jitter_range(value: Range, name: str, center: float = 1.0,
                 bound: Optional[float] = None) -> Tuple[float, float]:
    """ColorJitter's rule: a number ``v`` gives ``(max(0, c - v), c + v)`` (hue: ``(-v, v)``),
    a pair is taken as ``(lo, hi)``."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'ColorAug: `{name}` must be >= 0, got {value}')
        lo, hi = center - value, center + value
        if center == 1.0:
            lo = max(0.0, lo)
    else:
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError(f'ColorAug: `{name}` must be a number or (lo, hi), got {value}')
        lo, hi = float(value[0]), float(value[1])
    if bound is not None and not -bound <= lo <= hi <= bound:
        raise ValueError(f'ColorAug: `{name}` range must lie in [-{bound}, {bound}], '
                         f'got ({lo}, {hi})')
    if center == 1.0 and lo < 0:
        raise ValueError(f'ColorAug: `{name}` factors must be >= 0, got ({lo}, {hi})')
    return float(lo), float(hi)


@dataclass(eq=False)
class ColorAugParams:
    """Per-class factors of one image (only the selected classes are listed).

    Args:
        classes (np.ndarray): ``(n,)`` int64 class ids that are changed.
        brightness, contrast, saturation (np.ndarray): ``(n,)`` multiplicative factors.
        hue (np.ndarray): ``(n,)`` hue rotation in turns (``0.5`` = 180 degrees).
    """
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contrast: np.ndarray = field(default_factory=lambda: np.zeros(0))
    saturation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hue: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        n = len(self.classes)
        for name in ('brightness', 'contrast', 'saturation', 'hue'):
            arr = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if len(arr) != n:
                raise ValueError(f'ColorAugParams.{name} must have {n} values, got {len(arr)}')
            setattr(self, name, arr)
        if n and self.classes.min() < 0:
            raise ValueError(f'ColorAugParams.classes must be >= 0, got {self.classes}')

    def tables(self, num: int) -> Tuple[np.ndarray, ...]:
        """Lookup tables of length ``num`` (identity for unlisted classes):
        ``selected, brightness, contrast, saturation, cos(2 pi h), sin(2 pi h)``."""
        sel = np.zeros(num, bool)
        tabs = [np.ones(num), np.ones(num), np.ones(num), np.ones(num), np.zeros(num)]
        sel[self.classes] = True
        tabs[0][self.classes] = self.brightness
        tabs[1][self.classes] = self.contrast
        tabs[2][self.classes] = self.saturation
        tabs[3][self.classes] = np.cos(2 * np.pi * self.hue)
        tabs[4][self.classes] = np.sin(2 * np.pi * self.hue)
        return (sel, *tabs)


@dataclass(frozen=True)
class ColorJitter:
    """What ColorAug draws for each class: the one home of its defaults (the transform, the
    batch form and the semi-supervised step's ``color_aug`` read them; configs override).

    Args:
        prob (float): Probability that a class present is changed. Default: 0.5.
        brightness, contrast, saturation (float | tuple): A number ``v`` gives factors
            ``U(max(0, 1 - v), 1 + v)`` (torchvision's ColorJitter), a pair ``(lo, hi)`` the
            range itself. Default: 0.4 each.
        hue (float | tuple): Hue rotation in turns, ``U(-v, v)`` with ``v <= 0.5``, or
            ``(lo, hi)``. Default: 0.1.

    Raises:
        ValueError: At construction, naming the value: ``prob`` outside [0, 1] or a range
            that :func:`jitter_range` refuses.
    """
    prob: float = 0.5
    brightness: Range = 0.4
    contrast: Range = 0.4
    saturation: Range = 0.4
    hue: Range = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.prob <= 1:
            raise ValueError(f'ColorAug: `prob` must be in [0, 1], got {self.prob}')
        self.ranges()

    def ranges(self) -> List[Tuple[float, float]]:
        """``(lo, hi)`` of the brightness, contrast, saturation and hue draws."""
        return [
            jitter_range(self.brightness, 'brightness'),
            jitter_range(self.contrast, 'contrast'),
            jitter_range(self.saturation, 'saturation'),
            jitter_range(self.hue, 'hue', center=0.0, bound=0.5)
        ]


# ColorJitter's defaults as the dict that configs override (semi_train_cfg.color_aug).
COLOR_AUG_DEFAULTS = asdict(ColorJitter())


def sample_color_aug_params(seg: np.ndarray,
                            jitter: Optional[ColorJitter] = None,
                            ignore_index: int = 255,
                            rng: Any = np.random) -> ColorAugParams:
    """Select classes of ``seg`` with probability ``jitter.prob`` and draw their factors.

    ``jitter`` None: ``ColorJitter()`` (the defaults). ``rng`` is anything with
    ``uniform(low, high, size)`` (default: numpy's global RNG, which MMEngine seeds).
    """
    jitter = jitter or ColorJitter()
    prob, ranges = jitter.prob, jitter.ranges()
    classes = np.unique(seg)
    classes = classes[classes != ignore_index].astype(np.int64)
    n = len(classes)
    selected = rng.uniform(0.0, 1.0, size=n) < prob
    factors = [rng.uniform(lo, hi, size=n) for lo, hi in ranges]
    return ColorAugParams(classes[selected], *[f[selected] for f in factors])


def _check_order(channel_order: str) -> bool:
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"ColorAug: channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return channel_order == 'bgr'


def _jitter_np(rgb: List[np.ndarray], lab: np.ndarray, tabs: Sequence[np.ndarray],
               lo: Optional[float], hi: Optional[float]) -> List[np.ndarray]:
    """``rgb``: three contiguous float32 planes ``(N,)`` of the selected pixels (planar
    layout: every step is a contiguous 1-D operation); ``lab``: their classes."""
    f32 = np.float32
    bri, con, sat, cos, sin = (t.astype(f32).take(lab) for t in tabs)

    def clamp(v: np.ndarray) -> np.ndarray:
        return v if lo is None else np.clip(v, f32(lo), f32(hi), out=v)

    def luma(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _Y[0] * r + _Y[1] * g + _Y[2] * b

    rgb = [clamp(c * bri) for c in rgb]
    y = luma(*rgb)
    sums = np.bincount(lab, weights=y.astype(np.float64))
    counts = np.maximum(np.bincount(lab), 1)
    m = (sums / counts).astype(f32).take(lab)
    rgb = [clamp(m + con * (c - m)) for c in rgb]
    y = luma(*rgb)
    rgb = [clamp(y + sat * (c - y)) for c in rgb]
    r, g, b = rgb
    y = luma(r, g, b)
    i = _I[0] * r + _I[1] * g + _I[2] * b
    q = _Q[0] * r + _Q[1] * g + _Q[2] * b
    i, q = cos * i - sin * q, sin * i + cos * q
    return [clamp(_INV[c][0] * y + _INV[c][1] * i + _INV[c][2] * q) for c in range(3)]


def color_aug(img: np.ndarray,
              seg: np.ndarray,
              params: ColorAugParams,
              channel_order: str = 'bgr',
              value_range: Optional[Tuple[float, float]] = (0.0, 255.0)) -> np.ndarray:
    """Apply per-class factors to an ``H x W x 3`` image (numpy, one sample).

    Args:
        img (np.ndarray): ``H x W x 3`` image, uint8 (rounded and clipped back) or float.
        seg (np.ndarray): ``H x W`` integer label map guiding the change.
        params (ColorAugParams): From :func:`sample_color_aug_params`.
        channel_order (str): ``'bgr'`` (images loaded by OpenCV, mmseg's pipeline) or
            ``'rgb'``. Default: 'bgr'.
        value_range (tuple | None): Clamp bounds after each step; None: no clamping.

    Returns:
        np.ndarray: A new image; pixels outside the selected classes are copies of ``img``.
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'ColorAug: image must be H x W x 3, got {img.shape}')
    if seg.shape != img.shape[:2]:
        raise ValueError(f'ColorAug: guide map must be {img.shape[:2]} like the image, '
                         f'got {seg.shape}')
    bgr = _check_order(channel_order)
    out = img.copy()
    if len(params.classes) == 0:
        return out
    num = int(max(seg.max(), params.classes.max())) + 1
    sel, *tabs = params.tables(num)
    seg_i = seg.astype(np.int64, copy=False)
    if seg_i.min() < 0:
        # negative labels (e.g. ignore_index=-1) are never classes
        pix = np.zeros(seg.shape, bool)
        ok = seg_i >= 0
        pix[ok] = sel[seg_i[ok]]
    else:
        pix = sel[seg_i]
    flat = np.flatnonzero(pix)
    if len(flat) == 0:
        return out
    x = np.ascontiguousarray(img).reshape(-1, 3).take(flat, axis=0)  # N x 3
    order = (2, 1, 0) if bgr else (0, 1, 2)
    rgb = [x[:, c].astype(np.float32) for c in order]
    lo, hi = (None, None) if value_range is None else value_range
    rgb = _jitter_np(rgb, seg_i.reshape(-1).take(flat), tabs, lo, hi)
    # write back plane by plane (a per-channel scatter is far faster than a row scatter)
    flat_out = out.reshape(-1, 3)
    for plane, c in zip(rgb, order):
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            plane = np.clip(np.rint(plane, out=plane), info.min, info.max, out=plane)
        flat_out[:, c][flat] = plane.astype(img.dtype)
    return out


class ColorAugBatchResult(NamedTuple):
    """Output of :func:`color_aug_batch`.

    Attributes:
        img (Tensor): ``B x 3 x H x W`` augmented images (input dtype, same normalisation).
        mask (Tensor): ``B x H x W`` bool, True at changed (selected-class) pixels.
        params (list[ColorAugParams]): Per-sample selected classes and factors.
    """
    img: torch.Tensor
    mask: torch.Tensor
    params: List[ColorAugParams]


def _channel_view(v: Optional[Sequence[float]], t: torch.Tensor, name: str) -> torch.Tensor:
    vt = torch.as_tensor(v, dtype=t.dtype, device=t.device).reshape(-1)
    if vt.numel() not in (1, 3):
        raise ValueError(f'color_aug_batch: `{name}` must have 1 or 3 values, got {v}')
    return vt.reshape(1, -1, 1, 1)


def color_aug_batch(img: torch.Tensor,
                    seg: torch.Tensor,
                    *,
                    generator: Optional[torch.Generator] = None,
                    jitter: Optional[ColorJitter] = None,
                    ignore_index: int = 255,
                    channel_order: str = 'rgb',
                    mean: Optional[Sequence[float]] = None,
                    std: Optional[Sequence[float]] = None,
                    value_range: Optional[Tuple[float, float]] = (0.0, 255.0),
                    params: Optional[Sequence[ColorAugParams]] = None) -> ColorAugBatchResult:
    """ColorAug on a batch, vectorised over samples, classes and pixels.

    Args:
        img (Tensor): ``B x 3 x H x W`` float images, either 0-255 pixel values or normalised
            ``(x - mean) / std`` (then pass ``mean`` and ``std`` as in ``SegDataPreProcessor``,
            in 0-255 units): the change is computed on de-normalised values and normalised
            back. No uint8 rounding.
        seg (Tensor): ``B x H x W`` or ``B x 1 x H x W`` integer labels (e.g. the teacher's
            argmax); ``ignore_index`` pixels are never changed.
        generator (torch.Generator | None): Source of the selection and factor draws (made on
            its device, then moved). None: torch's global CPU RNG.
        jitter (ColorJitter | None): Selection probability and factor ranges; None: the
            defaults.
        channel_order (str): Channel order of ``img``; ``'rgb'`` after a data preprocessor
            with ``bgr_to_rgb=True``. Default: 'rgb'.
        value_range (tuple | None): Clamp bounds in pixel units after each step.
        params (Sequence[ColorAugParams] | None): Explicit per-sample factors (then nothing is
            drawn).
    """
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(f'color_aug_batch: `img` must be B x 3 x H x W, got {tuple(img.shape)}')
    b, _, h, w = img.shape
    if seg.dim() == 4 and seg.shape[1] == 1:
        seg = seg[:, 0]
    if tuple(seg.shape) != (b, h, w):
        raise ValueError(f'color_aug_batch: `seg` must be {b} x {h} x {w}, got {tuple(seg.shape)}')
    jitter = jitter or ColorJitter()
    bgr = _check_order(channel_order)
    device = img.device
    cdt = torch.float64 if img.dtype == torch.float64 else torch.float32
    # float64 accumulation of the class means; MPS has no float64
    adt = torch.float32 if device.type == 'mps' else torch.float64

    valid = seg != ignore_index
    lab = torch.where(valid, seg, torch.zeros_like(seg)).long()
    lab_min, lab_max = (int(v) for v in torch.aminmax(lab))
    if lab_min < 0:
        raise ValueError(f'color_aug_batch: labels must be >= 0 (or ignore_index={ignore_index}),'
                         f' got {lab_min}')
    num = lab_max + 1
    if params is not None:
        if len(params) != b:
            raise ValueError(f'color_aug_batch: need {b} ColorAugParams, got {len(params)}')
        num = max([num] + [int(p.classes.max()) + 1 for p in params if len(p.classes)])
    flat = (torch.arange(b, device=device).view(b, 1, 1) * num + lab)  # B x H x W
    counts = torch.zeros(b * num, dtype=adt, device=device)
    counts.scatter_add_(0, flat.reshape(-1), valid.reshape(-1).to(adt))

    if params is None:
        ranges = jitter.ranges()
        gdev = generator.device if generator is not None else torch.device('cpu')
        u = torch.rand(b, num, 5, generator=generator, device=gdev, dtype=torch.float64)
        u = u.to(device)
        sel = (u[..., 0] < jitter.prob) & (counts.view(b, num) > 0)
        facs = [lo + (hi - lo) * u[..., k + 1] for k, (lo, hi) in enumerate(ranges)]
        hue_t = facs[3]
        tabs = [facs[0], facs[1], facs[2], torch.cos(2 * np.pi * hue_t),
                torch.sin(2 * np.pi * hue_t)]
        sel_cpu = sel.cpu()
        f_cpu = [f.cpu() for f in facs]
        params = []
        for i in range(b):
            idx = torch.nonzero(sel_cpu[i]).view(-1)
            params.append(ColorAugParams(idx.numpy(), *[f[i, idx].numpy() for f in f_cpu]))
    else:
        per = [p.tables(num) for p in params]
        sel = torch.as_tensor(np.stack([t[0] for t in per]), device=device)
        tabs = [
            torch.as_tensor(np.stack([t[k] for t in per]), device=device) for k in range(1, 6)
        ]

    flat_r = flat.reshape(-1)
    pix = (sel.reshape(-1)[flat_r].view(b, h, w) & valid)
    bri, con, sat, cos, sin = (t.reshape(-1).to(cdt)[flat_r].view(b, h, w) for t in tabs)

    x = img.to(cdt)
    if mean is not None or std is not None:
        m_t = _channel_view(0.0 if mean is None else mean, x, 'mean')
        s_t = _channel_view(1.0 if std is None else std, x, 'std')
        x = x * s_t + m_t
    if bgr:
        x = x.flip(1)

    lo, hi = (None, None) if value_range is None else value_range

    def clamp(v: torch.Tensor) -> torch.Tensor:
        return v if lo is None else v.clamp(lo, hi)

    def luma(v: torch.Tensor) -> torch.Tensor:
        return _Y[0] * v[:, 0] + _Y[1] * v[:, 1] + _Y[2] * v[:, 2]

    x = clamp(x * bri[:, None])
    y = luma(x)
    sums = torch.zeros(b * num, dtype=adt, device=device)
    sums.scatter_add_(0, flat_r, (y.to(adt) * valid.to(adt)).reshape(-1))
    m = (sums / counts.clamp(min=1)).to(cdt)[flat_r].view(b, 1, h, w)
    x = clamp(m + con[:, None] * (x - m))
    y = luma(x)[:, None]
    x = clamp(y + sat[:, None] * (x - y))
    y = luma(x)
    i = _I[0] * x[:, 0] + _I[1] * x[:, 1] + _I[2] * x[:, 2]
    q = _Q[0] * x[:, 0] + _Q[1] * x[:, 1] + _Q[2] * x[:, 2]
    i, q = cos * i - sin * q, sin * i + cos * q
    x = torch.stack([_INV[c][0] * y + _INV[c][1] * i + _INV[c][2] * q for c in range(3)], dim=1)
    x = clamp(x)

    if bgr:
        x = x.flip(1)
    if mean is not None or std is not None:
        x = (x - m_t) / s_t
    out = torch.where(pix[:, None], x.to(img.dtype), img)
    return ColorAugBatchResult(img=out, mask=pix, params=params)
