"""Tests of ColorAug: numpy core, torch batch form and the pipeline transform."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmseg_ccam  # noqa: F401  (registers the transforms)
from mmseg_ccam.augmentation import (
    ColorAugParams,
    ColorJitter,
    color_aug,
    color_aug_batch,
    jitter_range,
    sample_color_aug_params,
)
from mmseg_ccam.datasets.transforms.color_aug import ColorAug

H, W = 16, 20


def textured(rng, h=H, w=W):
    return rng.integers(20, 236, (h, w, 3)).astype(np.uint8)


def blocks(h=H, w=W):
    """Four class blocks and an ignore band."""
    seg = np.zeros((h, w), np.uint8)
    seg[:, w // 2:] = 1
    seg[h // 2:, :w // 2] = 2
    seg[h // 2:, w // 2:] = 3
    seg[:2] = 255
    return seg


def one_class(cls, b=1.0, c=1.0, s=1.0, hue=0.0):
    return ColorAugParams([cls], [b], [c], [s], [hue])


def jitter_one_class(seed, cls, dtype=np.float32, **factors):
    """ColorAug of class ``cls`` of :func:`blocks` only, on a textured RGB image of ``dtype``
    (seed ``seed``): ``(img, seg, sel, out)`` with ``sel`` the class's pixels."""
    img, seg = textured(np.random.default_rng(seed)).astype(dtype), blocks()
    out = color_aug(img, seg, one_class(cls, **factors), channel_order='rgb')
    return img, seg, seg == cls, out


def luma(rgb):
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


# ------------------------------------------------------------------ hand-computed steps
def test_brightness_only_on_selected_class():
    img, _, sel, out = jitter_one_class(0, 1, np.uint8, b=1.5)
    raw = img.astype(np.float64) * 1.5
    exp = np.clip(np.rint(raw), 0, 255)
    # the float32 pipeline may break exact .5 ties either way; elsewhere it is exact
    no_tie = np.abs(raw - np.floor(raw) - 0.5) > 1e-3
    np.testing.assert_array_equal(out[sel & no_tie.all(-1)], exp[sel & no_tie.all(-1)])
    assert np.abs(out[sel].astype(int) - exp[sel]).max() <= 1
    assert (out[sel] != img[sel]).mean() > 0.9
    np.testing.assert_array_equal(out[~sel], img[~sel])


def test_contrast_zero_gives_class_region_mean_luma():
    img, _, sel, out = jitter_one_class(1, 2, c=0.0)
    # mean over the class region only, not the image
    m = luma(img.astype(np.float64))[sel].mean()
    assert abs(m - luma(img.astype(np.float64)).mean()) > 0.1
    np.testing.assert_allclose(out[sel], m, rtol=1e-5)
    np.testing.assert_array_equal(out[~sel], img[~sel])


def test_saturation_zero_gives_grey_and_hue_half_turn_negates_chroma():
    img, seg, sel, out = jitter_one_class(2, 3, s=0.0)
    y = luma(img.astype(np.float64))
    np.testing.assert_allclose(out[sel], np.repeat(y[sel][:, None], 3, 1), rtol=1e-5)
    # 180 degrees of hue: I and Q change sign, Y stays; the result is 2Y - x per channel
    # (the YIQ inverse maps (Y, 0, 0) to (Y, Y, Y)); no clipping at value_range=None
    out = color_aug(img, seg, one_class(3, hue=0.5), channel_order='rgb', value_range=None)
    np.testing.assert_allclose(out[sel], 2 * y[sel][:, None] - img[sel], atol=1e-3)
    np.testing.assert_allclose(luma(out[sel].astype(np.float64)), y[sel], atol=1e-3)


def test_channel_order_bgr_equals_rgb_flipped():
    rng = np.random.default_rng(3)
    img, seg = textured(rng), blocks()
    p = ColorAugParams([0, 1, 3], [1.2, 0.8, 1.0], [0.7, 1.3, 1.1], [1.4, 0.6, 1.0],
                       [0.1, -0.2, 0.05])
    rgb = color_aug(img, seg, p, channel_order='rgb')
    bgr = color_aug(img[..., ::-1].copy(), seg, p, channel_order='bgr')
    np.testing.assert_array_equal(bgr[..., ::-1], rgb)


