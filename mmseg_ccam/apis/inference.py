"""Build a trained segmentation + depth model and run it on images."""
import copy
import os.path as osp
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, TRANSFORMS
from mmseg.structures import SegDataSample
from mmseg.utils import get_classes, get_palette

ImageInput = Union[str, Path, np.ndarray]

# Transforms that read ground truth from disk; inference has none, so they are dropped.
ANNOTATION_LOADERS = frozenset({
    'LoadAnnotations', 'LoadOptionalAnnotations', 'LoadCityscapesDepth', 'LoadDepthAnnotation',
    'LoadBiomedicalAnnotation'
})
# Smaller images hold nothing to segment; below the backbone's output stride (8-32 px) the
# feature maps would be 1 x 1 or empty.
MIN_IMAGE_SIDE = 16
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
IMAGE_FILE_LOADERS = frozenset({'LoadImageFromFile', 'mmseg.LoadImageFromFile',
                                'mmcv.LoadImageFromFile'})


class SegDepthDataSample(SegDataSample):
    """What :func:`inference_model` returns: MMSegmentation's :class:`SegDataSample` for one
    image, at the image's original size, with the depth prediction beside the segmentation.

    Fields, as ``mmseg.apis.inference_model`` gives them (absent when the model lacks the
    task):

    - ``pred_sem_seg`` (PixelData): ``data`` (1, H, W) int64 class ids (Cityscapes train ids);
    - ``seg_logits`` (PixelData): ``data`` (K, H, W) float32 class scores;
    - ``pred_depth_map`` (PixelData): ``data`` (1, H, W) float32 depth in metres;
    - the image meta (``img_path``, ``ori_shape``, ``img_shape``, ...).

    It is a :class:`SegDataSample` (MMSegmentation's visualizers, ``show_result_pyplot`` and
    evaluators take it); ``seg`` and ``depth`` are NumPy shortcuts.
    """

    @property
    def seg(self) -> Optional[np.ndarray]:
        """(H, W) int64 class ids from ``pred_sem_seg``; None for a depth-only model."""
        if 'pred_sem_seg' not in self:
            return None
        return self.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64)

    @property
    def depth(self) -> Optional[np.ndarray]:
        """(H, W) float32 depth in metres from ``pred_depth_map``; None for a
        segmentation-only model."""
        if 'pred_depth_map' not in self:
            return None
        return self.pred_depth_map.data[0].detach().cpu().float().numpy()


def strip_pretrained(cfg: Any) -> None:
    """Turn off every ``pretrained`` / ``init_cfg`` in a model config, in place: the
    checkpoint overwrites the weights, and pretrained files may not be reachable."""
    if isinstance(cfg, dict):
        for key in list(cfg.keys()):
            if key in ('pretrained', 'init_cfg'):
                cfg[key] = None
            else:
                strip_pretrained(cfg[key])
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            strip_pretrained(item)


def _num_classes(model: nn.Module) -> Optional[int]:
    head = getattr(model, 'decode_head', None)
    if head is None and hasattr(model, 'student'):
        head = getattr(model.student, 'decode_head', None)
    return getattr(head, 'num_classes', None) if head is not None else None


def _fallback_dataset_meta(config: Config, model: nn.Module) -> dict:
    """Classes/palette when the checkpoint has none: the config's dataset metainfo, else
    Cityscapes for a 19-class (or depth-only) model, else numbered classes."""
    dataset = config.get('test_dataloader', {}).get('dataset', {})
    metainfo = dataset.get('metainfo') if isinstance(dataset, dict) else None
    if metainfo and metainfo.get('classes') and metainfo.get('palette'):
        return dict(classes=tuple(metainfo['classes']), palette=list(metainfo['palette']))
    num_classes = _num_classes(model)
    if num_classes is None or num_classes == len(get_classes('cityscapes')):
        return dict(classes=get_classes('cityscapes'), palette=get_palette('cityscapes'))
    rng = np.random.default_rng(0)
    return dict(classes=tuple(f'class{i}' for i in range(num_classes)),
                palette=rng.integers(0, 256, (num_classes, 3)).tolist())


