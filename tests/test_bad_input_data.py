"""Bad input data: every kind gets an error (or warning) naming the file or key and a remedy.

One test per kind, on a tiny SynthCity dataset (3 train / 1 val frames at 64x128) copied per
test and then damaged.
"""
import json
import os
import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from conftest import tiny_seg_depth_cfg
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS, MODELS
from torch.utils.data import ConcatDataset

import mmseg_ccam  # noqa: F401  (registers the dataset and transforms)
from mmseg_ccam.datasets.samplers.multi_source_sampler import MultiSourceSampler
from mmseg_ccam.datasets.synthcity import frame_paths
from mmseg_ccam.models.segmentors.seg_depth_encoder_decoder import count_samples_without_depth

PREFIX = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train',
              depth_path='disparity/train', camera_path='camera/train')
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadOptionalAnnotations'),
            dict(type='LoadCityscapesDepth'), dict(type='PackSegInputs')]
CHECK_TOOL = 'tools/check_dataset.py'


@pytest.fixture(scope='module')
def synth(tiny_synthcity):
    return tiny_synthcity


@pytest.fixture
def root(synth, tmp_path):
    """A fresh copy of the dataset, free to damage."""
    return shutil.copytree(synth, tmp_path / 'data')


def first_frame(root, split='train'):
    """Paths of the first frame of a split (sorted like the dataset), keyed by kind."""
    city = sorted(os.listdir(root / 'leftImg8bit' / split))[0]
    name = sorted(os.listdir(root / 'leftImg8bit' / split / city))[0][:-len('_leftImg8bit.png')]
    return frame_paths(str(root), split, city, name)


def build(root, **kwargs):
    kwargs.setdefault('data_prefix', dict(PREFIX))
    kwargs.setdefault('pipeline', PIPELINE)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='CityscapesDepthDataset', data_root=str(root), **kwargs))


def load(ds, idx=0):
    with DefaultScope.overwrite_default_scope('mmseg'):
        return ds[idx]


