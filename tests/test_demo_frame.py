"""The committed demo frame (demo/synthcity_val*) is the val frame it names, as the current
generator renders it: the image, labels, disparity and camera of val frame 0 at seed 0, 256x512
(what `make demo` generates). One frame is rendered (a frame depends only on seed, split, index)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from conftest import ROOT, load_script

from mmseg_ccam.datasets.synthcity.generator import frame_name, render_frame

DEMO = osp.join(ROOT, 'demo')


@pytest.fixture(scope='module')
def maker():
    return load_script('demo/make_demo_frame.py')


@pytest.fixture(scope='module')
def frame():
    # make demo: generate_synthcity.py data/synthcity --height 256 --width 512 --seed 0
    return render_frame(seed=0, split='val', index=0, height=256, width=512)


def test_demo_frame_is_the_val_frame_it_names(frame):
    # docs/model_zoo.md and the README name it fairhaven_000000_000019
    assert frame.name == 'fairhaven_000000_000019' == frame_name('val', 0)[1]
    image = cv2.imread(osp.join(DEMO, 'synthcity_val.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(image, frame.image[..., ::-1])  # file BGR, frame RGB
    labels = cv2.imread(osp.join(DEMO, 'synthcity_val_labelTrainIds.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels, frame.train_ids)
    disparity = cv2.imread(osp.join(DEMO, 'synthcity_val_disparity.png'), cv2.IMREAD_UNCHANGED)
    assert disparity.dtype == np.uint16
    np.testing.assert_array_equal(disparity, frame.disparity)
    with open(osp.join(DEMO, 'synthcity_val_camera.json'), encoding='utf-8') as f:
        assert json.load(f) == frame.camera


def test_make_demo_frame_writes_the_generators_bytes(maker, frame, tmp_path):
    from mmseg_ccam.datasets.synthcity.generator import write_frame
    written = maker.main(['--out-dir', str(tmp_path / 'demo')])
    paths = write_frame(str(tmp_path / 'data'), 'val', frame)  # what generate_synthcity writes
    for kind, name in maker.DEMO_FILES.items():
        assert osp.basename(written[kind]) == name
        with open(written[kind], 'rb') as a, open(paths[kind], 'rb') as b:
            assert a.read() == b.read(), kind
