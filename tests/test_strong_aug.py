"""strong_aug_batch: whole-image colour jitter (ColorAug formulas, one region) + Gaussian blur."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_ccam.augmentation import (
    ColorAugParams,
    ColorJitter,
    color_aug_batch,
    gaussian_kernels,
    strong_aug_batch,
)

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def images(b=4, h=24, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g, dtype=torch.float64) * 255


def test_gaussian_kernels_by_hand():
    k = gaussian_kernels(torch.tensor([1.0, 0.0], dtype=torch.float64), 5)
    x = np.arange(5) - 2.0
    ref = np.exp(-0.5 * x**2)
    np.testing.assert_allclose(k[0].numpy(), ref / ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(k[1].numpy(), [0, 0, 1, 0, 0], atol=1e-12)  # sigma 0: identity
    with pytest.raises(ValueError, match='odd'):
        gaussian_kernels(torch.tensor([1.0]), 4)


def test_probabilities_zero_is_identity():
    x = images()
    out = strong_aug_batch(x, generator=torch.Generator().manual_seed(0), color_prob=0.0,
                           blur_prob=0.0)
    assert torch.equal(out.img, x)
    assert not out.jittered.any() and (out.blur_sigma == 0).all()


def test_jitter_is_colour_aug_with_one_region():
    """With blur off, each jittered image equals color_aug_batch with the whole image as one
    class and the same factors; the contrast anchor is the image's mean luma."""
    x = images()
    out = strong_aug_batch(x, generator=torch.Generator().manual_seed(1), color_prob=1.0,
                           blur_prob=0.0, channel_order='bgr', mean=MEAN, std=STD)
    assert out.jittered.all()
    # Recover the factors by replaying the same draws through color_aug_batch.
    ref = color_aug_batch(x, torch.zeros(4, 24, 40, dtype=torch.long),
                          generator=torch.Generator().manual_seed(1),
                          jitter=ColorJitter(1.0, 0.2, 0.2, 0.2, 0.05), ignore_index=-1,
                          channel_order='bgr', mean=MEAN, std=STD)
    torch.testing.assert_close(out.img, ref.img)
    # and by hand for one image: brightness only
    p = ColorAugParams(np.array([0]), np.array([1.1]), np.array([1.0]), np.array([1.0]),
                       np.array([0.0]))
    one = color_aug_batch(x[:1], torch.zeros(1, 24, 40, dtype=torch.long), params=[p],
                          ignore_index=-1)
    torch.testing.assert_close(one.img, (x[:1] * 1.1).clamp(0, 255))


def test_blur_matches_conv_with_the_drawn_sigma():
    x = images(b=3, h=20, w=30)
    out = strong_aug_batch(x, generator=torch.Generator().manual_seed(2), color_prob=0.0,
                           blur_prob=1.0, blur_sigma=(0.5, 1.5), blur_kernel_ratio=0.25)
    size = 5  # ceil(0.25 * 20) = 5 -> odd 5
    for i in range(3):
        sigma = float(out.blur_sigma[i])
        assert 0.5 <= sigma <= 1.5
        k1 = gaussian_kernels(torch.tensor([sigma], dtype=torch.float64), size)[0]
        k2 = torch.outer(k1, k1)[None, None].repeat(3, 1, 1, 1)
        ref = F.conv2d(F.pad(x[i:i + 1], (2, 2, 2, 2), mode='reflect'), k2, groups=3)
        torch.testing.assert_close(out.img[i:i + 1], ref)
    # a blur keeps the per-channel mean (up to the border) and lowers the variance
    assert out.img.var() < x.var()


def test_blur_commutes_with_normalisation():
    x = images(b=2)
    m = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    s = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    kw = dict(color_prob=1.0, blur_prob=1.0, mean=MEAN, std=STD)
    norm = strong_aug_batch((x - m) / s, generator=torch.Generator().manual_seed(3), **kw)
    raw = strong_aug_batch(x, generator=torch.Generator().manual_seed(3), color_prob=1.0,
                           blur_prob=1.0)
    torch.testing.assert_close(norm.img * s + m, raw.img)


def test_draws_follow_the_generator_and_probabilities():
    x = images(b=64, h=8, w=8)
    a = strong_aug_batch(x, generator=torch.Generator().manual_seed(4))
    b = strong_aug_batch(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.img, b.img)
    assert 0.6 < a.jittered.float().mean() < 0.95  # color_prob 0.8
    assert 0.3 < (a.blur_sigma > 0).float().mean() < 0.7  # blur_prob 0.5
    torch.manual_seed(5)
    c = strong_aug_batch(x)  # global RNG when no generator
    torch.manual_seed(5)
    assert torch.equal(c.img, strong_aug_batch(x).img)


@pytest.mark.parametrize('kwargs,match', [
    (dict(color_prob=1.5), 'color_prob'), (dict(blur_prob=-0.1), 'blur_prob'),
    (dict(blur_sigma=(2.0, 1.0)), 'blur_sigma'), (dict(blur_kernel_ratio=0.0), 'kernel')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        strong_aug_batch(images(b=1), **kwargs)
    with pytest.raises(ValueError, match='B x 3'):
        strong_aug_batch(torch.zeros(1, 1, 4, 4))
