"""Infinite sampler giving every batch a fixed number of samples from each source dataset."""
import itertools
from typing import Iterator, List, Optional, Sequence, Set

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

__all__ = ['MultiSourceSampler', 'check_disjoint_subsets', 'source_stream']


def source_stream(size: int, seed: int, epoch: int, source: int, shuffle: bool) -> Iterator[int]:
    """Endless local indices ``0..size-1`` of one source: one permutation after another.

    Each source draws from its own generator (seeded with ``(seed, epoch, source)``), so two
    sources of equal length are not shuffled in lock-step.

    Args:
        size (int): Length of the source, > 0.
        seed (int): Shared random seed (identical on all ranks).
        epoch (int): Value from ``set_epoch``, mixed into the seed.
        source (int): Index of the source in the ``ConcatDataset``.
        shuffle (bool): Permute each pass; otherwise ``0, 1, ..., size-1`` repeated.

    Yields:
        int: Local index within the source.
    """
    rng = np.random.default_rng([seed % 2**64, epoch, source])
    while True:
        if shuffle:
            yield from rng.permutation(size).tolist()
        else:
            yield from range(size)


def _describe(dataset) -> str:
    """Short identification of a dataset for error messages."""
    parts = [type(dataset).__name__]
    for attr in ('data_root', 'ann_file'):
        value = getattr(dataset, attr, None)
        if value:
            parts.append(f'{attr}={value!r}')
    return ', '.join(parts)


def _frames(dataset) -> Optional[Set[str]]:
    """Image paths of a dataset's frames (None if it does not list them)."""
    if not hasattr(dataset, 'get_data_info'):
        return None
    # get_data_info, not data_list: MMEngine empties data_list once it serialises the infos.
    paths = set()
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        if not isinstance(info, dict) or not info.get('img_path'):
            return None
        paths.add(info['img_path'])
    return paths


# The fix both of check_disjoint_subsets' errors name.
_SET_SPLIT_ONCE = ('Set the split once for both (in the shipped semi configs, '
                   'train_dataloader.dataset.datasets.0.<key> AND .datasets.1.<key>, or the '
                   'split variables in a config that inherits it).')


def check_disjoint_subsets(datasets: Sequence) -> None:
    """Refuse a labeled and an unlabeled subset that share frames, or that together leave
    frames of their split out (a partition of the frames, or an error).

    ``CityscapesDepthDataset(subset='labeled' / 'unlabeled')`` derive the two halves of one
    split; when the split settings (``labeled_ratio``, ``num_labeled``, ``split_file``,
    ``split_seed``) differ between them, e.g. an override of the labeled one only, the halves
    overlap and frames are trained on both with and without labels.

    Raises:
        ValueError: naming both subsets' split settings and the number of shared frames.
    """
    subsets = [(i, ds) for i, ds in enumerate(datasets)
               if getattr(ds, 'subset', None) in ('labeled', 'unlabeled')]
    for i, a in subsets:
        for j, b in subsets:
            if i >= j or a.subset == b.subset:
                continue
            fa, fb = _frames(a), _frames(b)
            shared = (fa & fb) if fa is not None and fb is not None else set()
            describe = [getattr(d, 'split_description', lambda: '?')() for d in (a, b)]
            if shared:
                raise ValueError(
                    f'MultiSourceSampler: the {a.subset} (source {i}, {describe[0]}) and '
                    f'{b.subset} (source {j}, {describe[1]}) subsets share {len(shared)} '
                    f'frame(s), e.g. {sorted(shared)[0]}: their split settings differ. '
                    + _SET_SPLIT_ONCE)
            total = [getattr(d, 'num_split_frames', None) for d in (a, b)]
            same_frames = (total[0] is not None and total[0] == total[1]
                           and getattr(a, 'data_root', None) == getattr(b, 'data_root', None)
                           and getattr(a, 'data_prefix', None) == getattr(b, 'data_prefix',
                                                                          None))
            if same_frames and fa is not None and fb is not None and \
                    len(fa | fb) < total[0]:
                raise ValueError(
                    f'MultiSourceSampler: the {a.subset} (source {i}, {describe[0]}, '
                    f'{len(fa)} frames) and {b.subset} (source {j}, {describe[1]}, {len(fb)} '
                    f'frames) subsets leave {total[0] - len(fa | fb)} of the {total[0]} frames '
                    'in neither subset: their split settings differ, so those frames are '
                    'never trained on. ' + _SET_SPLIT_ONCE)


