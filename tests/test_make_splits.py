"""Tests of tools/make_splits.py and its agreement with CityscapesDepthDataset."""

import os.path as osp

import numpy as np
import pytest
from conftest import load_script
from mmseg.registry import DATASETS

import mmseg_ccam  # noqa: F401  (registers the dataset)


@pytest.fixture(scope='module')
def make_splits():
    return load_script('tools/make_splits.py')

CITIES = {'aachen': 7, 'bochum': 5, 'zurich': 8}
FRAMES = sorted(f'{c}/{c}_{i:06d}_000019' for c, n in CITIES.items() for i in range(n))


@pytest.fixture()
def root(tmp_path):
    # Listing only needs the file names; empty files keep the test fast.
    for fid in FRAMES:
        path = tmp_path / 'leftImg8bit' / 'train' / (fid + '_leftImg8bit.png')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    (tmp_path / 'leftImg8bit' / 'train' / 'aachen' / 'notes.txt').touch()  # ignored
    return tmp_path


def read_frames(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def test_writes_deterministic_nested_splits(root, capsys, make_splits):
    assert make_splits.main([str(root), '--counts', '3', '10', '--seed', '5']) == 0
    printed = capsys.readouterr().out.split()
    small_path = osp.join(str(root), 'splits', 'cityscapes_train_3_seed5.txt')
    big_path = osp.join(str(root), 'splits', 'cityscapes_train_10_seed5.txt')
    assert printed == [small_path, big_path]
    small, big = read_frames(small_path), read_frames(big_path)
    perm = np.random.default_rng(5).permutation(len(FRAMES))
    assert small == [FRAMES[i] for i in sorted(perm[:3])]
    assert big == [FRAMES[i] for i in sorted(perm[:10])]
    assert set(small) < set(big) and small == sorted(small)
    assert open(small_path).readline().startswith('# 3 of 20 train frames, seed 5')
    # same call, same files
    make_splits.main([str(root), '--counts', '3', '--seed', '5'])
    assert read_frames(small_path) == small
    # another seed, another draw
    make_splits.main([str(root), '--counts', '10', '--seed', '6', '--out-dir', str(root / 'o')])
    assert read_frames(root / 'o' / 'cityscapes_train_10_seed6.txt') != big


def test_dataset_reads_the_split(root, make_splits):
    out = root / 'lists'
    make_splits.make_splits(str(root), [4], seed=2, out_dir=str(out))
    prefix = dict(img_path='leftImg8bit/train')

    def build(**kw):
        ds = DATASETS.build(dict(type='CityscapesDepthDataset', data_root=str(root),
                                 data_prefix=prefix, **kw))
        return [ds.get_data_info(i)['frame_id'] for i in range(len(ds))]

    from_file = build(split_file=str(out / 'cityscapes_train_4_seed2.txt'))
    assert from_file == read_frames(out / 'cityscapes_train_4_seed2.txt')
    assert from_file == build(num_labeled=4, split_seed=2)  # the tool and the dataset agree
    assert sorted(from_file + build(split_file=str(out / 'cityscapes_train_4_seed2.txt'),
                                    subset='unlabeled')) == FRAMES


def test_errors(root, tmp_path, capsys, make_splits):
    assert make_splits.main([str(tmp_path / 'nowhere'), '--counts', '3']) == 1
    err = capsys.readouterr().err
    assert 'nowhere' in err and 'leftImg8bit' in err
    assert make_splits.main([str(root), '--counts', '3', '21']) == 1
    assert 'counts [21] are not in [1, 20]' in capsys.readouterr().err
    (root / 'leftImg8bit' / 'val').mkdir()
    with pytest.raises(FileNotFoundError, match=r'no \*_leftImg8bit.png image under'):
        make_splits.make_splits(str(root), [1], split='val')
