"""The README's command line, end to end on a tiny SynthCity: train, test --out --show-dir."""
import json
import os
import os.path as osp

import cv2
import pytest
from conftest import ROOT, run_python

CONFIG = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
H, W = 64, 128


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cli')
    data = tmp / 'synthcity'
    run_python([osp.join(ROOT, 'tools', 'generate_synthcity.py'), str(data), '--num-train', '4',
                '--num-val', '3', '--height', str(H), '--width', str(W), '--seed', '1'], tmp)
    roots = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    work = tmp / 'work'
    run_python([osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', str(work),
                '--cfg-options', *roots, 'train_dataloader.batch_size=2',
                'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
                'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
                'default_hooks.checkpoint.interval=2'], tmp)
    ckpt = (work / 'last_checkpoint').read_text().strip()
    return tmp, data, roots, ckpt


def test_test_py_writes_metrics_json_and_one_png_per_image(trained):
    tmp, data, roots, ckpt = trained
    assert osp.basename(ckpt) == 'iter_2.pth'
    out, show = tmp / 'metrics.json', tmp / 'show'
    stdout = run_python([osp.join(ROOT, 'tools', 'test.py'), CONFIG, ckpt, '--work-dir',
                         str(tmp / 'test'), '--out', str(out), '--show-dir', str(show),
                         '--cfg-options', *roots, 'test_dataloader.num_workers=0',
                         'test_dataloader.persistent_workers=False'], tmp).stdout
    metrics = json.loads(out.read_text())
    for key in ('mIoU', 'aAcc', 'mAcc', 'abs_rel', 'rmse', 'd1', 'IoU.road'):
        assert key in metrics, key
    assert 0.0 <= metrics['d1'] <= 1.0 and metrics['abs_rel'] > 0
    # the printed table carries the same numbers as the JSON
    assert f"{metrics['abs_rel']:.4f}" in stdout and f"{metrics['d1']:.4f}" in stdout

    frames = sorted(f[:-len('_leftImg8bit.png')]
                    for _, _, files in os.walk(data / 'leftImg8bit' / 'val') for f in files)
    pngs = sorted(osp.join(d, f) for d, _, files in os.walk(show) for f in files
                  if f.endswith('.png'))
    assert len(pngs) == len(frames) == 3
    for frame, png in zip(frames, pngs):
        assert osp.basename(png) == f'test_{frame}_0.png'  # not test_<frame>_leftImg8bit.png_0.png
        # image | seg overlay | coloured depth, over ground truth: 2 rows x 3 tiles
        assert cv2.imread(png).shape == (2 * H, 3 * W, 3)
