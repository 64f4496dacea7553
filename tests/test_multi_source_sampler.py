"""MultiSourceSampler: per-batch counts, rank shards, determinism, resume fast-forward, errors."""
import itertools
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.dataset import ConcatDataset as MMConcatDataset
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import ConcatDataset, DataLoader

import mmseg_ccam  # noqa: F401
from mmseg_ccam.datasets.samplers import multi_source_sampler as mss
from mmseg_ccam.datasets.samplers.multi_source_sampler import MultiSourceSampler


class Items(list):
    """A list dataset whose items are their own global labels ('s0-3' = source 0, item 3)."""


def concat(*sizes):
    return ConcatDataset([Items(f's{s}-{i}' for i in range(n)) for s, n in enumerate(sizes)])


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def source_of(index, sizes):
    bounds = list(itertools.accumulate(sizes))
    return next(s for s, b in enumerate(bounds) if index < b)


def sampler_on_rank(monkeypatch, rank, world_size, *args, **kwargs):
    monkeypatch.setattr(mss, 'get_dist_info', lambda: (rank, world_size))
    return MultiSourceSampler(*args, **kwargs)


def test_fixed_count_per_source_in_every_batch():
    sizes = (7, 30)
    s = MultiSourceSampler(concat(*sizes), batch_size=5, source_ratio=[2, 3], seed=1)
    idx = take(s, 5 * 40)
    for b in range(40):
        batch = idx[5 * b:5 * b + 5]
        # labeled first, then unlabeled, in the ratio's order
        assert [source_of(i, sizes) for i in batch] == [0, 0, 1, 1, 1], batch
    assert min(idx) >= 0 and max(idx) < sum(sizes)


def test_each_pass_over_a_source_is_a_permutation_even_for_tiny_sources():
    sizes = (3, 1000)
    s = MultiSourceSampler(concat(*sizes), batch_size=4, source_ratio=[1, 3], seed=5)
    idx = take(s, 4 * 60)
    small = [i for i in idx if i < 3]
    assert len(small) == 60
    for p in range(20):  # 20 complete passes over the 3 labeled images
        assert sorted(small[3 * p:3 * p + 3]) == [0, 1, 2]
    big = [i - 3 for i in idx if i >= 3]
    assert len(big) == 180 and len(set(big)) == 180  # no repeats within the first pass
    assert small[:3] != [0, 1, 2] or small[3:6] != [0, 1, 2]  # shuffled


def test_deterministic_for_a_seed_and_restartable():
    ds = concat(10, 20)
    a = take(MultiSourceSampler(ds, 4, [2, 2], seed=3), 200)
    b = take(MultiSourceSampler(ds, 4, [2, 2], seed=3), 200)
    c = take(MultiSourceSampler(ds, 4, [2, 2], seed=4), 200)
    assert a == b and a != c
    s = MultiSourceSampler(ds, 4, [2, 2], seed=3)
    assert take(s, 50) == take(s, 50) == a[:50]  # every iter() restarts the same stream
    s.set_epoch(1)
    assert take(s, 50) != a[:50]


def test_sources_are_not_shuffled_in_lockstep():
    s = MultiSourceSampler(concat(50, 50), 2, [1, 1], seed=0)
    idx = take(s, 100)
    first, second = idx[0::2], [i - 50 for i in idx[1::2]]
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second


def test_no_shuffle_is_sequential_per_source():
    s = MultiSourceSampler(concat(3, 5), 3, [1, 2], shuffle=False, seed=0)
    assert take(s, 12) == [0, 3, 4, 1, 5, 6, 2, 7, 3, 0, 4, 5]


