"""Test-time augmentation (multi-scale + flip) for joint segmentation + depth models."""
import copy
import warnings
from typing import List, Optional

import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import SampleList
from torch import Tensor

from mmseg_ccam.utils.train_scales import views_outside_training


def _to_shape(x: Tensor, shape: tuple, align_corners: bool) -> Tensor:
    """(C, H, W) resized bilinearly to ``shape`` (H0, W0); unchanged when it already has it."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x[None].float(), size=tuple(shape), mode='bilinear',
                         align_corners=align_corners)[0]


@MODELS.register_module()
class SegDepthTTAModel(BaseTTAModel):
    """Merge the augmented predictions of a :class:`SegDepthEncoderDecoder`.

    MMSegmentation's TTA convention: ``tools/test.py --tta`` replaces the test pipeline by the
    config's ``tta_pipeline`` (``TestTimeAug`` over scales and flips) and wraps ``model`` in
    ``tta_model``. Every augmented view goes through ``module.test_step``, whose predictions
    are already at the original image size with flips undone (``SegDepthEncoderDecoder``
    removes padding, flips back and resizes to ``ori_shape``); views are then merged per image:

    - segmentation: the mean of the per-view softmax scores (sigmoid for one output channel),
      exactly as ``mmseg.models.SegTTAModel``; ``pred_sem_seg`` is its argmax (threshold);
    - depth: the mean of the per-view depth maps in metres.

    A view that is not at the original size (a module that does not resize) is resized
    bilinearly to ``ori_shape`` before merging.

    The merged sample carries the ground truth (``gt_sem_seg``, ``gt_depth_map``) and meta of
    the first view without a flip: the TTA pipeline loads the annotations after ``Resize``
    (at the original resolution) and before ``RandomFlip``, so a flipped view holds flipped
    ground truth. The pipeline must therefore include an unflipped view
    (``RandomFlip(prob=0.)``), as MMSegmentation's ``tta_pipeline`` does.

    Args:
        module (dict | nn.Module): The segmentor (``SegDepthEncoderDecoder`` or any model
            whose ``test_step`` returns ``seg_logits`` and/or ``pred_depth_map``).
        data_preprocessor (dict | nn.Module, optional): Overrides the module's.
    """

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Merge the views of each image.

        Args:
            data_samples_list (list[list[SegDataSample]]): One list of views per image.

        Returns:
            list[SegDataSample]: One merged sample per image, with ``seg_logits`` (K, H, W
            mean scores), ``pred_sem_seg`` (1, H, W) and ``pred_depth_map`` (1, H, W, metres)
            for the tasks the module predicts.
        """
        return [self._merge_views(list(views)) for views in data_samples_list]

    def _merge_views(self, views: SampleList) -> SegDataSample:
        reference = self._unflipped_view(views)
        ori_shape = tuple(reference.metainfo.get('ori_shape',
                                                 self._pred_shape(views[0])))[:2]
        align_corners = bool(getattr(self.module, 'align_corners', False))
        merged = SegDataSample(metainfo=dict(reference.metainfo, flip=False))
        fields = dict()
        if all('seg_logits' in v for v in views):
            scores = None
            for view in views:
                logits = _to_shape(view.seg_logits.data, ori_shape, align_corners)
                probs = logits.softmax(dim=0) if logits.shape[0] > 1 else logits.sigmoid()
                scores = probs if scores is None else scores + probs
            scores = scores / len(views)
            if scores.shape[0] > 1:
                pred = scores.argmax(dim=0, keepdim=True)
            else:
                pred = (scores > self.module.decode_head.threshold).to(scores)
            fields['seg_logits'] = PixelData(data=scores)
            fields['pred_sem_seg'] = PixelData(data=pred)
        elif any('seg_logits' in v for v in views):
            raise RuntimeError('SegDepthTTAModel: some views have seg_logits and some do not; '
                               'every view must come from the same model.')
        if all('pred_depth_map' in v for v in views):
            depth = sum(_to_shape(v.pred_depth_map.data, ori_shape, align_corners)
                        for v in views) / len(views)
            fields['pred_depth_map'] = PixelData(data=depth)
        if not fields:
            raise RuntimeError('SegDepthTTAModel: the module returned neither seg_logits nor '
                               'pred_depth_map; it must be a segmentation / depth model.')
        for gt in ('gt_sem_seg', 'gt_depth_map'):
            if gt in reference:
                fields[gt] = reference.get(gt)
        merged.set_data(fields)
        return merged

    @staticmethod
    def _pred_shape(view: SegDataSample) -> tuple:
        for key in ('seg_logits', 'pred_depth_map'):
            if key in view:
                return tuple(view.get(key).shape)
        raise RuntimeError('SegDepthTTAModel: a view has no prediction.')

    @staticmethod
    def _unflipped_view(views: SampleList) -> SegDataSample:
        for view in views:
            if not view.metainfo.get('flip', False):
                return view
        raise ValueError('SegDepthTTAModel: every view of '
                         f'{views[0].metainfo.get("img_path")} is flipped, so no view holds the '
                         'ground truth in the original orientation; add '
                         "dict(type='RandomFlip', prob=0., direction='horizontal') to the flip "
                         'alternatives of tta_pipeline.')