@DATA_SAMPLERS.register_module()
class MultiSourceSampler(Sampler):
    """Infinite sampler over a ``ConcatDataset`` with a fixed count per source in every batch.

    Used for semi-supervised training (docs/method.md, "Semi-supervised step") with
    ``ConcatDataset(datasets=[labeled, unlabeled])``: every consecutive block of
    ``batch_size`` yielded indices holds ``source_ratio[0]`` indices of source 0, then
    ``source_ratio[1]`` of source 1, and so on. Each source is read as an endless stream of
    seeded permutations of its indices; rank ``r`` of ``world_size`` takes the elements
    ``r, r + world_size, ...`` of each stream, so ranks see disjoint samples within a pass and
    together cover the source (MMDetection's ``MultiSourceSampler`` interface and scheme).

    The sampler never stops: use it with ``IterBasedTrainLoop``. On resume, that loop rebuilds
    the dataloader and advances it by ``runner.iter`` batches (``next()`` on the iterator,
    ``mmengine/runner/loops.py``); since every ``iter()`` of this sampler restarts the same
    deterministic stream, training continues exactly where it stopped, provided the seed is the
    same: set ``randomness=dict(seed=...)``, because MMEngine builds the sampler before it
    restores the seed stored in the checkpoint. Skipping loads the skipped batches.

    The dataloader's ``batch_size`` must equal this sampler's ``batch_size``.

    Args:
        dataset (Sized): A ``ConcatDataset`` (MMEngine's or torch's): it must have
            ``datasets``.
        batch_size (int): Samples per batch and per rank.
        source_ratio (Sequence[int]): Samples per batch from each source; non-negative ints
            summing to ``batch_size``, one per dataset in ``dataset.datasets``.
        shuffle (bool): Shuffle each source's indices. Defaults to True.
        seed (int, optional): Random seed shared by all ranks; None draws one and
            synchronises it across ranks (``sync_random_seed``). Defaults to None.

    Example::

        train_dataloader = dict(
            batch_size=4,
            sampler=dict(type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
            dataset=dict(type='ConcatDataset', datasets=[labeled, unlabeled]))
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 source_ratio: Sequence[int],
                 shuffle: bool = True,
                 seed=None) -> None:
        datasets = getattr(dataset, 'datasets', None)
        if datasets is None:
            raise TypeError(
                f'MultiSourceSampler needs a ConcatDataset (with .datasets), got '
                f'{type(dataset).__name__}. Wrap the sources: '
                "dataset=dict(type='ConcatDataset', datasets=[labeled, unlabeled]).")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f'MultiSourceSampler: batch_size must be an int >= 1, '
                             f'got {batch_size!r}')
        ratio = list(source_ratio)
        if len(ratio) != len(datasets):
            raise ValueError(
                f'MultiSourceSampler: source_ratio={ratio} has {len(ratio)} entries but the '
                f'ConcatDataset has {len(datasets)} datasets; give one count per dataset.')
        if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0
               for n in ratio):
            raise ValueError(f'MultiSourceSampler: source_ratio={ratio} must hold non-negative '
                             'ints (samples per batch from each source).')
        if sum(ratio) != batch_size:
            raise ValueError(
                f'MultiSourceSampler: source_ratio={ratio} sums to {sum(ratio)} but batch_size '
                f'is {batch_size}; the counts per source must add up to the batch size.')

        self.sizes: List[int] = [len(ds) for ds in datasets]
        for source, (size, count) in enumerate(zip(self.sizes, ratio)):
            if size == 0 and count > 0:
                raise ValueError(
                    f'MultiSourceSampler: source {source} ({_describe(datasets[source])}) is '
                    f'empty but source_ratio asks for {count} of its samples per batch. Check '
                    'its data_root / ann_file / split, or set its count to 0.')
        check_disjoint_subsets(datasets)
        self.offsets: List[int] = [0] + list(itertools.accumulate(self.sizes))[:-1]
        self.dataset = dataset
        self.batch_size = batch_size
        self.source_ratio = [int(n) for n in ratio]
        self.shuffle = shuffle
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0

    def _rank_stream(self, source: int) -> Iterator[int]:
        """This rank's share of source ``source``'s stream, as global ``ConcatDataset`` indices."""
        local = source_stream(self.sizes[source], self.seed, self.epoch, source, self.shuffle)
        offset = self.offsets[source]
        return (offset + i
                for i in itertools.islice(local, self.rank, None, self.world_size))

    def __iter__(self) -> Iterator[int]:
        """Endless indices; each block of ``batch_size`` follows ``source_ratio``."""
        takes = [(self._rank_stream(source), n) for source, n in enumerate(self.source_ratio)
                 if n > 0]
        while True:
            for stream, n in takes:
                yield from itertools.islice(stream, n)

    def __len__(self) -> int:
        """Size of the concatenated dataset (the stream itself is infinite)."""
        return sum(self.sizes)

    def set_epoch(self, epoch: int) -> None:
        """Mix ``epoch`` into the seed. ``IterBasedTrainLoop`` never calls it for an infinite
        sampler; it exists for the sampler interface."""
        self.epoch = epoch
