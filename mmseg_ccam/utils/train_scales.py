"""The image scales a config trains at, read from its train pipeline.

A depth model trained with ``RandomResize`` (which keeps depth values) learns the depths of the
scales it saw; a test or TTA view outside that range is biased (docs/model_zoo.md,
"Test scale"). :func:`train_ratio_range` reads the range; :func:`views_outside_training` checks
a list of view scales against it.
"""
from typing import List, Optional, Sequence, Tuple

__all__ = ['train_ratio_range', 'views_outside_training']


def _pipelines(dataset: dict) -> List[list]:
    """The pipelines of a dataset config and of every dataset it wraps (mix, concat, semi)."""
    out, stack = [], [dataset]
    while stack:
        node = stack.pop()
        if node.get('pipeline') is not None:
            out.append(list(node['pipeline']))
        stack += list(node.get('datasets') or [])
        if isinstance(node.get('dataset'), dict):
            stack.append(node['dataset'])
    return out


def train_ratio_range(cfg) -> Optional[Tuple[float, float, Tuple[int, int]]]:
    """``(low, high, (w, h))`` of the train pipeline's ``RandomResize``: the images are drawn
    at ``low..high`` x ``(w, h)``; ``None`` when the pipeline does not resize randomly.

    Raises:
        ValueError: the train datasets resize with different ranges (which would the model
            know?).
    """
    found = {(float(t['ratio_range'][0]), float(t['ratio_range'][1]),
              (int(t['scale'][0]), int(t['scale'][1])))
             for pipeline in _pipelines(cfg.train_dataloader.dataset) for t in pipeline
             if t.get('type') == 'RandomResize' and t.get('ratio_range') is not None}
    if len(found) > 1:
        raise ValueError(f'train_dataloader: RandomResize with several ranges {sorted(found)}; '
                         'the training scale range is ambiguous.')
    return found.pop() if found else None


def views_outside_training(cfg, widths: Sequence[int]) -> List[float]:
    """The ratios ``width / w`` of the training ``RandomResize`` scale that fall outside its
    ``ratio_range`` (empty when the config does not resize randomly)."""
    trained = train_ratio_range(cfg)
    if trained is None:
        return []
    low, high, (train_w, _) = trained
    ratios = [width / train_w for width in widths]
    return [r for r in ratios if not low - 1e-6 <= r <= high + 1e-6]
