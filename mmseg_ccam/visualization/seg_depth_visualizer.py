"""Visualizer that draws segmentation and depth of one sample side by side."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from .depth_colorize import colorize_depth, depth_to_unit
from .depth_mask import NO_DEPTH_CLASSES, class_ids, mask_depth


def resize_nearest(array: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) array of any dtype (label ids, metres).

    Pixel centres are matched the way ``cv2.INTER_NEAREST_EXACT`` does, without casting the
    values (cv2 cannot resize int64 maps).
    """
    h, w = array.shape[:2]
    if (h, w) == tuple(shape):
        return array
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return array[rows[:, None], cols[None, :]]


#: Image extensions and the Cityscapes image suffix, dropped from the names of saved pictures.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
IMAGE_SUFFIX = '_leftImg8bit'


def clean_name(name: str) -> str:
    """``'test_<frame>_leftImg8bit.png'`` -> ``'test_<frame>'`` (what the backends add
    ``_<step>.png`` to); other names are kept."""
    stem, ext = osp.splitext(name)
    if ext.lower() in IMAGE_EXTENSIONS:
        name = stem
    if name.endswith(IMAGE_SUFFIX):
        name = name[:-len(IMAGE_SUFFIX)]
    return name


def _map_2d(field: PixelData) -> np.ndarray:
    """(1, H, W) PixelData (tensor or array) -> (H, W) numpy array."""
    data = field.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim == 3:
        if data.shape[0] != 1:
            raise ValueError(f'Expected a one-channel map (1, H, W), got shape {data.shape}.')
        data = data[0]
    return data