def test_jitter_range_follows_colorjitter():
    assert jitter_range(0.4, 'b') == pytest.approx((0.6, 1.4))
    assert jitter_range(1.5, 'b') == (0.0, 2.5)
    assert jitter_range(0.1, 'hue', center=0.0, bound=0.5) == (-0.1, 0.1)
    assert jitter_range((0.9, 1.2), 'b') == (0.9, 1.2)
    with pytest.raises(ValueError, match='hue'):
        jitter_range(0.7, 'hue', center=0.0, bound=0.5)
    with pytest.raises(ValueError, match='brightness'):
        ColorAug(brightness=-1)


# ------------------------------------------------------------------ sampling / properties
def test_sampler_ranges_and_selection():
    seg = np.repeat(np.arange(200, dtype=np.uint8)[None], 3, 0)
    p = sample_color_aug_params(seg, ColorJitter(0.5, 0.4, (0.9, 1.1), 0.2, 0.05),
                                rng=np.random.default_rng(0))
    assert 60 < len(p.classes) < 140
    assert (p.brightness >= 0.6).all() and (p.brightness <= 1.4).all()
    assert (p.contrast >= 0.9).all() and (p.contrast <= 1.1).all()
    assert (p.saturation >= 0.8).all() and (np.abs(p.hue) <= 0.05).all()
    assert len(sample_color_aug_params(seg, ColorJitter(prob=0.0)).classes) == 0
    all_ignore = np.full((4, 4), 255, np.uint8)
    assert len(sample_color_aug_params(all_ignore, ColorJitter(prob=1.0)).classes) == 0


def test_color_jitter_is_the_one_home_of_the_defaults_and_validates():
    from mmseg_ccam.augmentation import COLOR_AUG_DEFAULTS  # what semi_train_cfg merges into
    assert ColorJitter() == ColorJitter(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4,
                                        hue=0.1)
    assert COLOR_AUG_DEFAULTS == dict(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4,
                                      hue=0.1)
    transform = ColorAug()
    assert transform.jitter == ColorJitter()
    assert repr(transform).startswith('ColorAug(prob=0.5, brightness=0.4, contrast=0.4, '
                                      'saturation=0.4, hue=0.1, ignore_index=255')
    assert ColorJitter(contrast=(0.9, 1.1)).ranges()[1] == (0.9, 1.1)
    for bad, match in ((dict(prob=1.5), 'prob'), (dict(hue=0.7), 'hue'),
                       (dict(saturation=(1.2, 0.8)), 'saturation')):
        with pytest.raises(ValueError, match=match):
            ColorJitter(**bad)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), prob=st.floats(0, 1), n_cls=st.integers(1, 6))
def test_property_transform_leaves_unselected_ignore_and_depth_untouched(seed, prob, n_cls):
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, n_cls, (H, W)).astype(np.uint8)
    seg[rng.random((H, W)) < 0.2] = 255
    img = textured(rng)
    depth = rng.uniform(0, 80, (H, W)).astype(np.float32)
    results = dict(img=img.copy(), gt_seg_map=seg.copy(), gt_depth_map=depth.copy())
    np.random.seed(seed % 2**31)
    out = ColorAug(prob=prob, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2)(results)
    np.testing.assert_array_equal(out['gt_depth_map'], depth)
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    changed = np.isin(seg, out['color_aug_classes'])
    assert 255 not in out['color_aug_classes']
    np.testing.assert_array_equal(out['img'][~changed], img[~changed])
    assert out['img'].dtype == np.uint8


@pytest.mark.parametrize('seed', range(8))
def test_prob_one_changes_every_class_region(seed):
    rng = np.random.default_rng(100 + seed)
    img, seg = textured(rng), blocks()
    results = dict(img=img.copy(), gt_seg_map=seg)
    np.random.seed(seed)
    out = ColorAug(prob=1.0, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)(results)
    np.testing.assert_array_equal(out['color_aug_classes'], [0, 1, 2, 3])
    for c in range(4):
        assert (out['img'][seg == c] != img[seg == c]).any(), f'class {c} unchanged'
    np.testing.assert_array_equal(out['img'][seg == 255], img[seg == 255])


