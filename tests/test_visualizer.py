"""colorize_depth values and the SegDepthLocalVisualizer layout and saving."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401
from mmseg_ccam.visualization import SegDepthLocalVisualizer, colorize_depth, resize_nearest


def opencv_colour(cmap_id: int, grey: int) -> np.ndarray:
    """RGB colour of one grey level straight from cv2.applyColorMap (reference)."""
    bgr = cv2.applyColorMap(np.full((1, 1), grey, np.uint8), cmap_id)[0, 0]
    return bgr[::-1]


def test_colorize_depth_inverse_values():
    # inverse scale over 1..4 m: t = (1/z - 1/4) / (1 - 1/4)
    depth = np.array([[1.0, 2.0, 4.0, 0.0], [0.5, 100.0, np.nan, -3.0]], np.float32)
    out = colorize_depth(depth, min_depth=1.0, max_depth=4.0, invalid_color=(1, 2, 3),
                         cmap='magma', mode='inverse')
    assert out.shape == (2, 4, 3) and out.dtype == np.uint8
    magma = cv2.COLORMAP_MAGMA
    np.testing.assert_array_equal(out[0, 0], opencv_colour(magma, 255))  # t = 1
    np.testing.assert_array_equal(out[0, 1], opencv_colour(magma, 85))  # t = 1/3 -> 85
    np.testing.assert_array_equal(out[0, 2], opencv_colour(magma, 0))  # t = 0
    np.testing.assert_array_equal(out[1, 0], opencv_colour(magma, 255))  # nearer: clipped
    np.testing.assert_array_equal(out[1, 1], opencv_colour(magma, 0))  # farther: clipped
    for v, u in ((0, 3), (1, 2), (1, 3)):  # 0, NaN and negative depth are invalid
        np.testing.assert_array_equal(out[v, u], [1, 2, 3])


def test_colorize_depth_log_and_linear_values():
    depth = np.array([[10.0, 1.0, 100.0]])
    log = colorize_depth(depth, 1.0, 100.0, cmap='turbo', mode='log')
    # log10(100/10) / log10(100/1) = 0.5 -> rint(127.5) = 128
    np.testing.assert_array_equal(log[0, 0], opencv_colour(cv2.COLORMAP_TURBO, 128))
    np.testing.assert_array_equal(log[0, 1], opencv_colour(cv2.COLORMAP_TURBO, 255))
    lin = colorize_depth(np.array([[25.0]]), 0.5, 50.5, cmap='viridis', mode='linear')
    # (50.5 - 25) / 50 = 0.51 -> rint(130.05) = 130
    np.testing.assert_array_equal(lin[0, 0], opencv_colour(cv2.COLORMAP_VIRIDIS, 130))


def test_colorize_depth_accepts_tensor_and_rejects_bad_input():
    t = torch.tensor([[[2.0, 3.0]]])
    np.testing.assert_array_equal(colorize_depth(t), colorize_depth(t.numpy()[0]))
    with pytest.raises(ValueError, match='min_depth'):
        colorize_depth(np.ones((2, 2)), min_depth=5.0, max_depth=5.0)
    with pytest.raises(ValueError, match='colormap'):
        colorize_depth(np.ones((2, 2)), cmap='rainbow-unicorn')
    with pytest.raises(ValueError, match='mode'):
        colorize_depth(np.ones((2, 2)), mode='cubic')


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.05, 200.0), min_size=2, max_size=20),
       st.sampled_from(['log', 'inverse', 'linear']))
def test_colour_is_fixed_per_depth_and_ordered(values, mode):
    """A depth gets the same colour in any image (fixed scale), and nearer is never darker on
    the grey level (compare via the grey index: magma is monotone in lightness)."""
    depth = np.asarray(values, np.float32)[None]
    together = colorize_depth(depth, 1.0, 80.0, mode=mode)
    for i, z in enumerate(values):
        alone = colorize_depth(np.array([[z]], np.float32), 1.0, 80.0, mode=mode)
        np.testing.assert_array_equal(together[0, i], alone[0, 0])
    grey = cv2.cvtColor(together, cv2.COLOR_RGB2GRAY)[0].astype(int)
    order = np.argsort(depth[0], kind='stable')
    assert np.all(np.diff(grey[order]) <= 1)  # farther -> not brighter (1 level of rounding)


def test_resize_nearest_matches_pixel_centres():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    np.testing.assert_array_equal(resize_nearest(a, (4, 6)), np.repeat(np.repeat(a, 2, 0), 2, 1))
    np.testing.assert_array_equal(resize_nearest(np.repeat(np.repeat(a, 2, 0), 2, 1), (2, 3)), a)


def make_visualizer(name: str, **kwargs) -> SegDepthLocalVisualizer:
    vis = SegDepthLocalVisualizer(name=name, alpha=0.5, min_depth=1.0, max_depth=16.0, **kwargs)
    vis.dataset_meta = dict(classes=('a', 'b'), palette=[[200, 0, 0], [0, 0, 200]])
    return vis


def make_sample(h: int = 4, w: int = 6, gt: bool = True) -> SegDataSample:
    sample = SegDataSample()
    seg = torch.zeros(1, h, w, dtype=torch.long)
    seg[..., w // 2:] = 1
    sample.pred_sem_seg = PixelData(data=seg)
    sample.pred_depth_map = PixelData(data=torch.full((1, h, w), 4.0))
    if gt:
        gt_seg = torch.ones(1, h, w, dtype=torch.long)
        gt_seg[0, 0] = 255
        sample.gt_sem_seg = PixelData(data=gt_seg)
        gt_depth = torch.full((1, h, w), 16.0)
        gt_depth[0, :, 0] = 0.0  # invalid column
        sample.gt_depth_map = PixelData(data=gt_depth)
    return sample


def test_layout_values_of_every_tile():
    h, w = 4, 6
    image = np.full((h, w, 3), 100, np.uint8)
    vis = make_visualizer('vis_layout')
    drawn = vis.draw_sample(image, make_sample(h, w), with_labels=False)
    assert drawn.shape == (2 * h, 3 * w, 3)
    np.testing.assert_array_equal(drawn[:h, :w], image)
    # overlay = image * (1 - alpha) + palette * alpha, alpha = 0.5
    np.testing.assert_array_equal(drawn[0, w], [150, 50, 50])
    np.testing.assert_array_equal(drawn[0, w + w - 1], [50, 50, 150])
    # depth 4 m on log 1..16 m: t = 0.5 -> grey 128; 16 m -> 0; invalid -> black
    np.testing.assert_array_equal(drawn[0, 2 * w], opencv_colour(cv2.COLORMAP_MAGMA, 128))
    np.testing.assert_array_equal(drawn[h:, :w], 0)  # blank first tile of the GT row
    np.testing.assert_array_equal(drawn[h, w + 1], [50, 50, 50])  # 255 = ignore: uncoloured
    np.testing.assert_array_equal(drawn[h + 1, w + 1], [50, 50, 150])
    np.testing.assert_array_equal(drawn[h + 1, 2 * w], [0, 0, 0])
    np.testing.assert_array_equal(drawn[h + 1, 2 * w + 1], opencv_colour(cv2.COLORMAP_MAGMA, 0))
    np.testing.assert_array_equal(vis.get_image(), drawn)


def test_layout_without_gt_and_with_smaller_maps():
    vis = make_visualizer('vis_no_gt')
    image = np.zeros((8, 12, 3), np.uint8)
    sample = make_sample(4, 6, gt=False)  # half-size maps are resized to the image
    drawn = vis.draw_sample(image, sample, with_labels=False)
    assert drawn.shape == (8, 36, 3)
    np.testing.assert_array_equal(drawn[:, 12:18], np.broadcast_to([100, 0, 0], (8, 6, 3)))
    np.testing.assert_array_equal(drawn[:, 18:24], np.broadcast_to([0, 0, 100], (8, 6, 3)))
    only_depth = SegDataSample()
    only_depth.gt_depth_map = PixelData(data=torch.full((1, 8, 12), 2.0))
    drawn = vis.draw_sample(image, only_depth)
    # no segmentation anywhere -> no segmentation column; the prediction tile is blank
    assert drawn.shape == (16, 24, 3)
    np.testing.assert_array_equal(drawn[:8, 12:], 0)


def test_constructor_keeps_classes_and_palette_apart():
    vis = SegDepthLocalVisualizer(name='vis_meta', classes=['x', 'y'],
                                  palette=[[1, 2, 3], [4, 5, 6]])
    assert list(vis.dataset_meta['classes']) == ['x', 'y']
    assert vis.dataset_meta['palette'] == [[1, 2, 3], [4, 5, 6]]


def test_registry_build_and_backend_file_name_like_the_hook(tmp_path):
    vis = VISUALIZERS.build(dict(type='SegDepthLocalVisualizer', name='vis_backend',
                                 vis_backends=[dict(type='LocalVisBackend')],
                                 save_dir=str(tmp_path), min_depth=1.0, max_depth=16.0))
    vis.dataset_meta = dict(classes=('a', 'b'), palette=[[200, 0, 0], [0, 0, 200]])
    image = np.full((4, 6, 3), 100, np.uint8)
    # SegVisualizationHook calls add_datasample(f'{mode}_{basename}', img, data_sample=...,
    # show=..., wait_time=..., step=runner.iter)
    vis.add_datasample('val_frame_leftImg8bit.png', image, data_sample=make_sample(),
                       show=False, wait_time=0, step=7)
    files = glob.glob(osp.join(tmp_path, '**', '*.png'), recursive=True)
    # the name loses '.png' and '_leftImg8bit': val_frame_7.png, not val_frame_leftImg8bit.png_7.png
    expected = osp.join(tmp_path, 'vis_data', 'vis_image', 'val_frame_7.png')
    assert files == [expected]
    saved = cv2.imread(expected)[..., ::-1]
    np.testing.assert_array_equal(saved, vis.get_image())

    out_file = tmp_path / 'single.png'
    vis.add_datasample('x', image, make_sample(), draw_gt=False, out_file=str(out_file))
    saved = cv2.imread(str(out_file))[..., ::-1]
    assert saved.shape == (4, 18, 3)
    np.testing.assert_array_equal(saved, vis.get_image())


def test_seg_visualization_hook_saves_through_our_visualizer(tmp_path):
    """What tools/test.py --show-dir triggers: SegVisualizationHook -> add_datasample."""
    from types import SimpleNamespace

    from mmseg.engine.hooks import SegVisualizationHook

    SegDepthLocalVisualizer.get_instance(
        'vis_hook', vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path / 'show'),
        min_depth=1.0, max_depth=16.0)
    vis = SegDepthLocalVisualizer.get_current_instance()
    vis.dataset_meta = dict(classes=('a', 'b'), palette=[[200, 0, 0], [0, 0, 200]])
    image = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    img_path = str(tmp_path / 'frame_leftImg8bit.png')
    cv2.imwrite(img_path, image[..., ::-1])
    sample = make_sample()
    sample.set_metainfo(dict(img_path=img_path))
    hook = SegVisualizationHook(draw=True, interval=1)
    hook._after_iter(SimpleNamespace(iter=5), 0, {}, [sample], mode='test')
    saved = osp.join(tmp_path, 'show', 'vis_data', 'vis_image', 'test_frame_5.png')
    drawn = cv2.imread(saved)[..., ::-1]
    assert drawn.shape == (8, 18, 3)
    np.testing.assert_array_equal(drawn[:4, :6], image)


def test_tensorboard_backend_receives_the_panel(tmp_path):
    """vis_backends=[TensorboardVisBackend] (MMEngine) logs the same panel as an image event."""
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vis = VISUALIZERS.build(dict(type='SegDepthLocalVisualizer', name='vis_tensorboard',
                                 vis_backends=[dict(type='TensorboardVisBackend')],
                                 save_dir=str(tmp_path), min_depth=1.0, max_depth=16.0))
    vis.dataset_meta = dict(classes=('a', 'b'), palette=[[200, 0, 0], [0, 0, 200]])
    image = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    vis.add_datasample('val_frame', image, data_sample=make_sample(), step=3)
    panel = vis.get_image()
    vis.close()  # flushes the event file
    events = glob.glob(osp.join(tmp_path, '**', 'events.out.tfevents.*'), recursive=True)
    assert len(events) == 1
    acc = EventAccumulator(events[0], size_guidance={'images': 0})
    acc.Reload()
    assert acc.Tags()['images'] == ['val_frame']
    (event,) = acc.Images('val_frame')
    assert (event.step, event.height, event.width) == (3, panel.shape[0], panel.shape[1])
    decoded = cv2.imdecode(np.frombuffer(event.encoded_image_string, np.uint8),
                           cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(decoded, panel)


def test_predicted_depth_of_sky_is_drawn_invalid_by_default_with_a_switch():
    h, w = 4, 6
    image = np.full((h, w, 3), 100, np.uint8)
    sample = make_sample(h, w, gt=False)  # class 1 on the right half, 4 m everywhere
    grey4m = opencv_colour(cv2.COLORMAP_MAGMA, 128)
    for no_depth, right in ((('sky', ), [0, 0, 0]), ((), grey4m)):
        vis = make_visualizer('vis_sky', no_depth_classes=no_depth)
        vis.dataset_meta = dict(classes=('road', 'sky'), palette=[[200, 0, 0], [0, 0, 200]])
        drawn = vis.draw_sample(image, sample, with_labels=False)
        np.testing.assert_array_equal(drawn[:, 2 * w:2 * w + w // 2],
                                      np.broadcast_to(grey4m, (h, w // 2, 3)))
        np.testing.assert_array_equal(drawn[:, 2 * w + w // 2:],
                                      np.broadcast_to(right, (h, w - w // 2, 3)))
    # the default: masked; classes without a 'sky' leave every pixel drawn
    assert SegDepthLocalVisualizer(name='vis_sky_default').no_depth_classes == ('sky', )
    vis = make_visualizer('vis_sky_absent')
    drawn = vis.draw_sample(image, sample, with_labels=False)
    np.testing.assert_array_equal(drawn[0, 3 * w - 1], grey4m)
