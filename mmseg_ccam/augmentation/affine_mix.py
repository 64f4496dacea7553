"""AffineMix core: depth-ordered pasting of an affinely moved partner sample.

One algorithm, two forms that share the same index arithmetic:

* numpy (pipeline, one sample, ``H x W x C`` images): :func:`sample_affine_params`,
  :func:`warp_image`, :func:`warp_nearest`, :func:`warp_depth`, :func:`affine_mix`;
* torch (batches on any device, ``B x C x H x W`` images): :func:`sample_affine_params_batch`,
  :func:`affine_mix_batch`.

Geometry (docs/method.md, "AffineMix"). The partner ``B`` is flipped horizontally (optional),
zoomed by ``s`` about the image centre and then translated by ``(tx, ty)`` pixels. A zoom
about another centre is the same map with another translation, so a random translation
already gives a random zoom centre. The warp is computed as an inverse map from each output
pixel ``(x, y)`` (pixel centres at integer coordinates) to a source position ``(u, v)`` in
``B``::

    cx, cy = (W - 1) / 2, (H - 1) / 2
    u = (x - tx - cx) / s + cx        v = (y - ty - cy) / s + cy
    u = (W - 1) - u   if flip

Because the map is axis-aligned, ``u`` depends on ``x`` only and ``v`` on ``y`` only, so both
forms compute two 1-D float64 coordinate vectors with the same IEEE operations in the same
order; nearest indices (``floor(u + 0.5)``) and the validity test therefore agree exactly
between numpy and torch. A source position is *inside* ``B`` when its nearest pixel exists
(``-0.5 <= u < W - 0.5`` and the same for ``v``); everything else is invalid and is never
pasted. Images are sampled bilinearly (separable: along x, then along y; border pixels
replicated for the half pixel next to the border), labels, depth and extra maps by nearest
neighbour. Zooming by ``s`` approximates moving the camera ``s`` times closer, so warped depth
is divided by ``s``.

Occlusion test and mixing: with ``Z = 0`` meaning invalid (infinitely far) and a relative
``margin >= 0`` (0: plain depth order)::

    M = (Z_B' > 0) & ((Z_A <= 0) | ((1 + margin) * Z_B' < Z_A))
    img = M ? img_B' : img_A         seg, extras: same mask
    depth = M ? Z_B' : Z_A           margin 0: the nearer valid depth; 0 only where both are invalid

The margin is Hoyer et al.'s DepthMix safeguard: the partner is pasted only where it is
nearer by more than ``margin`` times its own depth, so two nearly equal depths (a flat,
untrained teacher; the same surface seen twice) do not turn into "the partner covers
everything". It is relative, so one value serves near and far pixels alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    'AffineParams', 'AffineMixResult', 'AffineMixBatchResult', 'sample_affine_params',
    'sample_affine_params_batch', 'source_coords', 'nearest_indices', 'warp_image',
    'warp_nearest', 'warp_depth', 'occlusion_mask', 'affine_mix', 'class_mask_batch',
    'affine_mix_batch', 'check_margin', 'check_warp', 'DEFAULT_MARGIN', 'WARP_DEFAULTS'
]

ArrayLike = Union[np.ndarray, torch.Tensor]

# The one home of AffineMix's defaults (the numpy transform, the batch form, the semi-supervised
# step's ``mix`` and the mixing masks read them; configs override). A margin of 0 is plain depth
# order; the semi-supervised configs set 0.3 (configs/_base_/semi/mean_teacher.py says why).
DEFAULT_SCALE_RANGE = (1.0, 1.5)
DEFAULT_MAX_TRANSLATE_RATIO = 0.2
DEFAULT_FLIP_PROB = 0.5
DEFAULT_MARGIN = 0.0
WARP_DEFAULTS = dict(scale_range=DEFAULT_SCALE_RANGE,
                     max_translate_ratio=DEFAULT_MAX_TRANSLATE_RATIO,
                     flip_prob=DEFAULT_FLIP_PROB)


@dataclass(frozen=True)
class AffineParams:
    """Explicit parameters of one partner warp (the same record drives both forms).

    Args:
        scale (float): Zoom ``s`` about the image centre (``s > 1`` enlarges the partner
            and divides its depth by ``s``). Default: 1.0.
        translate (tuple[float, float]): ``(tx, ty)`` shift in output pixels, applied
            after the zoom. Default: (0.0, 0.0).
        flip (bool): Horizontal flip of the partner before the zoom. Default: False.
    """

    scale: float = 1.0
    translate: Tuple[float, float] = (0.0, 0.0)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f'AffineParams.scale must be > 0, got {self.scale}')

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def check_warp(scale_range: Sequence[float], max_translate_ratio: float,
               flip_prob: float) -> Tuple[float, float]:
    """``(s_min, s_max)``, or ValueError for ranges that cannot be drawn from."""
    if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError('AffineMix scale_range must be (s_min, s_max) with '
                         f'0 < s_min <= s_max, got {scale_range}')
    if not 0 <= max_translate_ratio:
        raise ValueError(f'AffineMix max_translate_ratio must be >= 0, got {max_translate_ratio}')
    if not 0 <= flip_prob <= 1:
        raise ValueError(f'AffineMix flip_prob must be in [0, 1], got {flip_prob}')
    return float(scale_range[0]), float(scale_range[1])


def sample_affine_params(height: int,
                         width: int,
                         scale_range: Sequence[float] = DEFAULT_SCALE_RANGE,
                         max_translate_ratio: float = DEFAULT_MAX_TRANSLATE_RATIO,
                         flip_prob: float = DEFAULT_FLIP_PROB,
                         rng: Any = np.random) -> AffineParams:
    """Draw one :class:`AffineParams` with numpy randomness.

    ``s ~ U(scale_range)``, ``tx ~ U(-r W, r W)``, ``ty ~ U(-r H, r H)`` with
    ``r = max_translate_ratio``, ``flip ~ Bernoulli(flip_prob)``.

    Args:
        height (int): Image height ``H``.
        width (int): Image width ``W``.
        scale_range, max_translate_ratio, flip_prob: See above.
        rng: Anything with ``uniform(low, high)``: the ``np.random`` module (default, the global
            RNG seeded by MMEngine), a ``RandomState`` or a ``Generator``.
    """
    lo, hi = check_warp(scale_range, max_translate_ratio, flip_prob)
    scale = float(rng.uniform(lo, hi)) if hi > lo else lo
    tx = float(rng.uniform(-max_translate_ratio * width, max_translate_ratio * width))
    ty = float(rng.uniform(-max_translate_ratio * height, max_translate_ratio * height))
    flip = bool(rng.uniform(0.0, 1.0) < flip_prob)
    return AffineParams(scale=scale, translate=(tx, ty), flip=flip)


def sample_affine_params_batch(batch_size: int,
                               height: int,
                               width: int,
                               scale_range: Sequence[float] = DEFAULT_SCALE_RANGE,
                               max_translate_ratio: float = DEFAULT_MAX_TRANSLATE_RATIO,
                               flip_prob: float = DEFAULT_FLIP_PROB,
                               generator: Optional[torch.Generator] = None) -> List[AffineParams]:
    """Draw ``batch_size`` independent :class:`AffineParams` from a ``torch.Generator``.

    Same distributions as :func:`sample_affine_params`; the draws happen on the generator's
    device (CPU when ``generator`` is None, using torch's global RNG).
    """
    lo, hi = check_warp(scale_range, max_translate_ratio, flip_prob)
    dev = generator.device if generator is not None else torch.device('cpu')
    u = torch.rand(batch_size, 4, generator=generator, device=dev, dtype=torch.float64)
    u = u.cpu().tolist()
    out = []
    for us, ux, uy, uf in u:
        out.append(
            AffineParams(
                scale=lo + (hi - lo) * us,
                translate=((2 * ux - 1) * max_translate_ratio * width,
                           (2 * uy - 1) * max_translate_ratio * height),
                flip=uf < flip_prob))
    return out


# --------------------------------------------------------------------------------------------
# Index arithmetic (shared by both forms)
# --------------------------------------------------------------------------------------------
def _axis_coords_np(n: int, scale: float, shift: float, flip: bool) -> np.ndarray:
    x = np.arange(n, dtype=np.float64)
    c = (n - 1) / 2
    u = (x - shift - c) / scale + c
    if flip:
        u = (n - 1) - u
    return u


def _axis_coords_t(n: int, scale: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor,
                   dtype: torch.dtype) -> torch.Tensor:
    """Batched twin of :func:`_axis_coords_np`: ``scale``/``shift``/``flip`` are ``(B,)``."""
    x = torch.arange(n, dtype=dtype, device=scale.device)[None]
    c = (n - 1) / 2
    u = (x - shift[:, None] - c) / scale[:, None] + c
    return torch.where(flip[:, None], (n - 1) - u, u)


def source_coords(params: AffineParams, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Source coordinates ``(u (W,), v (H,))`` (float64) of every output column and row."""
    tx, ty = params.translate
    u = _axis_coords_np(width, params.scale, tx, params.flip)
    v = _axis_coords_np(height, params.scale, ty, False)
    return u, v


def nearest_indices(coords: ArrayLike, n: int) -> Tuple[ArrayLike, ArrayLike]:
    """Nearest source index (clamped into ``[0, n-1]``, int64) and its validity (bool).

    A coordinate is valid when its nearest pixel ``floor(c + 0.5)`` lies inside ``[0, n-1]``.
    Works on numpy arrays and torch tensors alike.
    """
    if isinstance(coords, torch.Tensor):
        idx = torch.floor(coords + 0.5)
        valid = (idx >= 0) & (idx <= n - 1)
        return idx.clamp(0, n - 1).long(), valid
    idx = np.floor(coords + 0.5)
    valid = (idx >= 0) & (idx <= n - 1)
    return np.clip(idx, 0, n - 1).astype(np.int64), valid


def _linear_indices(coords: ArrayLike, n: int) -> Tuple[ArrayLike, ArrayLike, ArrayLike]:
    """Left/right neighbours (clamped: border replicate) and the right weight."""
    if isinstance(coords, torch.Tensor):
        x0 = torch.floor(coords)
        w = coords - x0
        i0 = x0.clamp(0, n - 1).long()
        i1 = (x0 + 1).clamp(0, n - 1).long()
        return i0, i1, w
    x0 = np.floor(coords)
    w = coords - x0
    i0 = np.clip(x0, 0, n - 1).astype(np.int64)
    i1 = np.clip(x0 + 1, 0, n - 1).astype(np.int64)
    return i0, i1, w


# --------------------------------------------------------------------------------------------
# numpy warps (one sample, H x W [x C])
# --------------------------------------------------------------------------------------------
def _round_to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def warp_image(img: np.ndarray, params: AffineParams, pad_val: float = 0) -> np.ndarray:
    """Bilinear warp of an ``H x W`` or ``H x W x C`` image; outside pixels get ``pad_val``.

    Interpolation runs in float32 (float64 for float64 input); integer images are rounded
    (half to even) and clipped back to their dtype.
    """
    h, w = img.shape[:2]
    u, v = source_coords(params, h, w)
    cdt = np.float64 if img.dtype == np.float64 else np.float32
    i0, i1, wx = _linear_indices(u, w)
    j0, j1, wy = _linear_indices(v, h)
    wx = wx.astype(cdt).reshape((1, w) + (1, ) * (img.ndim - 2))
    wy = wy.astype(cdt).reshape((h, ) + (1, ) * (img.ndim - 1))
    # gather in the source dtype (less memory traffic for uint8), interpolate in float
    x = (img.take(i0, axis=1).astype(cdt) * (1 - wx) + img.take(i1, axis=1).astype(cdt) * wx)
    x = x.take(j0, axis=0) * (1 - wy) + x.take(j1, axis=0) * wy
    out = _round_to_dtype(x, img.dtype)
    _, ok_x = nearest_indices(u, w)
    _, ok_y = nearest_indices(v, h)
    out[~(ok_y[:, None] & ok_x[None, :])] = pad_val
    return out


def warp_nearest(arr: np.ndarray, params: AffineParams, fill: float = 0) -> np.ndarray:
    """Nearest-neighbour warp of an ``H x W [x ...]`` map; outside pixels get ``fill``."""
    h, w = arr.shape[:2]
    u, v = source_coords(params, h, w)
    ix, ok_x = nearest_indices(u, w)
    iy, ok_y = nearest_indices(v, h)
    out = arr.take(iy, axis=0).take(ix, axis=1)
    out[~(ok_y[:, None] & ok_x[None, :])] = fill
    return out


def warp_depth(depth: np.ndarray, params: AffineParams) -> np.ndarray:
    """Nearest warp of an ``H x W`` depth map, divided by the zoom; outside pixels are 0."""
    out = warp_nearest(depth, params, fill=0)
    if params.scale != 1.0:
        out = (out / params.scale).astype(depth.dtype, copy=False)
    return out


def check_margin(margin: float) -> float:
    """``margin`` as a float, or ValueError unless it is a number >= 0."""
    if isinstance(margin, bool) or not margin >= 0:
        raise ValueError(f'AffineMix margin must be >= 0 (a fraction of the partner depth), '
                         f'got {margin}')
    return float(margin)


def occlusion_mask(depth_a: ArrayLike, depth_b: ArrayLike,
                   margin: float = DEFAULT_MARGIN) -> ArrayLike:
    """``M = valid_B & (~valid_A | (1 + margin) * Z_B < Z_A)``; depth ``<= 0`` is invalid
    (infinitely far).

    Pure elementwise function of two depth maps of the same shape (numpy or torch).

    Args:
        depth_a: Depth of the sample that receives the paste.
        depth_b: Depth of the (moved) partner.
        margin (float): Relative margin >= 0: ``B`` must be nearer than ``A`` by more than
            ``margin * Z_B``. Default: 0.0 (plain depth order).
    """
    margin = check_margin(margin)
    valid_a = depth_a > 0
    valid_b = depth_b > 0
    nearer = (depth_b < depth_a) if margin == 0 else (depth_b * (1.0 + margin) < depth_a)
    return valid_b & (~valid_a | nearer)


class AffineMixResult(NamedTuple):
    """Output of :func:`affine_mix` (numpy, one sample).

    Attributes:
        img (np.ndarray): Mixed image, ``H x W [x C]``, dtype of ``img_a``.
        seg (np.ndarray | None): Mixed label map ``H x W``.
        depth (np.ndarray): Mixed depth ``H x W`` (nearer valid depth, 0 where both invalid).
        mask (np.ndarray): ``H x W`` bool, True where the moved partner was pasted.
        extra (list[np.ndarray]): Extra per-pixel maps mixed with the same mask.
    """
    img: np.ndarray
    seg: Optional[np.ndarray]
    depth: np.ndarray
    mask: np.ndarray
    extra: List[np.ndarray]


def _same_shape(name: str, a: np.ndarray, b: np.ndarray, hw: Tuple[int, int]) -> None:
    if a.shape[:2] != hw or b.shape[:2] != hw:
        raise ValueError(f'AffineMix: `{name}` must be {hw[0]}x{hw[1]} in both samples (the '
                         f'size of the depth maps), got {a.shape} and {b.shape}')


def affine_mix(img_a: np.ndarray,
               seg_a: Optional[np.ndarray],
               depth_a: np.ndarray,
               img_b: np.ndarray,
               seg_b: Optional[np.ndarray],
               depth_b: np.ndarray,
               params: Optional[AffineParams],
               seg_pad_val: int = 255,
               extra_a: Sequence[np.ndarray] = (),
               extra_b: Sequence[np.ndarray] = (),
               margin: float = DEFAULT_MARGIN) -> AffineMixResult:
    """Paste the moved partner ``B`` onto ``A`` where it is nearer (numpy, one sample).

    Args:
        img_a, img_b (np.ndarray): ``H x W x C`` (or ``H x W``) images.
        seg_a, seg_b (np.ndarray | None): ``H x W`` label maps (both or neither).
        depth_a, depth_b (np.ndarray): ``H x W`` depth, 0 = invalid.
        params (AffineParams | None): Partner warp. None means no warp (DepthMix: the mask
            comes from the depth comparison of the unmoved partner only).
        seg_pad_val (int): Label of warped partner pixels from outside its image (never
            pasted, because their depth is invalid). Default: 255.
        extra_a, extra_b: Extra ``H x W [x ...]`` maps (confidence, weights), warped by
            nearest neighbour (outside: 0) and mixed with the same mask.
        margin (float): Relative depth margin of the occlusion test (see
            :func:`occlusion_mask`). Default: 0.0.
    """
    hw = depth_a.shape[:2]
    if depth_a.shape != depth_b.shape or depth_a.ndim != 2:
        raise ValueError('AffineMix: depth maps must both be H x W of the same size, got '
                         f'{depth_a.shape} and {depth_b.shape}')
    _same_shape('img', img_a, img_b, hw)
    if (seg_a is None) != (seg_b is None):
        raise ValueError('AffineMix: give a label map for both samples or for neither')
    if seg_a is not None:
        _same_shape('gt_seg_map', seg_a, seg_b, hw)
    if len(extra_a) != len(extra_b):
        raise ValueError('AffineMix: extra_a and extra_b must hold the same number of maps')
    for ea, eb in zip(extra_a, extra_b):
        _same_shape('extra', ea, eb, hw)

    if params is not None:
        img_w = warp_image(img_b, params)
        depth_w = warp_depth(depth_b, params)
        seg_w = None if seg_b is None else warp_nearest(seg_b, params, fill=seg_pad_val)
        extra_w = [warp_nearest(e, params, fill=0) for e in extra_b]
    else:
        img_w, depth_w, seg_w, extra_w = img_b, depth_b, seg_b, list(extra_b)

    mask = occlusion_mask(depth_a, depth_w, margin)

    def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = mask.reshape(mask.shape + (1, ) * (a.ndim - 2))
        return np.where(m, b, a).astype(a.dtype, copy=False)

    return AffineMixResult(
        img=mix(img_a, img_w),
        seg=None if seg_a is None else mix(seg_a, seg_w),
        depth=mix(depth_a, depth_w),
        mask=mask,
        extra=[mix(ea, ew) for ea, ew in zip(extra_a, extra_w)])


# --------------------------------------------------------------------------------------------
# torch batch form
# --------------------------------------------------------------------------------------------
class AffineMixBatchResult(NamedTuple):
    """Output of :func:`affine_mix_batch`.

    Attributes:
        img (Tensor): ``B x C x H x W`` mixed images (input dtype).
        seg (Tensor | None): Mixed labels, same shape as the input ``seg``.
        depth (Tensor): Mixed depth, same shape as the input ``depth``.
        mask (Tensor): ``B x H x W`` bool, True where the partner was pasted.
        extra (list[Tensor]): Extra maps mixed with the same mask (input shapes).
        extra_depth (list[Tensor]): Extra depth maps (warped, divided by ``s``, same mask).
        pairs (Tensor): ``(B,)`` long, the partner index of each sample.
        params (list[AffineParams]): The partner warp of each sample.
        applied (Tensor): ``(B,)`` bool, whether each sample was mixed (``prob``).
    """
    img: torch.Tensor
    seg: Optional[torch.Tensor]
    depth: torch.Tensor
    mask: torch.Tensor
    extra: List[torch.Tensor]
    extra_depth: List[torch.Tensor]
    pairs: torch.Tensor
    params: List[AffineParams]
    applied: torch.Tensor


def _to_bchw(t: torch.Tensor, name: str, b: int, hw: Tuple[int, int]) -> torch.Tensor:
    """View a ``B x H x W`` or ``B x C x H x W`` tensor as ``B x C x H x W``."""
    if t.dim() == 3:
        t = t[:, None]
    if t.dim() != 4 or t.shape[0] != b or tuple(t.shape[-2:]) != hw:
        raise ValueError(f'affine_mix_batch: `{name}` must be B x H x W or B x C x H x W with '
                         f'B={b}, H x W={hw}, got {tuple(t.shape)}')
    return t


def _gather_nearest_t(t: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """``t`` B x C x H x W, ``iy`` B x H, ``ix`` B x W → ``t[b, :, iy[b], ix[b]]``."""
    b, c, h, w = t.shape
    t = t.gather(3, ix[:, None, None, :].expand(b, c, h, w))
    return t.gather(2, iy[:, None, :, None].expand(b, c, h, w))


def _warp_bilinear_t(img: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    b, c, h, w = img.shape
    i0, i1, wx = _linear_indices(u, w)
    j0, j1, wy = _linear_indices(v, h)
    wx = wx.to(img.dtype)[:, None, None, :]
    wy = wy.to(img.dtype)[:, None, :, None]
    x = (img.gather(3, i0[:, None, None, :].expand(b, c, h, w)) * (1 - wx) +
         img.gather(3, i1[:, None, None, :].expand(b, c, h, w)) * wx)
    return (x.gather(2, j0[:, None, :, None].expand(b, c, h, w)) * (1 - wy) +
            x.gather(2, j1[:, None, :, None].expand(b, c, h, w)) * wy)


def _as_list(x: Union[None, torch.Tensor, Sequence[torch.Tensor]]) -> List[torch.Tensor]:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def class_mask_batch(seg: torch.Tensor,
                     ignore_index: int = 255,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """ClassMix mask: per sample, ``ceil(n / 2)`` of its ``n`` classes (``ignore_index``
    excluded), drawn without replacement, as a ``B x 1 x H x W`` bool mask.

    Args:
        seg (Tensor): ``B x 1 x H x W`` integer labels.
        ignore_index (int): Label that is never a class to paste. Default: 255.
        generator (torch.Generator | None): Source of the class draws.
    """
    gdev = generator.device if generator is not None else torch.device('cpu')
    masks = []
    for labels in seg:  # classes differ per sample: one small draw each
        classes = torch.unique(labels)
        classes = classes[classes != ignore_index]
        k = (classes.numel() + 1) // 2
        order = torch.randperm(classes.numel(), generator=generator, device=gdev)
        masks.append(torch.isin(labels, classes[order[:k].to(classes.device)]))
    return torch.stack(masks)


def affine_mix_batch(img: torch.Tensor,
                     seg: Optional[torch.Tensor],
                     depth: torch.Tensor,
                     *,
                     generator: Optional[torch.Generator] = None,
                     pairs: Optional[torch.Tensor] = None,
                     params: Optional[Sequence[AffineParams]] = None,
                     scale_range: Sequence[float] = DEFAULT_SCALE_RANGE,
                     max_translate_ratio: float = DEFAULT_MAX_TRANSLATE_RATIO,
                     flip_prob: float = DEFAULT_FLIP_PROB,
                     warp: bool = True,
                     prob: float = 1.0,
                     margin: Optional[float] = None,
                     mask: Optional[Callable[..., torch.Tensor]] = None,
                     seg_pad_val: int = 255,
                     extra: Union[None, torch.Tensor, Sequence[torch.Tensor]] = None,
                     extra_depth: Union[None, torch.Tensor, Sequence[torch.Tensor]] = None
                     ) -> AffineMixBatchResult:
    """AffineMix on a batch: sample ``i`` receives its moved partner ``pairs[i]``.

    Works on the inputs' device, vectorised over the batch (no Python loop over pixels or
    samples). Images may be float in any value range (normalised or 0-255): bilinear values
    are not rounded or clipped. Labels and depth are gathered, so they are exact copies.

    Args:
        img (Tensor): ``B x C x H x W`` float images.
        seg (Tensor | None): ``B x H x W`` or ``B x 1 x H x W`` labels (e.g. pseudo-labels).
        depth (Tensor): ``B x H x W`` or ``B x 1 x H x W`` depth driving the occlusion test
            (e.g. the teacher's prediction), 0 = invalid.
        generator (torch.Generator | None): Source of all random draws (pairing, parameters,
            ``prob``); draws happen on its device and are moved to the inputs' device.
        pairs (Tensor | None): ``(B,)`` partner indices. Default: the batch rolled by a
            random shift ``k`` in ``[1, B-1]`` (``pairs[i] = (i + k) % B``), so no sample is
            its own partner when ``B > 1``.
        params (Sequence[AffineParams] | None): Explicit per-sample warps; default: drawn by
            :func:`sample_affine_params_batch` from ``scale_range``, ``max_translate_ratio``,
            ``flip_prob``. Ignored (identity) when ``warp=False``.
        warp (bool): False gives DepthMix (no warp; mask from the depth comparison only).
        prob (float): Per-sample probability of mixing at all; unmixed samples are returned
            unchanged with an all-False mask. Default: 1.0.
        margin (float | None): Relative depth margin of the default depth-order mask: the
            partner is pasted where ``(1 + margin) * Z_B' < Z_A`` (see :func:`occlusion_mask`).
            Default (None): :data:`DEFAULT_MARGIN`. Give it to ``mask`` instead when ``mask``
            is set.
        mask (callable | None): The mixing mask, a :class:`~mmseg_ccam.augmentation.mix_masks.
            BaseMixMask` (``DepthOrderMask``, ``ClassMask`` (ClassMix with ``warp=False``),
            ``ShuffledDepthMask``, ...; see ``MIX_MASKS``) called as ``mask(depth_a, depth_b',
            seg_b', generator=, ignore_index=seg_pad_val)`` on ``B x 1 x H x W`` maps.
            Default: the depth order with ``margin``.
        seg_pad_val (int): Label of partner pixels from outside its image (never pasted).
        extra: Tensor(s) ``B x H x W`` / ``B x C x H x W`` (confidence, pixel weights)
            warped by nearest neighbour and mixed with the same mask.
        extra_depth: Depth tensor(s) of the same shapes (e.g. ground-truth depth while
            ``depth`` is the teacher's): warped by nearest neighbour, divided by ``s`` and
            mixed with the same mask (the mask is not recomputed from them).

    Returns:
        AffineMixBatchResult
    """
    if img.dim() != 4:
        raise ValueError(f'affine_mix_batch: `img` must be B x C x H x W, got {tuple(img.shape)}')
    b, _, h, w = img.shape
    hw = (h, w)
    device = img.device
    if mask is None:
        margin = check_margin(DEFAULT_MARGIN if margin is None else margin)

        def mask(depth_a, depth_b, seg_b, *, generator, ignore_index):
            return occlusion_mask(depth_a, depth_b, margin)
    elif margin is not None:
        raise ValueError('affine_mix_batch: `margin` sets the default depth-order mask; with '
                         '`mask` given, set the margin on the mask (e.g. DepthOrderMask(margin)).')
    depth4 = _to_bchw(depth, 'depth', b, hw)
    if depth4.shape[1] != 1:
        raise ValueError('affine_mix_batch: `depth` must have one channel, got '
                         f'{tuple(depth.shape)}')
    seg4 = None if seg is None else _to_bchw(seg, 'seg', b, hw)
    extras = [_to_bchw(e, 'extra', b, hw) for e in _as_list(extra)]
    extra_depths = [_to_bchw(e, 'extra_depth', b, hw) for e in _as_list(extra_depth)]

    gdev = generator.device if generator is not None else torch.device('cpu')
    if pairs is None:
        shift = 0
        if b > 1:
            shift = int(torch.randint(1, b, (1, ), generator=generator, device=gdev))
        pairs = (torch.arange(b, device=device) + shift) % b
    else:
        pairs = torch.as_tensor(pairs, dtype=torch.long, device=device)
        if pairs.shape != (b, ):
            raise ValueError(f'affine_mix_batch: `pairs` must have shape ({b},), '
                             f'got {tuple(pairs.shape)}')
    if not warp:
        params = [AffineParams() for _ in range(b)]  # DepthMix: the partner stays in place
    elif params is None:
        params = sample_affine_params_batch(b, h, w, scale_range, max_translate_ratio,
                                            flip_prob, generator)
    elif len(params) != b:
        raise ValueError(f'affine_mix_batch: need {b} AffineParams, got {len(params)}')
    if prob >= 1:
        applied = torch.ones(b, dtype=torch.bool, device=device)
    else:
        applied = (torch.rand(b, generator=generator, device=gdev) < prob).to(device)

    img_b, depth_b = img[pairs], depth4[pairs]
    seg_b = None if seg4 is None else seg4[pairs]
    extras_b = [e[pairs] for e in extras]
    extra_depths_b = [e[pairs] for e in extra_depths]

    scales = None
    if warp:
        # float64 coordinates reproduce the numpy form bit for bit (MPS has no float64)
        cdt = torch.float32 if device.type == 'mps' else torch.float64
        scales = torch.tensor([p.scale for p in params], dtype=cdt, device=device)
        tx = torch.tensor([p.translate[0] for p in params], dtype=cdt, device=device)
        ty = torch.tensor([p.translate[1] for p in params], dtype=cdt, device=device)
        flips = torch.tensor([p.flip for p in params], dtype=torch.bool, device=device)
        u = _axis_coords_t(w, scales, tx, flips, cdt)
        v = _axis_coords_t(h, scales, ty, torch.zeros_like(flips), cdt)
        ix, ok_x = nearest_indices(u, w)
        iy, ok_y = nearest_indices(v, h)
        inside = (ok_y[:, :, None] & ok_x[:, None, :])[:, None]  # B x 1 x H x W
        scale4 = scales.view(b, 1, 1, 1)

        img_b = _warp_bilinear_t(img_b, u, v)
        depth_b = torch.where(inside, _gather_nearest_t(depth_b, iy, ix) / scale4.to(
            depth_b.dtype), torch.zeros((), dtype=depth_b.dtype, device=device))
        if seg_b is not None:
            seg_b = torch.where(inside, _gather_nearest_t(seg_b, iy, ix),
                                torch.full((), seg_pad_val, dtype=seg_b.dtype, device=device))
        extras_b = [
            torch.where(inside, _gather_nearest_t(e, iy, ix), torch.zeros((), dtype=e.dtype,
                                                                          device=device))
            for e in extras_b
        ]
        extra_depths_b = [
            torch.where(inside, _gather_nearest_t(e, iy, ix) / scale4.to(e.dtype),
                        torch.zeros((), dtype=e.dtype, device=device)) for e in extra_depths_b
        ]

    mask4 = mask(depth4, depth_b, seg_b, generator=generator, ignore_index=seg_pad_val)
    mask4 = mask4 & applied.view(b, 1, 1, 1)

    def mix(a: torch.Tensor, bb: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.where(mask4, bb, a).reshape(like.shape)

    return AffineMixBatchResult(
        img=torch.where(mask4, img_b, img),
        seg=None if seg4 is None else mix(seg4, seg_b, seg),
        depth=mix(depth4, depth_b, depth),
        mask=mask4[:, 0],
        extra=[mix(e, eb, orig) for e, eb, orig in zip(extras, extras_b, _as_list(extra))],
        extra_depth=[
            mix(e, eb, orig) for e, eb, orig in zip(extra_depths, extra_depths_b,
                                                     _as_list(extra_depth))
        ],
        pairs=pairs,
        params=list(params),
        applied=applied)