def test_transform_errors_and_guide_key():
    rng = np.random.default_rng(4)
    img = textured(rng)
    with pytest.raises(KeyError, match="no 'pseudo_seg'"):
        ColorAug(guide_key='pseudo_seg')(dict(img=img, gt_seg_map=blocks()))
    with pytest.raises(ValueError, match="'gt_seg_map' is"):
        ColorAug()(dict(img=img, gt_seg_map=np.zeros((3, 3), np.uint8)))
    out = ColorAug(prob=1.0, guide_key='pseudo_seg')(
        dict(img=img.copy(), pseudo_seg=blocks(), gt_seg_map=np.full((H, W), 255, np.uint8)))
    assert len(out['color_aug_classes']) == 4
    # an unlabelled frame (all ignore) passes unchanged
    out = ColorAug(prob=1.0)(dict(img=img.copy(), gt_seg_map=np.full((H, W), 255, np.uint8)))
    np.testing.assert_array_equal(out['img'], img)


# ------------------------------------------------------------------ numpy vs torch
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), order=st.sampled_from(['rgb', 'bgr']))
def test_property_numpy_and_torch_agree(seed, order):
    rng = np.random.default_rng(seed)
    imgs = [textured(rng) for _ in range(2)]
    segs = [rng.integers(0, 5, (H, W)).astype(np.uint8) for _ in range(2)]
    for s in segs:
        s[rng.random((H, W)) < 0.2] = 255
    params = [sample_color_aug_params(s, ColorJitter(0.7, 0.5, 0.5, 0.5, 0.3), rng=rng)
              for s in segs]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
    out = color_aug_batch(x, torch.from_numpy(np.stack(segs)), params=params,
                          channel_order=order)
    for i in range(2):
        ref_f = color_aug(imgs[i].astype(np.float32), segs[i], params[i], order)
        got = out.img[i].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, ref_f, atol=1e-3)
        ref_u8 = color_aug(imgs[i], segs[i], params[i], order)
        assert np.abs(np.rint(got) - ref_u8.astype(np.float64)).max() <= 1
        np.testing.assert_array_equal(out.mask[i].numpy(), np.isin(segs[i], params[i].classes))


def test_batch_normalised_input_and_bit_exact_untouched_pixels():
    rng = np.random.default_rng(5)
    imgs = torch.from_numpy(np.stack([textured(rng) for _ in range(3)])).permute(0, 3, 1,
                                                                             2).float()
    seg = torch.from_numpy(np.stack([blocks()] * 3)).long()[:, None]
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    norm = (imgs - m) / s
    kw = dict(jitter=ColorJitter(prob=0.6, brightness=0.4, contrast=0.4, saturation=0.4,
                                 hue=0.1))
    raw = color_aug_batch(imgs, seg, generator=torch.Generator().manual_seed(3), **kw)
    nrm = color_aug_batch(norm, seg, generator=torch.Generator().manual_seed(3), mean=mean,
                          std=std, **kw)
    assert torch.equal(raw.mask, nrm.mask) and raw.mask.any() and not raw.mask.all()
    torch.testing.assert_close(nrm.img * s + m, raw.img, atol=1e-3, rtol=0)
    keep = ~nrm.mask[:, None].expand_as(norm)
    assert torch.equal(nrm.img[keep], norm[keep])  # bit-for-bit, despite de/re-normalising
    assert not (seg[:, 0][nrm.mask] == 255).any()
    # per-sample independence: samples with the same input get different draws
    assert len({tuple(p.classes.tolist()) + tuple(p.brightness.round(6).tolist())
                for p in raw.params}) > 1


def test_batch_generator_determinism_and_explicit_params():
    rng = np.random.default_rng(6)
    img = torch.from_numpy(np.stack([textured(rng) for _ in range(2)])).permute(0, 3, 1,
                                                                            2).float()
    seg = torch.from_numpy(np.stack([blocks(), blocks()[::-1].copy()])).long()
    every = ColorJitter(prob=1.0)
    a = color_aug_batch(img, seg, generator=torch.Generator().manual_seed(0), jitter=every)
    b = color_aug_batch(img, seg, generator=torch.Generator().manual_seed(0), jitter=every)
    assert torch.equal(a.img, b.img)
    assert [p.classes.tolist() for p in a.params] == [[0, 1, 2, 3]] * 2
    c = color_aug_batch(img, seg, params=a.params)
    torch.testing.assert_close(c.img, a.img, atol=1e-4, rtol=0)
    none = color_aug_batch(img, seg, generator=torch.Generator().manual_seed(0),
                           jitter=ColorJitter(prob=0.0))
    assert torch.equal(none.img, img) and not none.mask.any()
