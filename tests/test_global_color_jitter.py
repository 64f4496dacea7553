"""GlobalColorJitter: ColorAug's change on the whole image as one region."""
import numpy as np
import pytest

from mmseg_ccam.datasets.transforms.color_aug import ColorAug
from mmseg_ccam.datasets.transforms.global_color_jitter import GlobalColorJitter


def _img(seed=0, h=12, w=16):
    return np.random.RandomState(seed).randint(20, 200, (h, w, 3)).astype(np.uint8)


def test_brightness_only_scales_every_pixel_by_one_factor():
    img = _img()
    seg = np.zeros(img.shape[:2], np.uint8)
    seg[:, 8:] = 3   # two classes: the global jitter must ignore them
    np.random.seed(7)
    out = GlobalColorJitter(prob=1.0, brightness=0.4, contrast=0, saturation=0,
                            hue=0)(dict(img=img.copy(), gt_seg_map=seg))['img']
    np.random.seed(7)
    np.random.uniform(0, 1, 1)                       # the selection draw
    factor = np.random.uniform(0.6, 1.4, 1)[0]       # the brightness draw
    expected = np.clip(img.astype(np.float64) * factor, 0, 255)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0
    assert not np.array_equal(out, img)


def test_equals_coloraug_on_a_one_class_label_map():
    img = _img(1)
    for seed in range(5):
        np.random.seed(seed)
        a = GlobalColorJitter(prob=0.5)(dict(img=img.copy()))
        np.random.seed(seed)
        b = ColorAug(prob=0.5)(dict(img=img.copy(), gt_seg_map=np.zeros((12, 16), np.uint8)))
        np.testing.assert_array_equal(a['img'], b['img'])
        np.testing.assert_array_equal(a['color_aug_classes'], b['color_aug_classes'])


def test_prob_zero_is_identity_and_missing_img_is_named():
    img = _img(2)
    out = GlobalColorJitter(prob=0.0)(dict(img=img.copy()))
    np.testing.assert_array_equal(out['img'], img)
    assert len(out['color_aug_classes']) == 0
    with pytest.raises(KeyError, match='LoadImageFromFile'):
        GlobalColorJitter()(dict())


def test_defaults_are_color_augs():
    """The control arm draws with ColorAug's defaults (ColorJitter's), one home."""
    from mmseg_ccam.augmentation import ColorJitter
    transform = GlobalColorJitter()
    assert transform.jitter == ColorJitter()
    assert transform.ignore_index == 255 and transform.channel_order == 'bgr'
    assert GlobalColorJitter(prob=0.2, hue=0.05).jitter == ColorJitter(prob=0.2, hue=0.05)
    with pytest.raises(TypeError, match='brightnes'):
        GlobalColorJitter(brightnes=0.3)