@VISUALIZERS.register_module()
class SegDepthLocalVisualizer(SegLocalVisualizer):
    """Draws image, segmentation and depth of a :class:`SegDataSample` as one picture.

    Layout (each tile has the size of ``image``)::

        image        | prediction seg overlay | prediction depth (coloured)
        (black)      | ground-truth overlay   | ground-truth depth (invalid pixels black)

    The second row is drawn when ``draw_gt`` is True and the sample has ``gt_sem_seg`` or
    ``gt_depth_map``; a column exists when either row has that task, and a missing tile is
    black, so the columns always line up. Maps of another size than ``image`` are resized
    (nearest) to it. Depth is coloured with :func:`colorize_depth` on a fixed range, so the same
    metres get the same colour in every picture and in both rows. The predicted depth of the
    ``no_depth_classes`` (sky by default: the ground truth has no depth there, so the network's
    value is arbitrary) is drawn as invalid where the predicted segmentation shows them.

    Saving follows :class:`SegLocalVisualizer`: ``show`` opens a window, ``out_file`` writes a
    PNG there, otherwise the picture goes to every ``vis_backends`` entry through
    ``add_image(name, image, step)`` (``LocalVisBackend`` writes
    ``<save_dir>/vis_data/vis_image/<name>_<step>.png``; the ``SegVisualizationHook`` passes
    ``name=f'{mode}_{basename(img_path)}'``, whose image extension and Cityscapes
    ``_leftImg8bit`` suffix are dropped: ``test_<frame>_<step>.png``, not
    ``test_<frame>_leftImg8bit.png_<step>.png``).

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        image (np.ndarray, optional): Initial RGB image. Defaults to None.
        vis_backends (list[dict], optional): Storage backends (Local, TensorBoard, ...).
        save_dir (str, optional): Root directory of the backends.
        classes (list[str], optional): Class names; Cityscapes by default.
        palette (list[list[int]], optional): RGB colour per class.
        dataset_name (str, optional): mmseg dataset name giving classes and palette.
        alpha (float): Opacity of the segmentation overlay. Defaults to 0.8.
        min_depth (float): Depth (m) of the brightest depth colour. Defaults to 1.0.
        max_depth (float): Depth (m) of the darkest depth colour. Defaults to 80.0.
        depth_mode (str): 'log', 'inverse' or 'linear' depth scale. Defaults to 'log'.
        depth_cmap (str): OpenCV colormap name. Defaults to 'magma'.
        invalid_color (sequence[int]): RGB colour of invalid depth. Defaults to black.
        no_depth_classes (sequence[str]): Class names whose predicted depth is drawn as
            invalid (names missing from the classes are ignored); ``()`` draws every pixel.
            Defaults to ``('sky',)``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[Dict]] = None,
                 save_dir: Optional[str] = None,
                 classes: Optional[List] = None,
                 palette: Optional[List] = None,
                 dataset_name: Optional[str] = None,
                 alpha: float = 0.8,
                 min_depth: float = 1.0,
                 max_depth: float = 80.0,
                 depth_mode: str = 'log',
                 depth_cmap: str = 'magma',
                 invalid_color: Sequence[int] = (0, 0, 0),
                 no_depth_classes: Sequence[str] = NO_DEPTH_CLASSES,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, alpha=alpha, **kwargs)
        # SegLocalVisualizer.__init__ passes (palette, classes) to set_dataset_meta(classes,
        # palette) in swapped order; set them again in the right order.
        self.set_dataset_meta(classes, palette, dataset_name)
        # Validate once here rather than on the first drawn sample.
        depth_to_unit(np.ones(1), min_depth, max_depth, depth_mode)
        colorize_depth(np.ones((1, 1)), min_depth, max_depth, invalid_color, depth_cmap,
                       depth_mode)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.depth_mode = depth_mode
        self.depth_cmap = depth_cmap
        self.invalid_color = tuple(int(c) for c in invalid_color)
        self.no_depth_classes = tuple(no_depth_classes or ())

    def draw_seg_overlay(self, image: np.ndarray, sem_seg: PixelData,
                         with_labels: bool = True) -> np.ndarray:
        """Blend the class colours of ``sem_seg`` over ``image`` (RGB); ids outside the class
        list (255 = ignore) are left uncoloured."""
        classes = self.dataset_meta.get('classes')
        palette = self.dataset_meta.get('palette')
        if classes is None or palette is None:
            raise ValueError('SegDepthLocalVisualizer: dataset_meta has no classes/palette; '
                             'set visualizer.dataset_meta = dataset.metainfo.')
        seg = resize_nearest(_map_2d(sem_seg), image.shape[:2])
        seg_field = PixelData(data=torch.from_numpy(seg.astype(np.int64))[None])
        return self._draw_sem_seg(image, seg_field, classes, palette, with_labels)

    def draw_depth(self, depth_map: PixelData, shape: Tuple[int, int]) -> np.ndarray:
        """Colour ``depth_map`` (metres) at ``shape`` with the visualizer's fixed range."""
        depth = resize_nearest(_map_2d(depth_map).astype(np.float32), shape)
        return colorize_depth(depth, self.min_depth, self.max_depth, self.invalid_color,
                              self.depth_cmap, self.depth_mode)

    def _masked_depth(self, depth_map: PixelData, sem_seg: PixelData) -> PixelData:
        """``depth_map`` with the ``no_depth_classes`` of ``sem_seg`` set to 0 (invalid)."""
        ids = class_ids(self.dataset_meta.get('classes') or (), self.no_depth_classes,
                        strict=False)
        if len(ids) == 0:
            return depth_map
        depth = _map_2d(depth_map).astype(np.float32)
        seg = resize_nearest(_map_2d(sem_seg), depth.shape)
        return PixelData(data=torch.from_numpy(mask_depth(depth, seg, ids))[None])

    def draw_ground_truth(self, image: np.ndarray, data_sample: SegDataSample,
                          with_labels: bool = False) -> np.ndarray:
        """One row ``image | ground-truth overlay | ground-truth depth`` (what a training
        sample holds after the pipeline; ``tools/analysis_tools/browse_dataset.py``).

        A missing ``gt_sem_seg`` leaves the image uncoloured, a missing ``gt_depth_map``
        gives a black depth tile (as invalid depth).

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            data_sample (SegDataSample): Sample with ``gt_sem_seg`` and/or ``gt_depth_map``.
            with_labels (bool): Write class names on the overlay. Defaults to False.

        Returns:
            np.ndarray: (H, 3 * W, 3) uint8 RGB.
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'SegDepthLocalVisualizer: image must be (H, W, 3) RGB, got shape '
                             f'{image.shape}.')
        shape = image.shape[:2]
        seg = (self.draw_seg_overlay(image, data_sample.gt_sem_seg, with_labels)
               if 'gt_sem_seg' in data_sample else image.copy())
        if 'gt_depth_map' in data_sample:
            depth = self.draw_depth(data_sample.gt_depth_map, shape)
        else:
            depth = np.zeros_like(image)
            depth[:] = np.asarray(self.invalid_color, dtype=np.uint8)
        drawn = np.concatenate([image, seg, depth], axis=1)
        self.set_image(drawn)
        return drawn

    def draw_sample(self,
                    image: np.ndarray,
                    data_sample: Optional[SegDataSample],
                    draw_gt: bool = True,
                    draw_pred: bool = True,
                    with_labels: bool = True) -> np.ndarray:
        """Compose the picture described in the class docstring.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            data_sample (SegDataSample, optional): Sample with any of ``pred_sem_seg``,
                ``pred_depth_map``, ``gt_sem_seg``, ``gt_depth_map``.
            draw_gt (bool): Draw the ground-truth row. Defaults to True.
            draw_pred (bool): Draw the prediction tiles. Defaults to True.
            with_labels (bool): Write class names on the overlays. Defaults to True.

        Returns:
            np.ndarray: (H * rows, W * columns, 3) uint8 RGB.
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'SegDepthLocalVisualizer: image must be (H, W, 3) RGB, got shape '
                             f'{image.shape}.')
        shape = image.shape[:2]
        sample = data_sample if data_sample is not None else SegDataSample()

        def tiles(prefix: str) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
            seg = depth = None
            if f'{prefix}_sem_seg' in sample:
                seg = self.draw_seg_overlay(image, sample.get(f'{prefix}_sem_seg'), with_labels)
            if f'{prefix}_depth_map' in sample:
                depth_map = sample.get(f'{prefix}_depth_map')
                if prefix == 'pred' and 'pred_sem_seg' in sample and self.no_depth_classes:
                    depth_map = self._masked_depth(depth_map, sample.pred_sem_seg)
                depth = self.draw_depth(depth_map, shape)
            return seg, depth

        pred = tiles('pred') if draw_pred else (None, None)
        gt = tiles('gt') if draw_gt else (None, None)
        has_column = [pred[i] is not None or gt[i] is not None for i in range(2)]
        blank = np.zeros_like(image)

        def row(first: np.ndarray, cells: Tuple[Optional[np.ndarray], ...]) -> np.ndarray:
            parts = [first] + [cell if cell is not None else blank
                               for cell, used in zip(cells, has_column) if used]
            return np.concatenate(parts, axis=1)

        rows = [row(image, pred)]
        if any(cell is not None for cell in gt):
            rows.append(row(blank, gt))
        drawn = np.concatenate(rows, axis=0)
        self.set_image(drawn)
        return drawn

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: Optional[bool] = True) -> None:
        """Draw a sample and show it, write it to ``out_file`` or send it to the backends.

        Args:
            name (str): Image identifier (backends save ``<name>_<step>.png``).
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            data_sample (SegDataSample, optional): Prediction and/or ground truth.
            draw_gt (bool): Draw the ground-truth row. Defaults to True.
            draw_pred (bool): Draw the prediction tiles. Defaults to True.
            show (bool): Show in a window instead of storing. Defaults to False.
            wait_time (float): Seconds to show the window. Defaults to 0.
            out_file (str, optional): Write the PNG here instead of to the backends.
            step (int): Global step recorded by the backends. Defaults to 0.
            with_labels (bool): Write class names on the overlays. Defaults to True.
        """
        drawn = self.draw_sample(image, data_sample, draw_gt, draw_pred, bool(with_labels))
        name = clean_name(name)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
