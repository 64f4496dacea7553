"""SynthCity as a test bed: held-out and colour-shifted splits, appearance modes, workers."""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest

from mmseg_ccam.datasets.synthcity.appearance import hue_rotation
from mmseg_ccam.datasets.synthcity.generator import generate_synthcity, render_frame

H, W = 48, 96

# sha256 of image + label ids + depth bytes, rendered by the generator before the appearance
# modes and the extra splits existed ('classic' must keep producing exactly these frames), re-pinned
# when the camera's principal point moved to the pixel-centre convention of
# CameraParams.scaled_to.
PINNED = {
    ('train', 0): '9b32db7e92176ae8f94fe9af17e3367518abff1357877600655ed987ba571623',
    ('train', 7): 'f8bb75beb2b5fddf973fc0b306f94602d8371a0e1a3da651f3e66c73affdd545',
    ('val', 1): '0680d1306b6ab32297346016cc15b15b51fcaa4f58a64a1dbb1523d0822b3a8a',
    ('test', 2): '9870dbbc194ad0e872a9cb150d004825b0a33e4d802ca3c4cea449be35484af3',
}


def _frame_hash(frame) -> str:
    h = hashlib.sha256()
    for a in (frame.image, frame.label_ids, frame.depth):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = osp.join(d, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


@pytest.mark.parametrize('split,index', sorted(PINNED))
def test_classic_frames_are_those_of_earlier_versions(split, index):
    assert _frame_hash(render_frame(0, split, index, H, W)) == PINNED[(split, index)]


def test_new_splits_leave_train_and_val_files_byte_identical(tmp_path):
    kw = dict(num_train=3, num_val=2, height=H, width=W, seed=3, progress=False)
    generate_synthcity(str(tmp_path / 'a'), **kw)
    generate_synthcity(str(tmp_path / 'b'), num_test=2, num_test_shift=2, num_unlabeled=2, **kw)
    a, b = _tree(tmp_path / 'a'), _tree(tmp_path / 'b')
    assert a and all(b[k] == v for k, v in a.items())
    extra = {k.split(os.sep)[1] for k in set(b) - set(a)}
    assert extra == {'test', 'test_shift', 'unlabeled'}


def test_splits_have_independent_streams_and_frames_do_not_depend_on_counts(tmp_path):
    images = {s: render_frame(5, s, 0, H, W).image for s in ('train', 'val', 'test', 'unlabeled')}
    names = sorted(images)
    for i, s in enumerate(names):
        for t in names[i + 1:]:
            assert not np.array_equal(images[s], images[t]), (s, t)
    # the test frames are the same whether 1 or 3 are generated: (seed, split, index) only
    kw = dict(num_train=0, num_val=0, height=H, width=W, seed=5, progress=False)
    generate_synthcity(str(tmp_path / 'one'), num_test=1, **kw)
    generate_synthcity(str(tmp_path / 'three'), num_test=3, **kw)
    one, three = _tree(tmp_path / 'one'), _tree(tmp_path / 'three')
    assert len(one) == 5 and len(three) == 15
    assert all(three[k] == v for k, v in one.items())


@pytest.mark.parametrize('mode', ['varied', 'shifted'])
def test_appearance_changes_colours_not_labels_or_depth(mode):
    classic = render_frame(1, 'train', 4, H, W)
    other = render_frame(1, 'train', 4, H, W, appearance=mode)
    np.testing.assert_array_equal(other.label_ids, classic.label_ids)
    np.testing.assert_array_equal(other.depth, classic.depth)
    np.testing.assert_array_equal(other.disparity, classic.disparity)
    assert np.abs(other.image.astype(int) - classic.image.astype(int)).mean() > 5


def _colour_label_depth_hists(split, n=12, appearance='varied'):
    colour, label, depth = np.zeros(512), np.zeros(256), np.zeros(16)
    for i in range(n):
        f = render_frame(0, split, i, 64, 128, appearance=appearance)
        q = (f.image // 32).astype(int)
        colour += np.bincount((q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]).ravel(),
                              minlength=512)
        label += np.bincount(f.train_ids.ravel(), minlength=256)
        depth += np.histogram(f.depth[f.depth > 0], bins=16, range=(0, 80))[0]
    return [h / h.sum() for h in (colour, label, depth)]


def _tv(a, b):
    return 0.5 * np.abs(a - b).sum()


def test_colour_shifted_split_differs_in_colour_not_in_labels_or_depth():
    test = _colour_label_depth_hists('test')
    shift = _colour_label_depth_hists('test_shift')
    val = _colour_label_depth_hists('val')
    # label and depth histograms: the same frames' geometry, so identical
    assert _tv(test[1], shift[1]) == 0 and _tv(test[2], shift[2]) == 0
    # colour: the shift moves the RGB histogram (8^3 bins) much further than drawing other
    # frames of the same look does (test vs val, sampling noise of 12 frames)
    assert _tv(test[0], shift[0]) > 0.35
    assert _tv(test[0], shift[0]) > 1.6 * _tv(test[0], val[0])
    # label / depth statistics of test vs val differ by sampling only
    assert _tv(test[1], val[1]) < 0.15 and _tv(test[2], val[2]) < 0.15


def test_varied_appearance_spreads_instance_colours():
    # Per-frame mean colour of building pixels: its spread over frames grows with
    # per-instance tints and time of day.
    def spread(mode):
        means = []
        for i in range(10):
            f = render_frame(2, 'train', i, 64, 128, appearance=mode)
            m = f.train_ids == 2
            if m.sum() > 50:
                means.append(f.image[m].mean(0))
        return np.std(np.array(means), axis=0).mean()
    assert spread('varied') > 1.2 * spread('classic')


def test_hue_rotation_matrix():
    grey = np.array([0.3, 0.3, 0.3], np.float32)
    for theta in (0.4, 2.0, 5.0):
        np.testing.assert_allclose(hue_rotation(theta) @ grey, grey, atol=1e-6)
    # 120 degrees cycles the primaries: red -> green -> blue
    m = hue_rotation(2 * np.pi / 3)
    np.testing.assert_allclose(m @ np.array([1., 0., 0.]), [0., 1., 0.], atol=1e-6)
    np.testing.assert_allclose(m @ np.array([0., 1., 0.]), [0., 0., 1.], atol=1e-6)
    np.testing.assert_allclose(hue_rotation(0.0), np.eye(3), atol=1e-7)


def test_workers_write_the_same_files_as_serial(tmp_path):
    kw = dict(num_train=3, num_val=1, num_test=2, num_test_shift=2, num_unlabeled=3,
              height=H, width=W, seed=4, progress=False, appearance='varied')
    s1 = generate_synthcity(str(tmp_path / 'serial'), workers=1, **kw)
    s2 = generate_synthcity(str(tmp_path / 'parallel'), workers=2, **kw)
    a, b = _tree(tmp_path / 'serial'), _tree(tmp_path / 'parallel')
    assert len(a) == 5 * 11 and a == b
    s1.pop('out_dir'), s2.pop('out_dir')
    assert s1 == s2
    assert s1['num_frames'] == dict(train=3, val=1, test=2, test_shift=2, unlabeled=3)
    # test_shift has the test frames' labels: the same class pixel counts
    assert s1['test_shift']['class_pixels'] == s1['test']['class_pixels']


def test_bad_testbed_arguments_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='workers'):
        generate_synthcity(str(tmp_path), num_train=1, num_val=0, workers=0, progress=False)
    with pytest.raises(ValueError, match='num-test-shift'):
        generate_synthcity(str(tmp_path), num_train=1, num_val=0, appearance='shifted',
                           progress=False)
    with pytest.raises(ValueError, match='num_test'):
        generate_synthcity(str(tmp_path), num_train=1, num_val=0, num_test=-1, progress=False)
    with pytest.raises(ValueError, match='appearance'):
        render_frame(0, 'train', 0, H, W, appearance='sepia')