def _has_depth_head(node) -> bool:
    if isinstance(node, dict):
        return node.get('depth_head') is not None or any(
            _has_depth_head(v) for k, v in node.items() if k != 'depth_head')
    return isinstance(node, (list, tuple)) and any(_has_depth_head(v) for v in node)


def _check_tta_merges_depth(tta_model: dict, model: dict) -> None:
    """Refuse a TTA wrapper that would merge segmentation only for a model with depth.

    MMSegmentation's ``SegTTAModel`` averages the segmentation logits of the augmented views
    and keeps the depth of one view (flipped back or not), so the depth metrics of ``--tta``
    would be those of a single, possibly flipped, view, without a word.
    """
    kind = tta_model.get('type')
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if cls is None or not _has_depth_head(model) or (
            isinstance(cls, type) and issubclass(cls, SegDepthTTAModel)):
        return
    name = getattr(cls, '__name__', str(kind))
    raise ValueError(
        f'tta_model.type={name!r} merges only the segmentation of the augmented views, but '
        'the model predicts depth too: the depth metrics would come from one view. Use '
        "tta_model=dict(type='SegDepthTTAModel') (the default of the shipped configs; "
        '--cfg-options tta_model.type=SegDepthTTAModel), which merges both.')


def _warn_views_outside_training(cfg: Config) -> None:
    """Warn about TTA views at scales the model was not trained at.

    Training resizes keep depth values, so a model reads distance partly from apparent size
    and a view larger (smaller) than every training image predicts too near (far): averaged
    with the others it biases the merged depth (docs/model_zoo.md, "Test scale"; the SynthCity
    configs once inherited Cityscapes' 1.25-1.75x views above their 0.5-1.0x training range).
    """
    widths = [t['scale'][0] for step in cfg.tta_pipeline if step.get('type') == 'TestTimeAug'
              for alternatives in step['transforms'] for t in alternatives
              if t.get('type') == 'Resize' and t.get('scale') is not None]
    outside = views_outside_training(cfg, widths)
    if outside:
        warnings.warn(
            f'tta_pipeline of {cfg.filename!r}: views at {", ".join(f"{r:g}x" for r in outside)} '
            'the training RandomResize scale lie outside its ratio_range; the model never saw '
            'images of that size, so those views are worse and their depth is biased. Keep the '
            'TTA Resize scales inside the training range (docs/model_zoo.md, "Test scale").',
            stacklevel=3)


def tta_config(cfg: Config, tta_model: Optional[dict] = None) -> Config:
    """The config of a TTA evaluation, as MMSegmentation's ``tools/test.py --tta`` makes it.

    The test pipeline becomes ``cfg.tta_pipeline`` and the model becomes ``cfg.tta_model``
    wrapping ``cfg.model``, with the module's own ``data_preprocessor`` (not the config's
    top-level one, which MMEngine's Runner would otherwise substitute). The config is copied,
    not changed.

    Args:
        cfg (Config): A config with ``tta_pipeline`` (and ``tta_model``, else
            ``dict(type='SegDepthTTAModel')``).
        tta_model (dict, optional): Overrides ``cfg.tta_model``.

    Returns:
        Config: The TTA config.
    """
    if cfg.get('tta_pipeline') is None:
        raise KeyError(f'--tta needs tta_pipeline in the config {cfg.filename!r}: a '
                       'TestTimeAug pipeline such as the one in '
                       'configs/_base_/datasets/synthcity.py.')
    cfg = copy.deepcopy(cfg)
    _warn_views_outside_training(cfg)
    model = tta_model or cfg.get('tta_model') or dict(type='SegDepthTTAModel')
    model = copy.deepcopy(dict(model))
    _check_tta_merges_depth(model, cfg.model)
    model['module'] = cfg.model
    # MMEngine's Runner gives a model dict without `data_preprocessor` the config's top-level
    # `data_preprocessor`, and BaseTTAModel then puts it in place of the module's own. The
    # top-level variable is the dataset base's (ImageNet mean/std), so a model that normalises
    # otherwise (the EfficientNet-Lite configs: mean 127, std 128) would be tested on
    # mis-normalised inputs (measured with the six-scale TTA of the time: 24.87 instead of
    # 38.22 mIoU for the Lite0 demo model).
    # The wrapper gets the module's own preprocessor.
    if cfg.model.get('data_preprocessor') is not None and 'data_preprocessor' not in model:
        model['data_preprocessor'] = copy.deepcopy(cfg.model['data_preprocessor'])
    cfg.model = model
    dataset = cfg.test_dataloader.dataset
    # Look through dataset wrappers (e.g. a ConcatDataset-style `dataset` key) to the pipeline.
    while 'pipeline' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset = dataset.dataset
    dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)
    return cfg


__all__ = ['SegDepthTTAModel', 'tta_config']
