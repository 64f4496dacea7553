"""Loading transforms: Cityscapes disparity → metric depth, and optional segmentation labels.

Both loaders check what they read (decodes, size matches the image, label ids in range, a valid
depth pixel) with :mod:`mmseg_ccam.datasets.validation`, so their messages match
``tools/check_dataset.py``; the camera JSON and the disparity codec are those of
:mod:`mmseg_ccam.datasets.cityscapes_geometry`.
"""
import warnings
from typing import Optional, Tuple

import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from .. import validation as V
from ..cityscapes_geometry import disparity_png_to_depth, parse_stereo


def _read(path: str, key: str, backend_args: Optional[dict]) -> bytes:
    """File content, or a FileNotFoundError naming the file and the data_prefix key."""
    try:
        return fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as err:
        raise FileNotFoundError(V.missing_file(path, key)) from err


def _only_resized(results: dict, size: tuple) -> bool:
    """Whether the image differs from the original ``size`` (H, W) by a resize alone."""
    scale = results.get('scale_factor')
    if scale is None or results.get('flip', False):
        return False
    h, w = results['img_shape'][:2]
    return abs(size[0] * scale[1] - h) <= 1 and abs(size[1] * scale[0] - w) <= 1


@TRANSFORMS.register_module()
class LoadCityscapesDepth(BaseTransform):
    """Load a Cityscapes disparity PNG and its camera JSON as metric depth.

    Place it right after the image/label loaders, before any geometric transform; it appends
    ``'gt_depth_map'`` to ``seg_fields`` so ``RandomResize``/``RandomCrop``/``RandomFlip`` move
    depth with the image (nearest neighbour) and ``PackSegInputs`` packs it.

    Required Keys:

    - depth_path (str): ``disparity/<split>/<city>/<frame>_disparity.png`` (uint16).
    - camera_path (str): ``camera/<split>/<city>/<frame>_camera.json``.

    Added Keys:

    - gt_depth_map (np.ndarray): float32 ``(H, W)`` depth in metres, 0 = invalid.
    - depth_valid (bool): Whether ``gt_depth_map`` has a valid (> 0) pixel. A frame without
      one is kept (a ``UserWarning`` names its file): it trains segmentation only, since the
      segmentor skips the depth loss of samples without valid depth. Add ``'depth_valid'`` to
      ``PackSegInputs(meta_keys=...)`` to see it in the data samples.
    - seg_fields (list): ``'gt_depth_map'`` appended (created if missing).

    Args:
        max_depth (float, optional): Depth beyond it is marked invalid (0). Defaults to 80.0.
        backend_args (dict, optional): MMEngine file backend arguments. Defaults to None.
    """

    def __init__(self, max_depth: Optional[float] = 80.0,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.backend_args = backend_args.copy() if backend_args else None

    def _get(self, results: dict, key: str) -> Tuple[str, bytes]:
        path = results.get(key)
        if path is None:
            raise KeyError(f'LoadCityscapesDepth: results has no {key!r}; configure '
                           f'data_prefix.{key} of CityscapesDepthDataset (img: '
                           f'{results.get("img_path")})')
        return path, _read(path, key, self.backend_args)

    def transform(self, results: dict) -> dict:
        """Add ``gt_depth_map`` to ``results``.

        Args:
            results (dict): Result dict with ``depth_path`` and ``camera_path``.

        Returns:
            dict: ``results`` with ``gt_depth_map`` added.
        """
        depth_path, content = self._get(results, 'depth_path')
        disparity = V.decode_png(content)
        problem = V.disparity_problem(disparity, depth_path)
        if problem:
            raise ValueError(problem)
        camera_path, camera_bytes = self._get(results, 'camera_path')
        baseline, fx = parse_stereo(camera_bytes, camera_path)

        size = tuple(disparity.shape[:2])
        ori_shape = results.get('ori_shape')
        if ori_shape is not None:
            problem = V.size_problem(depth_path, 'disparity', size,
                                     results.get('img_path'), ori_shape)
            if problem:
                raise ValueError(problem)
        img_shape = results.get('img_shape')
        if img_shape is not None and tuple(img_shape[:2]) != size \
                and not _only_resized(results, size):
            # Loading after a plain Resize is the evaluation convention (depth stays at the
            # original resolution, like mmseg's test pipelines load labels after Resize); after a
            # crop or flip the depth would no longer line up with the image.
            raise ValueError(
                f'LoadCityscapesDepth: image {results.get("img_path")} was already reshaped to '
                f'{tuple(img_shape[:2])} but disparity {depth_path} is {size}; put '
                f'LoadCityscapesDepth before geometric transforms (Resize, Crop, ...)')

        depth = disparity_png_to_depth(disparity, baseline=baseline, fx=fx,
                                       max_depth=self.max_depth)
        depth_valid = bool(depth.any())
        if not depth_valid:
            # Not an error: the segmentor skips the depth loss of such a sample (num_no_depth),
            # so the frame still trains segmentation. Python warns once per file and process.
            warnings.warn(V.no_valid_depth_message(
                depth_path, self.max_depth, int(np.count_nonzero(disparity > 1))), stacklevel=2)
        results['gt_depth_map'] = depth
        results['depth_valid'] = depth_valid
        results.setdefault('seg_fields', []).append('gt_depth_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_depth={self.max_depth}, '
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class LoadOptionalAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that tolerates frames without a segmentation label, and checks labels.

    When ``results['seg_map_path']`` is None (or absent) it writes an all-``ignore_index`` uint8
    ``gt_seg_map`` of the current image size and registers it in ``seg_fields``, so labeled and
    unlabeled frames share one pipeline. Otherwise it loads the label like ``LoadAnnotations``
    (same ``imdecode_backend``, Pillow by default, and the same ``reduce_zero_label`` /
    ``label_map`` handling) and raises an error naming the file when it is missing, does not
    decode, is not single-channel, holds values that do not fit uint8 (a 16-bit PNG; mmseg
    would wrap them silently), differs in size from the image
    (``ori_shape``, when the image was loaded first) or holds ids outside
    ``[0, num_classes)`` other than ``ignore_index``. Load the image first.

    Args:
        ignore_index (int): Value of the placeholder map, and the id allowed outside the class
            range. Defaults to 255.
        num_classes (int, optional): Number of classes for the id check; None takes
            ``results['num_classes']`` (set by :class:`CityscapesDepthDataset`) and skips the
            check when that is absent too. Defaults to None.
        **kwargs: Passed to :class:`mmseg.datasets.transforms.LoadAnnotations`.
    """

    def __init__(self, ignore_index: int = 255, num_classes: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.ignore_index = ignore_index
        self.num_classes = num_classes

    def _load_seg_map(self, results: dict) -> None:
        results.setdefault('seg_fields', [])
        path = results.get('seg_map_path')
        if path is not None:
            self._load_checked(results, path)
            return
        shape = results.get('img_shape', results.get('ori_shape'))
        if shape is None:
            raise KeyError(f'LoadOptionalAnnotations: frame {results.get("img_path")} has no '
                           f'seg_map_path and no img_shape; load the image (LoadImageFromFile) '
                           f'before the annotations so the placeholder map gets its size')
        results['gt_seg_map'] = np.full(tuple(shape[:2]), self.ignore_index, dtype=np.uint8)
        results['seg_fields'].append('gt_seg_map')

    def _load_checked(self, results: dict, path: str) -> None:
        """``LoadAnnotations._load_seg_map`` (mmseg 1.2) with the checks of the docstring."""
        seg = V.decode_png(_read(path, 'seg_map_path', self.backend_args),
                           backend=self.imdecode_backend)
        problem = V.label_problem(seg, path)
        if problem is None and results.get('ori_shape') is not None:
            problem = V.size_problem(path, 'label', seg.shape, results.get('img_path'),
                                     results['ori_shape'])
        if problem:
            raise ValueError(problem)
        seg = seg.astype(np.uint8)
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        assert self.reduce_zero_label == results['reduce_zero_label'], \
            'Initialize dataset with `reduce_zero_label` as ' \
            f'{results["reduce_zero_label"]} but when load annotation ' \
            f'the `reduce_zero_label` is {self.reduce_zero_label}'
        if self.reduce_zero_label:
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        if results.get('label_map', None) is not None:
            # copy: a chain of old -> new ids must not be applied twice (mmseg PR 1445)
            original = seg.copy()
            for old_id, new_id in results['label_map'].items():
                seg[original == old_id] = new_id
        num_classes = self.num_classes if self.num_classes is not None else \
            results.get('num_classes')
        if num_classes is not None:
            problem = V.label_ids_problem(seg, path, num_classes, self.ignore_index)
            if problem:
                raise ValueError(problem)
        results['gt_seg_map'] = seg
        results['seg_fields'].append('gt_seg_map')

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', ignore_index={self.ignore_index}, '
                f'num_classes={self.num_classes})')
