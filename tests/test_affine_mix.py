"""Tests of AffineMix: numpy core, torch batch form, pipeline transform, MultiImageMixDataset."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmseg_ccam  # noqa: F401  (registers the transforms)
from mmseg_ccam.augmentation import (
    AffineParams,
    affine_mix,
    affine_mix_batch,
    occlusion_mask,
    sample_affine_params,
    sample_affine_params_batch,
    warp_depth,
    warp_image,
    warp_nearest,
)
from mmseg_ccam.augmentation.mix_masks import MIX_MASKS, build_mix_mask
from mmseg_ccam.augmentation.mix_masks.class_mask import ClassMask
from mmseg_ccam.augmentation.mix_masks.depth_order import DepthOrderMask
from mmseg_ccam.augmentation.mix_masks.shuffled_depth import ShuffledDepthMask
from mmseg_ccam.datasets.transforms.affine_mix import AffineMix

H, W = 12, 16


def make_sample(rng, h=H, w=W, p_invalid=0.25, img_dtype=np.uint8):
    img = rng.integers(0, 256, (h, w, 3)).astype(img_dtype)
    seg = rng.integers(0, 19, (h, w)).astype(np.uint8)
    seg[rng.random((h, w)) < 0.1] = 255
    depth = rng.uniform(1.0, 80.0, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < p_invalid] = 0
    return img, seg, depth


def expected_identity_mix(a, b):
    """Independent per-pixel reference of the identity-warp rule (plain Python loops)."""
    (ia, sa, da), (ib, sb, db) = a, b
    img, seg, depth = ia.copy(), sa.copy(), da.copy()
    mask = np.zeros(da.shape, bool)
    for y in range(da.shape[0]):
        for x in range(da.shape[1]):
            za, zb = float(da[y, x]), float(db[y, x])
            if zb > 0 and (za == 0 or zb < za):
                mask[y, x] = True
                img[y, x], seg[y, x], depth[y, x] = ib[y, x], sb[y, x], zb
            # nearer valid depth; 0 only where both are invalid
            valid = [z for z in (za, zb) if z > 0]
            assert depth[y, x] == (min(valid) if valid else 0)
    return img, seg, depth, mask


def mix_results(a, b, **extra):
    res = dict(img=a[0], gt_seg_map=a[1], gt_depth_map=a[2], seg_fields=['gt_seg_map',
                                                                          'gt_depth_map'])
    partner = dict(img=b[0], gt_seg_map=b[1], gt_depth_map=b[2])
    res.update({k: v[0] for k, v in extra.items()})
    partner.update({k: v[1] for k, v in extra.items()})
    res['mix_results'] = [partner]
    return res


# ------------------------------------------------------------------ identity warp
def test_transform_identity_warp_matches_reference():
    rng = np.random.default_rng(0)
    a, b = make_sample(rng), make_sample(rng)
    t = AffineMix(prob=1.0, scale_range=(1.0, 1.0), max_translate_ratio=0.0, flip_prob=0.0)
    out = t(mix_results(a, b))
    img, seg, depth, mask = expected_identity_mix(a, b)
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(out['img'], img)
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    np.testing.assert_array_equal(out['gt_depth_map'], depth)
    np.testing.assert_array_equal(out['mix_mask'], mask.astype(np.uint8))
    assert out['mix_mask'].dtype == np.uint8 and 'mix_mask' in out['seg_fields']
    assert out['affine_mix_params'] == dict(scale=1.0, translate=(0.0, 0.0), flip=False)


def test_hand_computed_2x2():
    img_a = np.full((2, 2, 3), 10, np.uint8)
    img_b = np.full((2, 2, 3), 200, np.uint8)
    seg_a = np.array([[1, 1], [1, 1]], np.uint8)
    seg_b = np.array([[7, 7], [7, 7]], np.uint8)
    d_a = np.array([[5.0, 0.0], [5.0, 3.0]], np.float32)
    d_b = np.array([[4.0, 9.0], [0.0, 3.0]], np.float32)
    out = affine_mix(img_a, seg_a, d_a, img_b, seg_b, d_b, AffineParams())
    # (0,0) B nearer; (0,1) A invalid -> B; (1,0) B invalid -> A; (1,1) tie -> A
    np.testing.assert_array_equal(out.mask, [[True, True], [False, False]])
    np.testing.assert_array_equal(out.depth, [[4.0, 9.0], [5.0, 3.0]])
    np.testing.assert_array_equal(out.seg, [[7, 7], [1, 1]])
    np.testing.assert_array_equal(out.img[..., 0], [[200, 200], [10, 10]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p_a=st.floats(0, 1), p_b=st.floats(0, 1),
       warp=st.booleans())
def test_property_identity_rules(seed, p_a, p_b, warp):
    rng = np.random.default_rng(seed)
    a, b = make_sample(rng, 6, 7, p_a), make_sample(rng, 6, 7, p_b)
    # warp=False (DepthMix) and the identity warp must give the same result
    t = AffineMix(scale_range=(1.0, 1.0), max_translate_ratio=0.0, flip_prob=0.0, warp=warp)
    out = t(mix_results(a, b))
    img, seg, depth, mask = expected_identity_mix(a, b)
    np.testing.assert_array_equal(out['img'], img)
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    np.testing.assert_array_equal(out['gt_depth_map'], depth)
    np.testing.assert_array_equal(out['mix_mask'].astype(bool), mask)


@settings(max_examples=40, deadline=None)
@given(za=st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, 80.0]), min_size=6, max_size=6),
       zb=st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, 80.0]), min_size=6, max_size=6))
def test_property_occlusion_mask_numpy_and_torch(za, zb):
    za, zb = np.array(za, np.float32), np.array(zb, np.float32)
    expected = [(b > 0) and (a == 0 or b < a) for a, b in zip(za, zb)]
    np.testing.assert_array_equal(occlusion_mask(za, zb), expected)
    np.testing.assert_array_equal(
        occlusion_mask(torch.from_numpy(za), torch.from_numpy(zb)).numpy(), expected)


@settings(max_examples=40, deadline=None)
@given(za=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0, 80.0]), min_size=8, max_size=8),
       zb=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0, 80.0]), min_size=8, max_size=8),
       margin=st.sampled_from([0.0, 0.25, 0.3, 1.5]))
def test_property_margin_rule_numpy_and_torch(za, zb, margin):
    """Pasted where B is valid and A invalid, or B is nearer by more than margin * Z_B."""
    za, zb = np.array(za, np.float64), np.array(zb, np.float64)
    expected = [(b > 0) and (a == 0 or b * (1 + margin) < a) for a, b in zip(za, zb)]
    np.testing.assert_array_equal(occlusion_mask(za, zb, margin), expected)
    np.testing.assert_array_equal(
        occlusion_mask(torch.from_numpy(za), torch.from_numpy(zb), margin).numpy(), expected)


def test_margin_changes_the_mask_as_specified():
    """2 m vs 2.5 m: nearer by 25 % of 2 m = 0.5 m. margin 0.2 pastes (2.4 < 2.5), 0.25 does
    not (a tie), 0.3 does not; invalid sample depth is pasted over whatever the margin. The
    three forms (numpy core, batch form, pipeline transform) agree."""
    d_a = np.array([[2.5, 2.5], [0.0, 10.0]], np.float32)
    d_b = np.array([[2.0, 0.0], [3.0, 9.0]], np.float32)
    img_a = np.zeros((2, 2, 3), np.uint8)
    img_b = np.full((2, 2, 3), 255, np.uint8)
    seg_a, seg_b = np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)
    cases = {0.0: [[1, 0], [1, 1]], 0.2: [[1, 0], [1, 0]], 0.25: [[0, 0], [1, 0]],
             0.3: [[0, 0], [1, 0]]}
    for margin, expected in cases.items():
        expected = np.array(expected, bool)
        out = affine_mix(img_a, seg_a, d_a, img_b, seg_b, d_b, AffineParams(), margin=margin)
        np.testing.assert_array_equal(out.mask, expected, err_msg=str(margin))
        np.testing.assert_array_equal(out.seg, expected.astype(np.uint8))
        batch = affine_mix_batch(
            torch.from_numpy(img_a).permute(2, 0, 1)[None].float(),
            torch.from_numpy(seg_a)[None].long(), torch.from_numpy(d_a)[None],
            pairs=torch.tensor([0]), warp=False, margin=margin,
            extra_depth=torch.from_numpy(d_b)[None])
        # pairs=[0]: the sample is its own partner -> never strictly nearer than itself
        assert not batch.mask.any()
        two = affine_mix_batch(
            torch.stack([torch.from_numpy(img_a), torch.from_numpy(img_b)]).permute(0, 3, 1, 2)
            .float(), torch.from_numpy(np.stack([seg_a, seg_b])).long(),
            torch.from_numpy(np.stack([d_a, d_b])), pairs=torch.tensor([1, 0]), warp=False,
            margin=margin)
        np.testing.assert_array_equal(two.mask[0].numpy(), expected)
        t = AffineMix(prob=1.0, scale_range=(1.0, 1.0), max_translate_ratio=0.0, flip_prob=0.0,
                      margin=margin)
        res = t(mix_results((img_a, seg_a, d_a), (img_b, seg_b, d_b)))
        np.testing.assert_array_equal(res['mix_mask'].astype(bool), expected)
    with pytest.raises(ValueError, match='margin'):
        AffineMix(margin=-0.1)
    with pytest.raises(ValueError, match='margin'):
        affine_mix_batch(torch.zeros(1, 3, 2, 2), None, torch.ones(1, 2, 2), margin=-1)


def test_margin_stops_a_flat_teacher_depth_from_pasting_everything():
    """The zoom s divides the partner's depth: with a flat depth the partner is 'nearer'
    wherever it lands (s > 1); a margin above s - 1 stops that."""
    img = torch.zeros(4, 3, 16, 32)
    flat = torch.full((4, 1, 16, 32), 10.0)
    params = [AffineParams(scale=1.2)] * 4
    plain = affine_mix_batch(img, None, flat, params=params, pairs=torch.tensor([1, 2, 3, 0]))
    assert plain.mask.float().mean() > 0.6  # all of the (inside) zoomed partner
    for margin, pasted in ((0.1, True), (0.3, False)):
        out = affine_mix_batch(img, None, flat, params=params, pairs=torch.tensor([1, 2, 3, 0]),
                               margin=margin)
        assert bool(out.mask.any()) == pasted
        if pasted:
            assert torch.equal(out.mask, plain.mask)


# ------------------------------------------------------------------ geometry
def test_flip_and_integer_translation_are_exact():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    np.testing.assert_array_equal(warp_image(img, AffineParams(flip=True)), img[:, ::-1])
    out = warp_image(img, AffineParams(translate=(5.0, -3.0)))
    np.testing.assert_array_equal(out[:H - 3, 5:], img[3:, :W - 5])
    assert (out[:, :5] == 0).all() and (out[H - 3:] == 0).all()
    seg = rng.integers(0, 19, (H, W)).astype(np.uint8)
    seg_w = warp_nearest(seg, AffineParams(translate=(5.0, -3.0)), fill=255)
    np.testing.assert_array_equal(seg_w[:H - 3, 5:], seg[3:, :W - 5])
    assert (seg_w[:, :5] == 255).all()


def test_translation_outside_keeps_sample():
    rng = np.random.default_rng(2)
    a = make_sample(rng, p_invalid=0.0)
    a = (a[0], a[1], np.zeros((H, W), np.float32))  # sample infinitely far: partner covers all
    b = make_sample(rng, p_invalid=0.0)
    out = affine_mix(*a, *b, AffineParams(translate=(5.0, 3.0)))
    # output column x < 5 / row y < 3 maps outside the partner: sample kept, not pasted
    assert not out.mask[:, :5].any() and not out.mask[:3].any()
    np.testing.assert_array_equal(out.img[:, :5], a[0][:, :5])
    np.testing.assert_array_equal(out.seg[:3], a[1][:3])
    np.testing.assert_array_equal(out.depth[:, :5], 0)
    assert out.mask[3:, 5:].all()
    np.testing.assert_array_equal(out.img[3:, 5:], b[0][:H - 3, :W - 5])
    np.testing.assert_array_equal(out.depth[3:, 5:], b[2][:H - 3, :W - 5])


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.6, 2.5), tx=st.floats(-8, 8), ty=st.floats(-6, 6), flip=st.booleans())
def test_property_zoom_divides_depth_and_never_pastes_outside(s, tx, ty, flip):
    # partner depth encodes its own pixel: depth = 1 + row * W + col
    yy, xx = np.mgrid[0:H, 0:W]
    code = (1 + yy * W + xx).astype(np.float64)
    depth_b = code.astype(np.float32)
    img_b = np.stack([xx, yy, np.zeros_like(xx)], -1).astype(np.float32)
    seg_b = np.full((H, W), 3, np.uint8)
    img_a = np.full((H, W, 3), -1.0, np.float32)
    seg_a = np.full((H, W), 9, np.uint8)
    depth_a = np.zeros((H, W), np.float32)  # invalid: partner covers wherever it is valid
    p = AffineParams(scale=s, translate=(tx, ty), flip=flip)
    out = affine_mix(img_a, seg_a, depth_a, img_b, seg_b, depth_b, p)

    # independent geometry: forward map of source pixel centres, inverted analytically
    cx, cy = (W - 1) / 2, (H - 1) / 2
    u = (np.arange(W) - tx - cx) / s + cx
    v = (np.arange(H) - ty - cy) / s + cy
    if flip:
        u = (W - 1) - u
    inside = (v[:, None] >= -0.5) & (v[:, None] < H - 0.5) & (u >= -0.5) & (u < W - 0.5)
    # the exact half-pixel boundary is a rounding tie: skip pixels within 1e-9 of it
    tie = (np.abs(np.abs(u - (W - 1) / 2) - W / 2) < 1e-9)[None] | (
        np.abs(np.abs(v - (H - 1) / 2) - H / 2) < 1e-9)[:, None]
    ok = ~tie
    np.testing.assert_array_equal(out.mask[ok], inside[ok])
    # outside pixels keep the sample
    assert (out.img[~out.mask] == -1).all() and (out.seg[~out.mask] == 9).all()
    assert (out.depth[~out.mask] == 0).all()
    # pasted depth = partner depth at the nearest source pixel, divided by s
    src = np.rint(out.depth[out.mask].astype(np.float64) * s)
    np.testing.assert_allclose(out.depth[out.mask] * s, src, rtol=1e-5)
    row, col = (src - 1) // W, (src - 1) % W
    vv = np.broadcast_to(v[:, None], (H, W))[out.mask]
    uu = np.broadcast_to(u[None], (H, W))[out.mask]
    assert (np.abs(row - vv) <= 0.5 + 1e-9).all() and (np.abs(col - uu) <= 0.5 + 1e-9).all()
    np.testing.assert_array_equal(out.depth, np.where(out.mask, warp_depth(depth_b, p), 0))
    # bilinear image: the coordinate image is reproduced exactly inside (clamped at borders)
    np.testing.assert_allclose(out.img[..., 0][out.mask],
                               np.clip(np.broadcast_to(uu, uu.shape), 0, W - 1), atol=1e-4)
    np.testing.assert_allclose(out.img[..., 1][out.mask], np.clip(vv, 0, H - 1), atol=1e-4)
    assert (out.seg[out.mask] == 3).all()


def test_transform_zoom_pastes_depth_divided_by_s():
    rng = np.random.default_rng(3)
    a = make_sample(rng, p_invalid=0.0)
    a = (a[0], a[1], np.full((H, W), 1000.0, np.float32))
    b = make_sample(rng, p_invalid=0.0)
    np.random.seed(0)
    t = AffineMix(scale_range=(2.0, 2.0), max_translate_ratio=0.0, flip_prob=0.0)
    out = t(mix_results(a, b))
    # zoom 2 about the centre (cx, cy) = (7.5, 5.5): u = (x - 7.5) / 2 + 7.5, v likewise;
    # hand-computed nearest source pixels of three output pixels
    assert out['mix_mask'].all()
    d = out['gt_depth_map']
    assert d[0, 0] == b[2][3, 4] / np.float32(2)  # u = 3.75 -> 4, v = 2.75 -> 3
    assert d[6, 8] == b[2][6, 8] / np.float32(2)  # u = 7.75 -> 8, v = 5.75 -> 6
    assert d[11, 15] == b[2][8, 11] / np.float32(2)  # u = 11.25 -> 11, v = 8.25 -> 8
    src = warp_nearest(b[2], AffineParams(scale=2.0))
    np.testing.assert_array_equal(out['gt_depth_map'], (src / np.float32(2)).astype(np.float32))


# ------------------------------------------------------------------ numpy vs torch
def _to_batch(samples):
    img = torch.stack([torch.from_numpy(s[0]).permute(2, 0, 1) for s in samples])
    seg = torch.stack([torch.from_numpy(s[1]) for s in samples]).long()
    depth = torch.stack([torch.from_numpy(s[2]) for s in samples])
    return img, seg, depth


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), s=st.floats(0.7, 2.0), tx=st.floats(-10, 10),
       ty=st.floats(-10, 10), flip=st.booleans(), warp=st.booleans())
def test_property_numpy_and_torch_agree(seed, s, tx, ty, flip, warp):
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, img_dtype=np.float32) for _ in range(3)]
    conf = [rng.random((H, W)).astype(np.float32) for _ in range(3)]
    gt_depth = [rng.uniform(0, 50, (H, W)).astype(np.float32) for _ in range(3)]
    params = [AffineParams(scale=s, translate=(tx, ty), flip=flip),
              AffineParams(scale=1 / s, translate=(-ty, tx), flip=not flip),
              AffineParams()]
    pairs = torch.tensor([2, 0, 1])
    img, seg, depth = _to_batch(samples)
    out = affine_mix_batch(img, seg[:, None], depth, pairs=pairs, params=params, warp=warp,
                           extra=torch.from_numpy(np.stack(conf)),
                           extra_depth=torch.from_numpy(np.stack(gt_depth))[:, None])
    assert out.seg.shape == (3, 1, H, W) and out.extra_depth[0].shape == (3, 1, H, W)
    for i, j in enumerate(pairs.tolist()):
        p = params[i] if warp else None
        ref = affine_mix(*samples[i], *samples[j], p, extra_a=[conf[i]], extra_b=[conf[j]])
        np.testing.assert_array_equal(out.mask[i].numpy(), ref.mask)
        np.testing.assert_array_equal(out.seg[i, 0].numpy(), ref.seg)
        np.testing.assert_array_equal(out.depth[i].numpy(), ref.depth)
        np.testing.assert_array_equal(out.extra[0][i].numpy(), ref.extra[0])
        np.testing.assert_allclose(out.img[i].permute(1, 2, 0).numpy(), ref.img, atol=1e-4)
        # extra depth: warped with the same map, divided by s, mixed with the same mask
        gt_w = warp_depth(gt_depth[j], p) if warp else gt_depth[j]
        np.testing.assert_array_equal(out.extra_depth[0][i, 0].numpy(),
                                      np.where(ref.mask, gt_w, gt_depth[i]))


def test_uint8_pipeline_image_is_rounded_torch_value():
    rng = np.random.default_rng(4)
    a, b = make_sample(rng), make_sample(rng)
    p = AffineParams(scale=1.37, translate=(2.3, -1.7), flip=True)
    ref = affine_mix(*a, *b, p)
    bf = (b[0].astype(np.float32), b[1], b[2])
    af = (a[0].astype(np.float32), a[1], a[2])
    img, seg, depth = _to_batch([af, bf])
    out = affine_mix_batch(img, seg, depth, pairs=torch.tensor([1, 0]), params=[p, p])
    np.testing.assert_array_equal(ref.img, np.rint(out.img[0].permute(1, 2, 0).numpy()))


# ------------------------------------------------------------------ batch form
def test_batch_random_pairs_params_and_determinism():
    rng = np.random.default_rng(5)
    img, seg, depth = _to_batch([make_sample(rng, img_dtype=np.float32) for _ in range(4)])
    kw = dict(scale_range=(1.0, 1.5), max_translate_ratio=0.2, flip_prob=0.5)
    o1 = affine_mix_batch(img, seg, depth, generator=torch.Generator().manual_seed(7), **kw)
    o2 = affine_mix_batch(img, seg, depth, generator=torch.Generator().manual_seed(7), **kw)
    assert torch.equal(o1.img, o2.img) and o1.params == o2.params
    assert (o1.pairs != torch.arange(4)).all()  # a roll: nobody is its own partner
    assert sorted(o1.pairs.tolist()) == [0, 1, 2, 3]
    for p in o1.params:
        assert 1.0 <= p.scale <= 1.5 and abs(p.translate[0]) <= 0.2 * W
        assert abs(p.translate[1]) <= 0.2 * H
    # the sampled params reproduce the result through the explicit-params path
    o3 = affine_mix_batch(img, seg, depth, pairs=o1.pairs, params=o1.params)
    assert torch.equal(o1.img, o3.img) and torch.equal(o1.mask, o3.mask)
    ps = sample_affine_params_batch(200, H, W, (1.0, 2.0), 0.1, 0.25,
                                    torch.Generator().manual_seed(0))
    assert 0.1 < np.mean([p.flip for p in ps]) < 0.4


def test_batch_prob_zero_is_identity():
    rng = np.random.default_rng(6)
    img, seg, depth = _to_batch([make_sample(rng, img_dtype=np.float32) for _ in range(3)])
    out = affine_mix_batch(img, seg, depth, prob=0.0, generator=torch.Generator().manual_seed(0))
    assert not out.mask.any() and not out.applied.any()
    assert torch.equal(out.img, img) and torch.equal(out.seg, seg)
    assert torch.equal(out.depth, depth)


def test_numpy_sampler_uses_global_rng_and_ranges():
    np.random.seed(3)
    p1 = sample_affine_params(100, 200, (1.0, 1.5), 0.1, 0.5)
    np.random.seed(3)
    p2 = sample_affine_params(100, 200, (1.0, 1.5), 0.1, 0.5)
    assert p1 == p2 and 1.0 <= p1.scale <= 1.5
    assert abs(p1.translate[0]) <= 20 and abs(p1.translate[1]) <= 10
    with pytest.raises(ValueError, match='scale_range'):
        sample_affine_params(4, 4, (2.0, 1.0))


# ------------------------------------------------------------------ errors
def test_errors_name_the_key():
    rng = np.random.default_rng(7)
    a, b = make_sample(rng), make_sample(rng)
    t = AffineMix()
    res = mix_results(a, b)
    del res['mix_results'][0]['gt_depth_map']
    with pytest.raises(KeyError, match='LoadCityscapesDepth'):
        t(res)
    res = mix_results(a, b)
    del res['gt_depth_map']
    with pytest.raises(KeyError, match="sample has no 'gt_depth_map'"):
        t(res)
    small = make_sample(rng, 8, 16)
    with pytest.raises(ValueError, match=r"'img' of the partner sample is 8x16.*12x16"):
        t(mix_results(a, small))
    res = mix_results(a, b)
    del res['mix_results']
    with pytest.raises(KeyError, match='MultiImageMixDataset'):
        t(res)


def test_extra_keys_are_mixed_with_the_same_mask():
    rng = np.random.default_rng(8)
    a, b = make_sample(rng), make_sample(rng)
    conf = (np.zeros((H, W), np.float32), np.ones((H, W), np.float32))
    t = AffineMix(scale_range=(1.3, 1.3), max_translate_ratio=0.1, extra_keys=('conf', ))
    out = t(mix_results(a, b, conf=conf))
    np.testing.assert_array_equal(out['conf'], out['mix_mask'].astype(np.float32))


# ------------------------------------------------------------------ MultiImageMixDataset
def test_under_multi_image_mix_dataset():
    from mmseg.datasets import MultiImageMixDataset
    from mmseg.registry import DATASETS

    @DATASETS.register_module(name='_AffineMixToyDataset', force=True)
    class ToyDataset:
        """In-memory samples: sample i has depth 10 + i everywhere and colour 20 * i."""
        metainfo = dict(classes=tuple(str(i) for i in range(19)))

        def full_init(self):
            pass

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return dict(img=np.full((H, W, 3), 20 * i, np.uint8),
                        gt_seg_map=np.full((H, W), i, np.uint8),
                        gt_depth_map=np.full((H, W), 10.0 + i, np.float32),
                        seg_fields=['gt_seg_map', 'gt_depth_map'], img_shape=(H, W),
                        ori_shape=(H, W), img_path=f'{i}.png', seg_map_path=f'{i}.png',
                        reduce_zero_label=False)

    ds = MultiImageMixDataset(
        dataset=dict(type='_AffineMixToyDataset'),
        pipeline=[dict(type='AffineMix', warp=False),
                  dict(type='PackSegInputs')])
    seen = set()
    for seed in range(12):
        np.random.seed(seed)
        j = np.random.randint(0, 5)  # what get_indices draws first
        np.random.seed(seed)
        out = ds[2]
        sample = out['data_samples']
        nearer = j < 2  # smaller index = nearer constant depth
        exp = j if nearer else 2
        assert (out['inputs'] == 20 * exp).all()
        assert (sample.gt_sem_seg.data == exp).all()
        assert (sample.gt_depth_map.data == 10.0 + exp).all()
        seen.add(nearer)
    assert seen == {True, False}


# ------------------------------------------------------------- controls: ClassMix, shuffled depth
def _control_batch(b=3, h=8, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(b, 3, h, w, generator=g)
    seg = torch.randint(0, 4, (b, h, w), generator=g)
    seg[:, 0, 0] = 255  # an ignored pixel is never a class to paste
    depth = torch.rand(b, h, w, generator=g) * 50 + 1
    return img, seg, depth


def test_classmix_pastes_half_of_the_partner_classes_whole_and_unmoved():
    img, seg, depth = _control_batch()
    pairs = torch.tensor([1, 2, 0])
    out = affine_mix_batch(img, seg, depth, pairs=pairs, warp=False, mask=ClassMask(),
                           generator=torch.Generator().manual_seed(3))
    for i in range(3):
        partner = seg[pairs[i]]
        present = sorted(set(partner.unique().tolist()) - {255})
        pasted = sorted(set(partner[out.mask[i]].tolist()))
        assert len(pasted) == (len(present) + 1) // 2 and set(pasted) <= set(present)
        # whole classes, at their own place: the mask is exactly "partner label in pasted"
        expected = torch.isin(partner, torch.tensor(pasted))
        assert torch.equal(out.mask[i], expected)
        torch.testing.assert_close(out.img[i], torch.where(expected, img[pairs[i]], img[i]))
        assert torch.equal(out.seg[i], torch.where(expected, partner, seg[i]))
        torch.testing.assert_close(out.depth[i], torch.where(expected, depth[pairs[i]],
                                                             depth[i]))


def test_shuffled_depth_gives_each_sample_another_samples_true_mask():
    img, seg, depth = _control_batch(b=3)
    pairs = torch.tensor([1, 2, 0])
    params = [AffineParams(scale=1.2, translate=(1.0, -1.0), flip=bool(i % 2)) for i in range(3)]
    true = affine_mix_batch(img, seg, depth, pairs=pairs, params=params)
    # a constant depth: the zoomed partner is nearer wherever it has pixels, so this run pastes
    # the whole moved partner and shows it
    full = affine_mix_batch(img, seg, torch.full_like(depth, 10.0), pairs=pairs, params=params,
                            extra_depth=depth)
    shuffled = affine_mix_batch(img, seg, depth, pairs=pairs, params=params,
                                mask=ShuffledDepthMask(),
                                generator=torch.Generator().manual_seed(1))
    matches = [k for k in (1, 2)
               if torch.equal(shuffled.mask, true.mask[(torch.arange(3) + k) % 3] & full.mask)]
    assert len(matches) == 1  # a cyclic shift without fixed point
    assert not torch.equal(shuffled.mask, true.mask)
    assert torch.equal(shuffled.seg, torch.where(shuffled.mask, full.seg, seg))
    assert torch.equal(shuffled.depth, torch.where(shuffled.mask, full.extra_depth[0], depth))
    torch.testing.assert_close(shuffled.img, torch.where(shuffled.mask[:, None], full.img, img))


def test_mix_masks_are_registered_and_checked():
    img, seg, depth = _control_batch(b=2)
    assert {'DepthOrderMask', 'ClassMask', 'ShuffledDepthMask'} <= set(MIX_MASKS.module_dict)
    assert isinstance(build_mix_mask(dict(type='DepthOrderMask', margin=0.3)), DepthOrderMask)
    with pytest.raises(KeyError, match="'CutMix' is not a registered mixing mask"):
        build_mix_mask(dict(type='CutMix'))
    with pytest.raises(TypeError, match=r"ClassMask does not take \['margin'\]"):
        build_mix_mask(dict(type='ClassMask', margin=0.3))
    for cls in (DepthOrderMask, ShuffledDepthMask):
        with pytest.raises(ValueError, match='margin must be >= 0'):
            cls(margin=-0.1)
    with pytest.raises(ValueError, match="ClassMask pastes classes"):
        affine_mix_batch(img, None, depth, mask=ClassMask())
    with pytest.raises(ValueError, match="at least 2"):
        affine_mix_batch(img[:1], seg[:1], depth[:1], mask=ShuffledDepthMask())
    with pytest.raises(ValueError, match='set the margin on the mask'):
        affine_mix_batch(img, seg, depth, margin=0.3, mask=DepthOrderMask())
    # the default mask is the depth order with `margin`
    pairs = torch.tensor([1, 0])
    a = affine_mix_batch(img, seg, depth, pairs=pairs, warp=False, margin=0.2)
    b = affine_mix_batch(img, seg, depth, pairs=pairs, warp=False, mask=DepthOrderMask(0.2))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.img, b.img)
    assert torch.equal(a.mask[:, None], occlusion_mask(depth[:, None], depth[[1, 0], None], 0.2))