@pytest.mark.parametrize('world_size', [2, 3])
def test_rank_shards_disjoint_and_covering(monkeypatch, world_size):
    sizes = (6 * world_size, 12 * world_size)
    ds = concat(*sizes)
    per_rank = [take(sampler_on_rank(monkeypatch, r, world_size, ds, 3, [1, 2], seed=7), 3 * 6)
                for r in range(world_size)]
    for source, offset in ((0, 0), (1, sizes[0])):
        shards = [{i for i in idx if source_of(i, sizes) == source} for idx in per_rank]
        for a, b in itertools.combinations(shards, 2):
            assert not a & b
        assert set().union(*shards) == set(range(offset, offset + sizes[source]))
    # Each rank's batches keep the ratio too.
    for idx in per_rank:
        assert [source_of(i, sizes) for i in idx[:3]] == [0, 1, 1]


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=3),
       counts=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       world_size=st.integers(1, 3), seed=st.integers(-2**40, 2**40))
def test_property_counts_and_coverage(sizes, counts, world_size, seed):
    counts = counts[:len(sizes)]
    if sum(counts) == 0:
        counts[0] = 1
    batch = sum(counts)
    ds = concat(*sizes)
    n_batches = 2 * max(sizes) * world_size + 2
    streams = []
    for rank in range(world_size):
        mp = pytest.MonkeyPatch()
        try:
            s = sampler_on_rank(mp, rank, world_size, ds, batch, counts, seed=seed)
        finally:
            mp.undo()
        idx = take(s, batch * n_batches)
        expected_pattern = [src for src, n in enumerate(counts) for _ in range(n)]
        for b in range(n_batches):
            assert [source_of(i, sizes) for i in idx[b * batch:(b + 1) * batch]] == \
                expected_pattern
        streams.append(idx)
    for source, n in enumerate(counts):
        if n == 0:
            continue
        offset = sum(sizes[:source])
        # Interleaving the ranks' draws rebuilds the global stream: its first pass is a
        # permutation of the source.
        per_rank = [[i - offset for i in idx if source_of(i, sizes) == source]
                    for idx in streams]
        interleaved = [x for group in zip(*per_rank) for x in group]
        assert sorted(interleaved[:sizes[source]]) == list(range(sizes[source]))
        counter = Counter(interleaved[:2 * sizes[source]])
        assert set(counter.values()) == {2}


def test_resume_fast_forward_through_dataloader():
    """IterBasedTrainLoop resumes by rebuilding the dataloader and calling next() runner.iter
    times: the continuation equals the uninterrupted stream."""
    ds = concat(5, 9)

    def loader():
        s = MultiSourceSampler(ds, 4, [2, 2], seed=11)
        return DataLoader(ds, batch_size=4, sampler=s, num_workers=0, collate_fn=list)

    straight = list(itertools.islice(iter(loader()), 10))
    it = iter(loader())
    for _ in range(6):
        next(it)
    assert [next(it) for _ in range(4)] == straight[6:]
    assert all(b[0].startswith('s0') and b[1].startswith('s0') and b[2].startswith('s1')
               for b in straight)


def test_built_from_registry_with_mmengine_concat_dataset():
    from mmengine.dataset import BaseDataset

    class Toy(BaseDataset):
        def __init__(self, n):
            self.n = n
            super().__init__(serialize_data=False)

        def load_data_list(self):
            return [dict(i=i) for i in range(self.n)]

    ds = MMConcatDataset([Toy(4), Toy(6)])
    s = DATA_SAMPLERS.build(dict(type='MultiSourceSampler', batch_size=3, source_ratio=[1, 2]),
                            default_args=dict(dataset=ds, seed=0))
    assert isinstance(s, MultiSourceSampler) and len(s) == 10
    assert [i < 4 for i in take(s, 6)] == [True, False, False] * 2
    assert 'MultiSourceSampler' not in MMENGINE_DATA_SAMPLERS.module_dict  # mmseg scope only


def test_seed_none_uses_synced_random_seed(monkeypatch):
    monkeypatch.setattr(mss, 'sync_random_seed', lambda: 1234)
    s = MultiSourceSampler(concat(4, 4), 2, [1, 1])
    assert s.seed == 1234
    assert take(s, 20) == take(MultiSourceSampler(concat(4, 4), 2, [1, 1], seed=1234), 20)


