"""Tests of CityscapesDepthDataset: file layout, label splits and error messages."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS

import mmseg_ccam  # noqa: F401  (registers the dataset)
from mmseg_ccam.datasets.cityscapes_depth import (
    CityscapesDepthDataset,
    draw_labeled_indices,
    parse_split_lines,
)

FRAMES = {  # deliberately unsorted on disk order does not matter
    'zurich': ['zurich_000001_000019', 'zurich_000000_000019'],
    'aachen': ['aachen_000002_000019', 'aachen_000000_000019', 'aachen_000001_000019'],
    'bremen': ['bremen_000000_000019'],
}
SORTED = sorted(f'{c}/{n}' for c, names in FRAMES.items() for n in names)
PREFIX = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train',
              depth_path='disparity/train', camera_path='camera/train')


def build_cityscapes(root, h=8, w=16):
    """A tiny Cityscapes tree: image, train-id label, disparity and camera per frame."""
    rng = np.random.default_rng(0)
    for city, names in FRAMES.items():
        for name in names:
            for sub in ('leftImg8bit', 'gtFine', 'disparity', 'camera'):
                (root / sub / 'train' / city).mkdir(parents=True, exist_ok=True)
            base = f'train/{city}/{name}'
            cv2.imwrite(str(root / f'leftImg8bit/{base}_leftImg8bit.png'),
                        rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            cv2.imwrite(str(root / f'gtFine/{base}_gtFine_labelTrainIds.png'),
                        rng.integers(0, 19, (h, w), dtype=np.uint8))
            cv2.imwrite(str(root / f'disparity/{base}_disparity.png'),
                        np.full((h, w), 5121, np.uint16))  # 10 m with baseline * fx = 200
            (root / f'camera/{base}_camera.json').write_text(json.dumps(
                {'extrinsic': {'baseline': 0.2}, 'intrinsic': {'fx': 1000.0}}))
    return root


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return build_cityscapes(tmp_path_factory.mktemp('cityscapes'))


def make(root, **kwargs):
    kwargs.setdefault('data_prefix', dict(PREFIX))
    return DATASETS.build(dict(type='CityscapesDepthDataset', data_root=str(root), **kwargs))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def ids(ds):
    return [info['frame_id'] for info in infos(ds)]


def test_all_frames_and_paths(root):
    ds = make(root)
    assert isinstance(ds, CityscapesDepthDataset)
    assert ids(ds) == SORTED
    for info in infos(ds):
        fid = info['frame_id']
        assert info['img_path'] == osp.join(str(root), 'leftImg8bit/train',
                                            fid + '_leftImg8bit.png')
        assert info['seg_map_path'] == osp.join(str(root), 'gtFine/train',
                                                fid + '_gtFine_labelTrainIds.png')
        assert info['depth_path'] == osp.join(str(root), 'disparity/train', fid + '_disparity.png')
        assert info['camera_path'] == osp.join(str(root), 'camera/train', fid + '_camera.json')
        for key in ('img_path', 'seg_map_path', 'depth_path', 'camera_path'):
            assert osp.isfile(info[key])
        assert info['has_seg_label'] is True
        assert info['reduce_zero_label'] is False and info['seg_fields'] == []
    assert len(ds.metainfo['classes']) == 19


def test_split_file_formats(root, tmp_path):
    split = tmp_path / 'split.txt'
    split.write_text('# labeled frames\n\n'
                     'aachen/aachen_000001_000019\n'
                     'bremen_000000_000019   # bare basename\n'
                     'leftImg8bit/train/zurich/zurich_000001_000019_leftImg8bit.png  gt.png\n')
    chosen = ['aachen/aachen_000001_000019', 'bremen/bremen_000000_000019',
              'zurich/zurich_000001_000019']
    assert ids(make(root, split_file=str(split))) == chosen
    assert all(i['has_seg_label'] for i in infos(make(root, split_file=str(split))))

    unlabeled = make(root, split_file=str(split), subset='unlabeled')
    assert ids(unlabeled) == [f for f in SORTED if f not in chosen]
    for info in infos(unlabeled):
        assert info['seg_map_path'] is None and info['has_seg_label'] is False
        assert osp.isfile(info['depth_path']) and osp.isfile(info['camera_path'])

    everything = make(root, split_file=str(split), subset='all')
    assert ids(everything) == SORTED
    assert [i['has_seg_label'] for i in infos(everything)] == [f in chosen for f in SORTED]


def test_split_file_relative_to_data_root(root):
    (root / 'splits').mkdir(exist_ok=True)
    (root / 'splits' / 'two.txt').write_text('zurich/zurich_000000_000019\naachen_000000_000019\n')
    assert ids(make(root, split_file='splits/two.txt')) == [
        'aachen/aachen_000000_000019', 'zurich/zurich_000000_000019']


def test_num_labeled_draw(root):
    seed = 3
    expected_idx = sorted(np.random.default_rng(seed).permutation(len(SORTED))[:2])
    labeled = make(root, num_labeled=2, split_seed=seed)
    assert ids(labeled) == [SORTED[i] for i in expected_idx]
    assert ids(make(root, num_labeled=2, split_seed=seed)) == ids(labeled)  # deterministic
    unlabeled = make(root, num_labeled=2, split_seed=seed, subset='unlabeled')
    assert sorted(ids(labeled) + ids(unlabeled)) == SORTED
    assert not set(ids(labeled)) & set(ids(unlabeled))
    # nested: the 2-frame split is inside the 4-frame split of the same seed
    assert set(ids(labeled)) < set(ids(make(root, num_labeled=4, split_seed=seed)))
    # ratio 0.5 of 6 frames == 3 frames
    assert ids(make(root, labeled_ratio=0.5, split_seed=seed)) == \
        ids(make(root, num_labeled=3, split_seed=seed))
    assert ids(make(root, num_labeled=6)) == SORTED
    # another seed gives another draw (for these 6 frames)
    assert any(ids(make(root, num_labeled=2, split_seed=s)) != ids(labeled) for s in range(4, 8))


def test_draw_labeled_indices_nested():
    small, big = draw_labeled_indices(2975, 100, 0), draw_labeled_indices(2975, 372, 0)
    assert len(small) == 100 and len(set(small)) == 100 and set(small) < set(big)
    assert np.all(np.diff(big) > 0)


def test_without_seg_labels(root):
    for ds in (make(root, with_seg_label=False),
               make(root, data_prefix=dict(img_path='leftImg8bit/train',
                                           depth_path='disparity/train',
                                           camera_path='camera/train'))):
        assert ids(ds) == SORTED
        assert all(i['seg_map_path'] is None and not i['has_seg_label'] for i in infos(ds))
    no_depth = make(root, data_prefix=dict(img_path='leftImg8bit/train'))
    assert all(i['depth_path'] is None and i['camera_path'] is None for i in infos(no_depth))


def test_pipeline_loads_labeled_and_unlabeled(root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadOptionalAnnotations'),
                dict(type='LoadCityscapesDepth'),
                dict(type='PackSegInputs', meta_keys=('img_path', 'seg_map_path', 'ori_shape',
                                                      'img_shape', 'has_seg_label'))]
    with DefaultScope.overwrite_default_scope('mmseg'):  # as under a runner
        ds = make(root, num_labeled=2, subset='all', pipeline=pipeline)
        samples = [ds[idx]['data_samples'] for idx in range(len(ds))]
    assert sum(i['has_seg_label'] for i in infos(ds)) == 2
    for sample, info in zip(samples, infos(ds)):
        assert sample.metainfo['has_seg_label'] == info['has_seg_label']
        np.testing.assert_allclose(sample.gt_depth_map.data.numpy(), 10.0, rtol=1e-6)
        seg = sample.gt_sem_seg.data.numpy()[0]
        if info['has_seg_label']:
            np.testing.assert_array_equal(seg, cv2.imread(info['seg_map_path'],
                                                          cv2.IMREAD_UNCHANGED))
        else:
            assert np.all(seg == 255)


def test_parse_split_lines():
    assert parse_split_lines(['# c', '', '  a/b_1  x', 'c_2_leftImg8bit.png', 'd # note']) == \
        ['a/b_1', 'c_2', 'd']


def test_errors(root, tmp_path):
    missing = str(tmp_path / 'missing_split.txt')
    with pytest.raises(FileNotFoundError, match='missing_split.txt'):
        make(root, split_file=missing)
    empty = tmp_path / 'empty.txt'
    empty.write_text('# nothing\n\n')
    with pytest.raises(ValueError, match='empty.txt lists no frame'):
        make(root, split_file=str(empty))
    bad = tmp_path / 'bad.txt'
    bad.write_text('aachen/aachen_000000_000019\nberlin_000000_000019\nkoeln/koeln_1_2\n')
    with pytest.raises(ValueError, match=r"bad.txt names 2 frame.*berlin_000000_000019.*koeln"):
        make(root, split_file=str(bad))
    wrong_city = tmp_path / 'wrong_city.txt'
    wrong_city.write_text('bremen/aachen_000000_000019\n')
    with pytest.raises(ValueError, match='bremen/aachen_000000_000019'):
        make(root, split_file=str(wrong_city))
    with pytest.raises(ValueError, match='only one of.*split_file.*num_labeled'):
        make(root, split_file=str(bad), num_labeled=2)
    with pytest.raises(ValueError, match='num_labeled=7 exceeds the 6 frames'):
        make(root, num_labeled=7)
    with pytest.raises(ValueError, match='num_labeled'):
        make(root, num_labeled=0)
    with pytest.raises(ValueError, match='labeled_ratio'):
        make(root, labeled_ratio=1.5)
    with pytest.raises(ValueError, match="subset='unlabeled' needs"):
        make(root, subset='unlabeled')
    with pytest.raises(ValueError, match='subset'):
        make(root, subset='train')
    with pytest.raises(ValueError, match='unlabeled.*empty'):
        make(root, num_labeled=6, subset='unlabeled')
    with pytest.raises(FileNotFoundError, match='leftImg8bit/val'):
        make(root, data_prefix=dict(img_path='leftImg8bit/val'))
    with pytest.raises(FileNotFoundError, match=r'no \*_leftImg8bit.png image'):
        make(root, data_prefix=dict(img_path='gtFine/train'))
