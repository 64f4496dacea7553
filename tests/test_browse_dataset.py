"""tools/analysis_tools/browse_dataset.py on a tiny SynthCity: one picture per sample, whose
tiles are the train pipeline's output."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, load_script
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmseg.registry import DATASETS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.visualization import colorize_depth

CONFIG = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_affinemix.py')


def browse_tool():
    return load_script('tools/analysis_tools/browse_dataset.py')


@pytest.fixture(scope='module')
def synthcity(tmp_path_factory):
    data = tmp_path_factory.mktemp('browse') / 'synthcity'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'generate_synthcity.py'), str(data),
                    '--num-train', '4', '--num-val', '1', '--height', '64', '--width', '128',
                    '--seed', '2'], check=True, env=env, capture_output=True, timeout=600)
    return data


def test_browse_dataset_draws_the_train_pipeline_output(synthcity, tmp_path):
    out = tmp_path / 'vis'
    options = [f'train_dataloader.dataset.dataset.data_root={synthcity}']
    written = browse_tool().main([CONFIG, '--output-dir', str(out), '--show-number', '3',
                                '--seed', '5', '--cfg-options', *options])
    assert sorted(os.listdir(out)) == sorted(osp.basename(f) for f in written)
    assert len(written) == 3

    # the same samples, rebuilt with the same seed
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({options[0].split('=')[0]: str(synthcity)})
    init_default_scope('mmseg')
    set_random_seed(5)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    palette = np.asarray(dataset.metainfo['palette'], np.float64)
    for index, path in enumerate(written):
        item = dataset[index]
        h, w = item['inputs'].shape[1:]
        assert (h, w) == tuple(cfg.crop_size)  # cropped, not the 64 x 128 file
        drawn = cv2.imread(path)[..., ::-1]
        assert drawn.shape == (h, 3 * w, 3)
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
        np.testing.assert_array_equal(drawn[:, :w], image)
        labels = item['data_samples'].gt_sem_seg.data[0].numpy()
        # overlay: image * (1 - alpha) + colour * alpha (alpha 0.8 in default_runtime), with
        # colour = the class palette, black for ignore (255), as mmseg's SegLocalVisualizer
        colour = np.zeros(image.shape, np.float64)
        known = labels != 255
        colour[known] = palette[labels[known]]
        expected = image * (1 - 0.8) + colour * 0.8
        np.testing.assert_array_equal(drawn[:, w:2 * w], expected.astype(np.uint8))
        depth = item['data_samples'].gt_depth_map.data[0].numpy()
        np.testing.assert_array_equal(drawn[:, 2 * w:], colorize_depth(depth, 1.0, 80.0))
        assert (depth > 0).any()


def test_browse_dataset_needs_an_output(capsys):
    with pytest.raises(SystemExit):
        browse_tool().main([CONFIG])
    assert '--output-dir' in capsys.readouterr().err