def init_model(config: Union[str, Path, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a model from a config and load a checkpoint, ready for :func:`inference_model`.

    Mirrors ``mmseg.apis.init_model``: with a checkpoint, ``pretrained`` and every
    ``init_cfg`` of the model config are turned off (the checkpoint provides the weights);
    ``model.dataset_meta`` comes from the checkpoint's ``meta.dataset_meta`` (written by the
    runner), else from the config's test dataset metainfo, else Cityscapes. SyncBN layers are
    turned into BatchNorm on devices other than CUDA, where SyncBN cannot run. The config is
    kept as ``model.cfg``.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file; None leaves random weights.
        device (str): Torch device. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode on ``device``.
    """
    # The package's components are registered: importing this module imported mmseg_ccam.
    from mmseg_ccam.engine import load_checkpoint_strict
    from mmseg_ccam.utils.config_check import check_cfg_options, load_checked_config
    if isinstance(config, (str, Path)):
        # The checks of tools/train.py and tools/test.py: keys, values, --cfg-options.
        config = load_checked_config(str(config), cfg_options, with_data=False)
    elif not isinstance(config, Config):
        raise TypeError(f'config must be a file name or a Config, got {type(config).__name__}.')
    else:
        config = copy.deepcopy(config)
        if cfg_options is not None:
            check_cfg_options(config, cfg_options, config.filename or 'the config')
            config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'Config {config.filename!r} has no "model" entry.')
    if checkpoint is not None:
        if osp.isdir(checkpoint) or not osp.isfile(checkpoint):
            from mmseg_ccam.engine import check_checkpoint_file
            check_checkpoint_file(checkpoint)  # a directory: says so and lists its .pth
            raise FileNotFoundError(f'Checkpoint {checkpoint!r} does not exist.')
        strip_pretrained(config.model)
    init_default_scope(config.get('default_scope', 'mmseg'))

    model = MODELS.build(config.model)
    dataset_meta = None
    if checkpoint is not None:
        # The one loading rule (tools/test.py's): a checkpoint of another architecture is
        # refused unless the config says checkpoint_mismatch='warn'.
        ckpt = load_checkpoint_strict(model, checkpoint, map_location='cpu',
                                      policy=config.get('checkpoint_mismatch', 'error'))
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        dataset_meta = meta.get('dataset_meta')
        if dataset_meta is None:
            warnings.warn(f'Checkpoint {checkpoint} has no meta.dataset_meta; classes and '
                          'palette come from the config or default to Cityscapes.', stacklevel=2)
    model.dataset_meta = dataset_meta or _fallback_dataset_meta(config, model)
    if not str(device).startswith('cuda'):
        model = revert_sync_batchnorm(model)
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _find_pipeline(cfg: Config) -> list:
    """The test pipeline: ``test_dataloader.dataset.pipeline`` (looking through one dataset
    wrapper level), else ``test_pipeline``."""
    dataset = cfg.get('test_dataloader', {}).get('dataset')
    while isinstance(dataset, dict):
        if dataset.get('pipeline') is not None:
            return list(dataset['pipeline'])
        dataset = dataset.get('dataset')
    if cfg.get('test_pipeline') is not None:
        return list(cfg.test_pipeline)
    raise KeyError(f'Config {cfg.filename!r} has neither test_dataloader.dataset.pipeline nor '
                   'test_pipeline; inference needs the test pipeline.')


def build_test_pipeline(cfg: Config, from_array: bool = False) -> Compose:
    """The config's test pipeline without the ground-truth loaders.

    Args:
        cfg (Config): Model config.
        from_array (bool): Images come as arrays: the file loader is replaced by
            ``LoadImageFromNDArray`` (same output, no file read).

    Returns:
        Compose: Callable on ``dict(img_path=...)`` or ``dict(img=...)``.
    """
    transforms = []
    for t in _find_pipeline(cfg):
        t = copy.deepcopy(dict(t))
        kind = t.get('type')
        if kind in ANNOTATION_LOADERS:
            continue
        if from_array and kind in IMAGE_FILE_LOADERS:
            t['type'] = 'LoadImageFromNDArray'
        transforms.append(TRANSFORMS.build(t))
    if not transforms or transforms[-1].__class__.__name__ != 'PackSegInputs':
        raise ValueError('The test pipeline must end with PackSegInputs, which gives the '
                         'model its inputs; check test_dataloader.dataset.pipeline.')
    return Compose(transforms)


def _to_result(sample: SegDataSample) -> SegDepthDataSample:
    """The model's output sample as a :class:`SegDepthDataSample` (same fields, same
    tensors)."""
    if 'pred_sem_seg' not in sample and 'pred_depth_map' not in sample:
        raise RuntimeError('The model returned neither pred_sem_seg nor pred_depth_map; is it a '
                           'segmentation/depth model?')
    result = SegDepthDataSample(metainfo=sample.metainfo)
    for key, value in sample.items():
        setattr(result, key, value)
    return result


def _check_size(shape: Sequence[int], what: str) -> None:
    h, w = int(shape[0]), int(shape[1])
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ValueError(f'{what} is {w}x{h} pixels; segmentation and depth need an image of '
                         f'at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} (a street scene is '
                         'hundreds of pixels wide). Pass the full-size image.')


def read_image(path: Union[str, Path]) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 BGR (``mmcv.imread``), with an error that says
    what is wrong with a file that is not a usable image.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, is not an image (e.g. a text file), is a truncated or
            corrupt image, or is smaller than ``MIN_IMAGE_SIDE`` pixels on a side.
    """
    path = str(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image {path!r} does not exist.')
    with open(path, 'rb') as f:
        content = f.read()
    if not content:
        raise ValueError(f'Image {path!r} is empty (0 bytes); the file was not written '
                         'completely. Copy or export the image again.')
    image = mmcv.imfrombytes(content, flag='color')
    if image is None:
        if content.startswith(PNG_SIGNATURE) or content[:3] == b'\xff\xd8\xff':
            kind = 'PNG' if content.startswith(PNG_SIGNATURE) else 'JPEG'
            raise ValueError(f'Image {path!r} is a {kind} file that does not decode: it is '
                             f'truncated or corrupt ({len(content)} bytes). Copy or export '
                             'the image again.')
        head = content[:24]
        shown = head.decode('utf-8', 'replace') if head.isascii() else head.hex(' ')
        raise ValueError(f'Image {path!r} is not an image OpenCV can read (it starts with '
                         f'{shown!r}); give a PNG or JPEG file.')
    _check_size(image.shape, f'Image {path!r}')
    return image


def _check_array(img: np.ndarray, index: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'Image {index}: an array input must be (H, W, 3) BGR (as mmcv.imread '
                         f'gives) or (H, W) grey, got shape {img.shape}.')
    _check_size(img.shape, f'Image {index} (an array)')
    return img


def inference_model(model: nn.Module,
                    img: Union[ImageInput, Sequence[ImageInput]]
                    ) -> Union[SegDepthDataSample, List[SegDepthDataSample]]:
    """Predict segmentation and depth for one image or a list of images.

    Called as ``mmseg.apis.inference_model`` is, and returns what it returns: one
    :class:`SegDataSample` for one image, a list for a list (or tuple), each with
    ``pred_sem_seg``, ``seg_logits`` and, here, ``pred_depth_map`` (see
    :class:`SegDepthDataSample`). Each image goes through the config's test pipeline without
    annotation loaders (see :func:`build_test_pipeline`) and ``model.test_step``;
    predictions are at the image's original size. Images are run one at a time, so a list may
    mix sizes.

    Args:
        model (nn.Module): From :func:`init_model` (needs ``model.cfg``).
        img (str | Path | np.ndarray | list): Image file(s) or (H, W, 3) uint8 BGR array(s).

    Returns:
        SegDepthDataSample | list[SegDepthDataSample]: One sample per image; a list for a list
        input.
    """
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('inference_model needs model.cfg (the config); build the model with '
                             'mmseg_ccam.apis.init_model.')
    is_batch = isinstance(img, (list, tuple))
    images = list(img) if is_batch else [img]
    if not images:
        return []
    pipelines = {}
    results = []
    for index, image in enumerate(images):
        from_array = isinstance(image, np.ndarray)
        if from_array:
            data = dict(img=_check_array(image, index))
        elif isinstance(image, (str, Path)):
            read_image(image)  # a clear error for files that are not usable images
            data = dict(img_path=str(image))
        else:
            raise TypeError(f'Image {index}: expected a file name or an array, got '
                            f'{type(image).__name__}.')
        if from_array not in pipelines:
            pipelines[from_array] = build_test_pipeline(cfg, from_array)
        data = pipelines[from_array](data)
        batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
        with torch.no_grad():
            sample = model.test_step(batch)[0]
        results.append(_to_result(sample))
    return results if is_batch else results[0]


__all__ = ['SegDepthDataSample', 'init_model', 'inference_model', 'build_test_pipeline',
           'read_image', 'strip_pretrained', 'ANNOTATION_LOADERS', 'MIN_IMAGE_SIDE']
