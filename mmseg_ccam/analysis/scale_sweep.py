"""Single-view evaluation at several test scales, against the scales the model was trained at.

A monocular depth network reads distance partly from apparent size. The stock training resize
(``RandomResize``) keeps metric depth values (docs/method.md, "Data conventions"), so the model
learns the depth of the scales it was trained at; a view larger than any training image shows
objects bigger than it has seen, and its depth is biased towards the camera (and segmentation
suffers too). Multi-scale TTA averages such views, so its scales belong inside the training
range. :func:`scale_rows` turns ``tools/test.py`` metrics at each ratio into the rows of the
table ``tools/analysis_tools/scale_sweep.py`` prints; the helpers read the config
(:func:`train_ratio_range` lives in ``mmseg_ccam.utils.train_scales``, since ``--tta`` checks
its views with it too).
"""
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.train_scales import train_ratio_range

__all__ = ['eval_resize', 'format_scale_table', 'scale_rows', 'train_ratio_range', 'val_as_test']


def eval_resize(cfg) -> Tuple[str, Tuple[int, int]]:
    """The ``--cfg-options`` key of the test pipeline's ``Resize`` scale, and that scale.

    Raises:
        KeyError: the test dataset has no pipeline of its own with one ``Resize``.
    """
    dataset = cfg.test_dataloader.dataset
    pipeline = dataset.get('pipeline')
    index = [i for i, t in enumerate(pipeline or []) if t.get('type') == 'Resize']
    if len(index) != 1:
        raise KeyError('test_dataloader.dataset.pipeline: expected one Resize step (the test '
                       f'scale), found {len(index)}; set the test scale in the config.')
    scale = pipeline[index[0]]['scale']
    return f'test_dataloader.dataset.pipeline.{index[0]}.scale', (int(scale[0]), int(scale[1]))


def val_as_test(cfg):
    """A copy of ``cfg`` whose test loader and evaluator are its val ones: ``tools/test.py`` on
    it scores the val split, where a setting such as the test scale is chosen (the test split
    is for reporting)."""
    import copy
    cfg = copy.deepcopy(cfg)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    cfg.test_evaluator = copy.deepcopy(cfg.val_evaluator)
    return cfg


def scale_rows(ratios: Sequence[float], base: Tuple[int, int],
               raw: Sequence[Dict[str, Optional[float]]],
               scaled: Sequence[Dict[str, Optional[float]]],
               train_range: Optional[Tuple[float, float]]) -> List[dict]:
    """One row per ratio: the view's size, whether it is inside the training range, and its
    metrics without (``raw``) and with (``scaled``) per-image median scaling.

    ``median_scale`` is the mean of ``median(Z*) / median(Z)``: above 1 the view predicts too
    near, below 1 too far.
    """
    rows = []
    for ratio, plain, median in zip(ratios, raw, scaled):
        rows.append(dict(
            ratio=float(ratio), width=int(base[0] * ratio), height=int(base[1] * ratio),
            trained=None if train_range is None else
            train_range[0] - 1e-6 <= ratio <= train_range[1] + 1e-6,
            mIoU=plain.get('mIoU'), abs_rel=plain.get('abs_rel'), d1=plain.get('d1'),
            rmse=plain.get('rmse'), abs_rel_median_scaled=median.get('abs_rel'),
            median_scale=median.get('median_scale')))
    return rows


def _cell(value, fmt: str) -> str:
    return '–' if value is None else format(value, fmt)


def format_scale_table(rows: Sequence[dict]) -> str:
    """The Markdown table of :func:`scale_rows`."""
    lines = ['| test scale | size (W×H) | inside training range | mIoU | AbsRel | δ1 | RMSE (m) '
             '| AbsRel, median-scaled | median scale |',
             '|---:|---|---|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        trained = '–' if r['trained'] is None else ('yes' if r['trained'] else '**no**')
        lines.append(
            f"| {r['ratio']:g}× | {r['width']}×{r['height']} | {trained} | "
            f"{_cell(r['mIoU'], '.2f')} | {_cell(r['abs_rel'], '.4f')} | {_cell(r['d1'], '.3f')} "
            f"| {_cell(r['rmse'], '.2f')} | {_cell(r['abs_rel_median_scaled'], '.4f')} | "
            f"{_cell(r['median_scale'], '.3f')} |")
    return '\n'.join(lines)
