"""Tests of tools/check_dataset.py on a tiny SynthCity copy."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from conftest import load_script

from mmseg_ccam.datasets.synthcity import frame_paths
from mmseg_ccam.datasets.transforms.loading import LoadCityscapesDepth


@pytest.fixture(scope='module')
def check_dataset():
    return load_script('tools/check_dataset.py')


@pytest.fixture(scope='module')
def synth(tiny_synthcity):
    return tiny_synthcity


def frames(root, split):
    """(city, name) of the frames of a split, from the image folder."""
    out = []
    for city in sorted(os.listdir(root / 'leftImg8bit' / split)):
        for f in sorted(os.listdir(root / 'leftImg8bit' / split / city)):
            out.append((city, f[:-len('_leftImg8bit.png')]))
    return out


def test_clean_dataset_exits_zero(synth, capsys, check_dataset):
    assert check_dataset.main([str(synth)]) == 0
    out = capsys.readouterr().out
    assert 'Checked 4 frame(s)' in out and '0 problem(s)' in out


def test_lists_exactly_the_bad_files(synth, tmp_path, capsys, check_dataset):
    root = tmp_path / 'copy'
    shutil.copytree(synth, root)
    (city0, name0), (city1, name1) = frames(root, 'train')[:2]
    bad_disp = frame_paths(str(root), 'train', city0, name0)['disparity']
    with open(bad_disp, 'rb') as f:
        content = f.read()
    with open(bad_disp, 'wb') as f:  # a truncated PNG
        f.write(content[:len(content) // 2])
    gone_cam = frame_paths(str(root), 'val', *frames(root, 'val')[0])['camera']
    os.remove(gone_cam)

    assert check_dataset.main([str(root), '--splits', 'train', 'val']) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    problems, summary = lines[:-1], lines[-1]
    assert sorted(line.split(': ', 1)[0] for line in problems) == sorted([bad_disp, gone_cam])
    by_file = dict(line.split(': ', 1) for line in problems)
    assert 'undecodable' in by_file[bad_disp] and 'Re-download or regenerate' in by_file[bad_disp]
    assert 'does not exist' in by_file[gone_cam] and 'data_prefix.camera_path' in by_file[gone_cam]
    assert 'Checked 4 frame(s)' in summary and '2 problem(s) in 2 file(s)' in summary

    # only the train split: the missing val camera is not reported
    assert check_dataset.main([str(root), '--splits', 'train']) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(': ', 1)[0] for line in lines[:-1]] == [bad_disp]


def test_wrong_root_or_split(synth, tmp_path, capsys, check_dataset):
    assert check_dataset.main([str(tmp_path / 'nowhere')]) == 1
    assert 'is not a folder' in capsys.readouterr().out
    assert check_dataset.main([str(synth), '--splits', 'test']) == 1
    out = capsys.readouterr().out
    assert osp.join(str(synth), 'leftImg8bit', 'test') in out and '--splits' in out


def damaged_copy(synth, tmp_path):
    """A copy with a truncated train disparity and a missing val camera JSON."""
    root = tmp_path / 'copy'
    shutil.copytree(synth, root)
    bad_disp = frame_paths(str(root), 'train', *frames(root, 'train')[0])['disparity']
    with open(bad_disp, 'rb') as f:
        content = f.read()
    with open(bad_disp, 'wb') as f:
        f.write(content[:len(content) // 2])
    os.remove(frame_paths(str(root), 'val', *frames(root, 'val')[0])['camera'])
    return root


def test_summary_counts_kinds_and_workers_give_the_same_report(synth, tmp_path, capsys,
                                                               check_dataset):
    root = damaged_copy(synth, tmp_path)
    assert check_dataset.main([str(root), '--workers', '1']) == 1
    serial = capsys.readouterr().out
    assert serial.strip().splitlines()[-1].endswith(
        '2 problem(s) in 2 file(s) (missing file: 1, undecodable or wrong format: 1).')
    assert check_dataset.main([str(root), '--workers', '2']) == 1
    assert capsys.readouterr().out == serial
    assert check_dataset.main([str(root), '--workers', '0']) == 1
    assert 'at least 1' in capsys.readouterr().out


def test_max_depth_decides_like_the_loader(synth, tmp_path, capsys, check_dataset):
    root = tmp_path / 'copy'
    shutil.copytree(synth, root)
    paths = frame_paths(str(root), 'train', *frames(root, 'train')[1])
    far = cv2.imread(paths['disparity'], cv2.IMREAD_UNCHANGED)
    far[far > 1] = 2  # d = 1/256 px: every matched pixel is thousands of metres away
    cv2.imwrite(paths['disparity'], far)
    assert check_dataset.main([str(root), '--workers', '1']) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[-1].endswith('(disparity without a valid pixel: 1).')
    path, message = lines[0].split(': ', 1)
    n = int(np.count_nonzero(far > 1))
    assert path == paths['disparity'] and message.startswith(
        f'disparity file {path} has no valid pixel within max_depth=80.0 m (its {n} matched '
        'pixels are all farther)')
    # the loader warns with exactly the line the tool printed, and keeps the frame
    results = dict(depth_path=paths['disparity'], camera_path=paths['camera'])
    with pytest.warns(UserWarning) as record:
        out = LoadCityscapesDepth(max_depth=80.0)(results)
    assert [str(w.message) for w in record] == [message]
    assert out['depth_valid'] is False and not out['gt_depth_map'].any()
    # without a depth limit the far pixels are valid: clean
    assert check_dataset.main([str(root), '--workers', '1', '--max-depth', 'inf']) == 0
    capsys.readouterr()


def test_files_without_image_and_missing_folders(synth, tmp_path, capsys, check_dataset):
    root = tmp_path / 'copy'
    shutil.copytree(synth, root)
    paths = frame_paths(str(root), 'train', *frames(root, 'train')[0])
    os.remove(paths['image'])
    shutil.rmtree(root / 'camera' / 'val')
    assert check_dataset.main([str(root), '--workers', '1']) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    by_file = dict(line.split(': ', 1) for line in lines[:-1])
    camera_val = str(root / 'camera' / 'val')
    assert sorted(by_file) == sorted([paths['train_ids'], paths['disparity'], paths['camera'],
                                      camera_val])
    assert by_file[paths['disparity']].startswith(
        f'disparity file {paths["disparity"]} has no image {paths["image"]}, so its frame is '
        'not in the dataset; restore the image')
    assert by_file[camera_val].startswith(f'camera folder {camera_val} does not exist')
    assert 'Checked 3 frame(s)' in lines[-1]
    assert lines[-1].endswith('(missing file: 1, file without its image: 3).')