def truncate(path):
    with open(path, 'rb') as f:
        content = f.read()
    with open(path, 'wb') as f:
        f.write(content[:len(content) // 2])


def expect(err_type, *parts):
    """pytest.raises whose message must contain every part, in order (literal text)."""
    return pytest.raises(err_type, match='(?s)' + '.*'.join(re.escape(p) for p in parts))


def tiny_segmentor():
    """A 2-stage ResNet-18 at 4 channels with FCN + depth heads (19 classes), in eval mode so
    that each sample's prediction does not depend on the batch (BN running statistics)."""
    cfg = tiny_seg_depth_cfg(size=(64, 128), num_classes=19)
    cfg['data_preprocessor']['bgr_to_rgb'] = True
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    return model.eval()  # PyTorch's default initialisation (seeded) is enough here


def test_01_missing_image(root):
    frame = first_frame(root)
    # Listed through an ann_file, a frame whose image is absent is caught when building...
    ann = root / 'frames.txt'
    rel = os.path.relpath(frame['image'], root / 'leftImg8bit' / 'train')
    ann.write_text(rel[:-len('_leftImg8bit.png')] + '\n')
    os.remove(frame['image'])
    with expect(FileNotFoundError, f'image file {frame["image"]} does not exist',
                'data_prefix.img_path', CHECK_TOOL):
        build(root, ann_file=str(ann))
    # ...and one deleted after the dataset was built is named when loaded (mmcv's own error
    # would not name a remedy).
    shutil.copy(first_frame(root, 'val')['image'], frame['image'])
    ds = build(root)
    os.remove(frame['image'])
    with expect(FileNotFoundError, 'cannot be loaded', f'image file {frame["image"]} does not '
                'exist', CHECK_TOOL):
        load(ds)


def test_02_corrupt_image(root):
    frame = first_frame(root)
    ds = build(root)
    truncate(frame['image'])
    with expect(ValueError, f'image file {frame["image"]} cannot be decoded',
                're-download or regenerate it', CHECK_TOOL) as info:
        load(ds)
    # the original mmcv error stays attached as the cause
    assert 'failed to load image' in str(info.value.__cause__)


def test_03_missing_label(root):
    frame = first_frame(root)
    os.remove(frame['train_ids'])
    with expect(FileNotFoundError, '1 file(s) of 3 frames', f'label file {frame["train_ids"]} '
                'does not exist', 'data_prefix.seg_map_path', CHECK_TOOL, 'check_files=False'):
        build(root)


def test_04_corrupt_label(root):
    frame = first_frame(root)
    truncate(frame['train_ids'])
    ds = build(root)  # it exists: only loading finds it broken
    with expect(ValueError, f'label file {frame["train_ids"]} cannot be decoded',
                're-create it', CHECK_TOOL):
        load(ds)
    # a 16-bit label: mmseg's astype(np.uint8) would silently turn 300 into 44
    label = np.zeros((64, 128), np.uint16)
    label[0, 0] = 300
    cv2.imwrite(frame['train_ids'], label)
    with expect(ValueError, f'label file {frame["train_ids"]} is a uint16 map with values 0..300',
                'save it as an 8-bit PNG of train ids'):
        load(ds)


def test_05_missing_disparity(root):
    frame = first_frame(root)
    ds = build(root)
    os.remove(frame['disparity'])
    with expect(FileNotFoundError, f'disparity file {frame["disparity"]} does not exist',
                'data_prefix.depth_path'):
        load(ds)
    with expect(FileNotFoundError, f'disparity file {frame["disparity"]} does not exist',
                'data_prefix.depth_path', 'disparity_trainvaltest.zip', CHECK_TOOL):
        build(root)
    # a whole folder missing is one message, not one per frame
    shutil.rmtree(root / 'disparity' / 'train')
    with expect(FileNotFoundError, f'disparity folder {root / "disparity" / "train"} does not '
                'exist', 'disparity_trainvaltest.zip', 'data_prefix.depth_path') as info:
        build(root)
    assert str(info.value).count('does not exist') == 1


def test_06_corrupt_disparity(root):
    frame = first_frame(root)
    truncate(frame['disparity'])
    ds = build(root)
    with expect(ValueError, f'disparity file {frame["disparity"]} is undecodable',
                'Re-download or regenerate it', CHECK_TOOL):
        load(ds)


def test_07_missing_camera_json(root):
    frame = first_frame(root)
    os.remove(frame['camera'])
    with expect(FileNotFoundError, f'camera file {frame["camera"]} does not exist',
                'data_prefix.camera_path', CHECK_TOOL):
        build(root)


def test_08_camera_json_without_baseline_or_fx_or_invalid(root):
    frame = first_frame(root)
    ds = build(root)
    with open(frame['camera']) as f:
        camera = json.load(f)
    for group, key in (('extrinsic', 'baseline'), ('intrinsic', 'fx')):
        broken = json.loads(json.dumps(camera))
        del broken[group][key]
        with open(frame['camera'], 'w') as f:
            json.dump(broken, f)
        with expect(ValueError, f'camera file {frame["camera"]} has no "{group}.{key}" entry',
                    'replace it with the Cityscapes camera/*_camera.json'):
            load(ds)
    with open(frame['camera'], 'w') as f:
        f.write('{"extrinsic": {"baseline": 0.2')
    with expect(ValueError, f'camera file {frame["camera"]} is not valid JSON', 'replace it'):
        load(ds)


def test_09_label_or_disparity_size_differs_from_image(root):
    frame = first_frame(root)
    ds = build(root)
    label = cv2.imread(frame['train_ids'], cv2.IMREAD_UNCHANGED)
    assert label.shape == (64, 128)
    cv2.imwrite(frame['train_ids'], label[:32, :64])
    with expect(ValueError, f'label file {frame["train_ids"]} is 32x64 (HxW) but image '
                f'{frame["image"]} is 64x128', 'regenerate or resize them together'):
        load(ds)
    cv2.imwrite(frame['train_ids'], label)
    disparity = cv2.imread(frame['disparity'], cv2.IMREAD_UNCHANGED)
    cv2.imwrite(frame['disparity'], cv2.resize(disparity, (256, 128),
                                               interpolation=cv2.INTER_NEAREST))
    with expect(ValueError, f'disparity file {frame["disparity"]} is 128x256 (HxW) but image '
                f'{frame["image"]} is 64x128', 'regenerate or resize them together'):
        load(ds)


def test_10_label_ids_outside_class_range(root):
    frame = first_frame(root)
    ds = build(root)
    label = cv2.imread(frame['train_ids'], cv2.IMREAD_UNCHANGED)
    label[0, :3] = [19, 40, 255]  # 255 (ignore) is allowed, 19 and 40 are not (19 classes)
    cv2.imwrite(frame['train_ids'], label)
    with expect(ValueError, f'label file {frame["train_ids"]} holds ids [19, 40] outside the '
                'class range 0..18', 'use *_gtFine_labelTrainIds.png'):
        load(ds)
    label[0, :2] = [18, 255]  # in range again: loads
    cv2.imwrite(frame['train_ids'], label)
    seg = load(ds)['data_samples'].gt_sem_seg.data.numpy()[0]
    np.testing.assert_array_equal(seg, label)


def test_11_disparity_without_valid_pixel_warns_and_trains_segmentation(root):
    frame = first_frame(root)
    cv2.imwrite(frame['disparity'], np.zeros((64, 128), np.uint16))
    meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'depth_valid')
    ds = build(root, pipeline=PIPELINE[:-1] + [dict(type='PackSegInputs', meta_keys=meta_keys)])
    with pytest.warns(UserWarning, match=re.escape(
            f'disparity file {frame["disparity"]} has no valid pixel within max_depth=80.0 m '
            '(every value is 0 or 1: no stereo match); its gt_depth_map is all 0, so this frame '
            'trains segmentation only')):
        bad = load(ds, 0)['data_samples']
    good = load(ds, 1)['data_samples']
    # marked for counting: results['depth_valid']
    assert bad.metainfo['depth_valid'] is False and good.metainfo['depth_valid'] is True
    depth = bad.gt_depth_map.data
    assert depth.shape == (1, 64, 128) and torch.all(depth == 0)
    # segmentation still comes through unchanged
    np.testing.assert_array_equal(bad.gt_sem_seg.data.numpy()[0],
                                  cv2.imread(frame['train_ids'], cv2.IMREAD_UNCHANGED))
    assert torch.any(good.gt_depth_map.data > 0)
    # the segmentor's num_no_depth counts exactly this sample
    assert float(count_samples_without_depth([bad, good], torch.device('cpu'))) == 1.0
    # and the real samples train: finite losses and gradients, the empty frame adds no depth
    # loss (same value as the good frame alone)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = tiny_segmentor()
        batch = model.data_preprocessor(dict(inputs=[load(ds, i)['inputs'] for i in (0, 1)],
                                             data_samples=[bad, good]), training=True)
        losses = model.loss(**batch)
        assert float(losses['num_no_depth']) == 1.0
        alone = model.loss(batch['inputs'][1:], batch['data_samples'][1:])
        torch.testing.assert_close(losses['depth.loss_silog'], alone['depth.loss_silog'])
        total, _ = model.parse_losses(losses)
        total.backward()
        assert torch.isfinite(total) and float(losses['depth.loss_silog']) > 0
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    finally:
        torch.set_num_threads(threads)


def test_12_split_file_with_unknown_frames_or_empty(root):
    split = root / 'split.txt'
    split.write_text('aachen/aachen_999999_000019\nnowhere_000000_000019\n')
    with expect(ValueError, f'split file {split} names 2 frame(s) that are not in the image '
                "folder, e.g. ['aachen/aachen_999999_000019', 'nowhere_000000_000019']",
                'data_prefix.img_path', 'tools/make_splits.py'):
        build(root, split_file=str(split))
    split.write_text('# nothing here\n\n')
    with expect(ValueError, f'split_file {split} lists no frame', 'tools/make_splits.py'):
        build(root, split_file=str(split))


def test_13_empty_subset_and_empty_sampler_source(root):
    with expect(ValueError, "subset='unlabeled' is empty", f"data_root={str(root)!r}",
                'are labeled', 'labeled_ratio=1.0', 'smaller num_labeled / labeled_ratio'):
        build(root, labeled_ratio=1.0, subset='unlabeled')
    with expect(ValueError, 'labeled_ratio=0.1 of the 3 frames', f'data_root={str(root)!r}',
                'labeled subset is empty', 'raise labeled_ratio to at least 0.167'):
        build(root, labeled_ratio=0.1)
    labeled = build(root)
    with expect(ValueError, 'MultiSourceSampler: source 1 (list) is empty',
                'asks for 1 of its samples', 'set its count to 0'):
        MultiSourceSampler(ConcatDataset([labeled, []]), batch_size=2, source_ratio=[1, 1],
                           seed=0)
