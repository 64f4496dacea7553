"""Hide the predicted depth of classes that have no depth (sky) in pictures and point clouds.

A depth network predicts a value everywhere, also where the ground truth has none (Cityscapes
and SynthCity give sky no disparity, so training never constrains it): drawn, the sky gets an
arbitrary, often "near" colour, and back-projected it becomes a wall of points. The pictures and
point clouds of this package leave such classes out by default.
"""
from typing import Optional, Sequence

import numpy as np

#: Classes drawn and back-projected without depth by default.
NO_DEPTH_CLASSES = ('sky', )


def class_ids(classes: Sequence[str], names: Optional[Sequence[str]],
              strict: bool = True) -> np.ndarray:
    """Ids of ``names`` in ``classes``.

    Args:
        classes (sequence[str]): The dataset's class names (``dataset_meta['classes']``).
        names (sequence[str], optional): Class names to look up; None or empty gives no ids.
        strict (bool): Raise for a name that is not a class; else skip it (the defaults, e.g.
            ``sky``, may not exist in a custom dataset). Defaults to True.

    Returns:
        np.ndarray: int64 ids, in the order of ``names``.
    """
    ids = []
    for name in names or ():
        if name in classes:
            ids.append(list(classes).index(name))
        elif strict:
            raise ValueError(f'{name!r} is not a class of this model; its classes are '
                             f'{list(classes)}.')
    return np.asarray(ids, dtype=np.int64)


def mask_depth(depth: np.ndarray, seg: Optional[np.ndarray], ids: Sequence[int]) -> np.ndarray:
    """A copy of ``depth`` with 0 (invalid) where ``seg`` is one of ``ids``.

    Args:
        depth (np.ndarray): (H, W) depth in metres.
        seg (np.ndarray, optional): (H, W) class ids of the same pixels; None returns the
            depth unchanged (a depth-only model).
        ids (sequence[int]): Classes without depth.

    Returns:
        np.ndarray: (H, W) depth, 0 where masked.
    """
    depth = np.array(depth, copy=True)
    if seg is None or len(ids) == 0:
        return depth
    seg = np.asarray(seg)
    if seg.shape != depth.shape:
        raise ValueError(f'mask_depth: segmentation {seg.shape} and depth {depth.shape} must '
                         'have the same size.')
    depth[np.isin(seg, np.asarray(ids))] = 0
    return depth