def test_errors():
    with pytest.raises(ValueError, match=r'source 1 \(Items\) is empty'):
        MultiSourceSampler(concat(4, 0), 4, [2, 2], seed=0)
    MultiSourceSampler(concat(4, 0), 4, [4, 0], seed=0)  # an unused empty source is fine
    with pytest.raises(ValueError, match=r'sums to 3 but batch_size is 4'):
        MultiSourceSampler(concat(4, 4), 4, [1, 2], seed=0)
    with pytest.raises(ValueError, match='has 3 entries but the ConcatDataset has 2'):
        MultiSourceSampler(concat(4, 4), 4, [2, 1, 1], seed=0)
    with pytest.raises(ValueError, match='non-negative ints'):
        MultiSourceSampler(concat(4, 4), 4, [2.5, 1.5], seed=0)
    with pytest.raises(ValueError, match='batch_size'):
        MultiSourceSampler(concat(4, 4), 0, [0, 0], seed=0)
    with pytest.raises(TypeError, match='ConcatDataset'):
        MultiSourceSampler(list(range(8)), 4, [2, 2], seed=0)


def test_empty_source_message_names_the_dataset_files():
    class Named(list):
        data_root = 'data/cityscapes'
        ann_file = 'splits/unlabeled.txt'

    ds = ConcatDataset([Items(['a', 'b']), Named()])
    with pytest.raises(ValueError, match=r"source 1 \(Named, data_root='data/cityscapes', "
                                         r"ann_file='splits/unlabeled.txt'\) is empty"):
        MultiSourceSampler(ds, 2, [1, 1], seed=0)


def test_sampler_in_dataloader_yields_tensors_batches():
    ds = ConcatDataset([torch.arange(4).float().unsqueeze(1), -torch.arange(1, 7).float()
                        .unsqueeze(1)])
    dl = DataLoader(ds, batch_size=4, sampler=MultiSourceSampler(ds, 4, [1, 3], seed=0))
    batch = next(iter(dl))
    assert batch.shape == (4, 1)
    assert batch[0, 0] >= 0 and (batch[1:, 0] < 0).all()


class Subset:
    """The attributes check_disjoint_subsets reads from a CityscapesDepthDataset subset."""

    def __init__(self, subset, frames, ratio, total=6):
        self.subset, self.frames, self.ratio = subset, list(frames), ratio
        self.num_split_frames, self.data_root, self.data_prefix = total, 'd', {}

    def __len__(self):
        return len(self.frames)

    def get_data_info(self, idx):
        return dict(img_path=self.frames[idx])

    def split_description(self):
        return f'labeled_ratio={self.ratio}'


def test_subsets_of_different_splits_are_refused_with_their_settings():
    labeled = Subset('labeled', ['f0', 'f1', 'f2'], 0.5)
    # overlapping halves: frame f2 in both
    with pytest.raises(ValueError, match=r'labeled \(source 0, labeled_ratio=0.5\) and '
                       r'unlabeled \(source 1, labeled_ratio=0.4\) subsets share 1 frame'
                       r".*e.g. f2.*Set the split once for both"):
        mss.check_disjoint_subsets([labeled, Subset('unlabeled', ['f2', 'f3', 'f4'], 0.4)])
    # disjoint halves that miss a frame (f5) of the 6
    with pytest.raises(ValueError, match=r'3 frames\) and unlabeled \(source 1, '
                       r'labeled_ratio=0.6, 2 frames\) subsets leave 1 of the 6 frames in '
                       r'neither subset.*Set the split once for both'):
        mss.check_disjoint_subsets([labeled, Subset('unlabeled', ['f3', 'f4'], 0.6)])
    mss.check_disjoint_subsets([labeled, Subset('unlabeled', ['f3', 'f4', 'f5'], 0.5)])
