"""Tests of tools/check_dataset.py on a tiny SynthCity copy."""
import importlib.util
import os
import os.path as osp
import shutil

import pytest

from mmseg_ccam.datasets.synthcity import frame_paths, generate_synthcity

TOOL = osp.join(osp.dirname(__file__), '..', 'tools', 'check_dataset.py')
spec = importlib.util.spec_from_file_location('check_dataset', TOOL)
check_dataset = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_dataset)


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth')
    generate_synthcity(str(root), num_train=3, num_val=1, height=64, width=128, seed=0,
                       progress=False)
    return root


def frames(root, split):
    """(city, name) of the frames of a split, from the image folder."""
    out = []
    for city in sorted(os.listdir(root / 'leftImg8bit' / split)):
        for f in sorted(os.listdir(root / 'leftImg8bit' / split / city)):
            out.append((city, f[:-len('_leftImg8bit.png')]))
    return out


def test_clean_dataset_exits_zero(synth, capsys):
    assert check_dataset.main([str(synth)]) == 0
    out = capsys.readouterr().out
    assert 'Checked 4 frame(s)' in out and '0 problem(s)' in out


def test_lists_exactly_the_bad_files(synth, tmp_path, capsys):
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


def test_wrong_root_or_split(synth, tmp_path, capsys):
    assert check_dataset.main([str(tmp_path / 'nowhere')]) == 1
    assert 'is not a folder' in capsys.readouterr().out
    assert check_dataset.main([str(synth), '--splits', 'test']) == 1
    out = capsys.readouterr().out
    assert osp.join(str(synth), 'leftImg8bit', 'test') in out and '--splits' in out
