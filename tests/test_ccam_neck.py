"""CCAMNeck: per-task adapters + cross-channel attention on chosen levels."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_ccam.models.utils import cross_channel_attention

IN_CHANNELS = [8, 16, 32, 64]
SIZES = [(16, 16), (8, 8), (4, 4), (4, 4)]


def feats(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, c, h, w, generator=g) for c, (h, w) in zip(IN_CHANNELS, SIZES))


def build(**kwargs):
    cfg = dict(type='CCAMNeck', in_channels=IN_CHANNELS, levels=(0, 3))
    cfg.update(kwargs)
    neck = MODELS.build(cfg)
    neck.init_weights()
    return neck.eval()


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_output_tuples_and_shared_levels():
    neck = build(adapter_channels=[4, 12])
    assert neck.out_channels == [4, 16, 32, 12]
    x = feats()
    seg, depth = neck(x)
    assert len(seg) == len(depth) == 4
    for i, (s, d) in enumerate(zip(seg, depth)):
        assert s.shape == d.shape == (2, neck.out_channels[i], *SIZES[i])
    # Levels 1 and 2 pass through shared: the very same tensor object.
    for i in (1, 2):
        assert seg[i] is x[i] and depth[i] is x[i]
    # Exchange levels are task specific (separate adapters).
    assert not torch.allclose(seg[0], depth[0])


def test_attention_adds_exactly_two_params_per_level():
    for levels in [(0, 3), (1, ), (0, 1, 2, 3)]:
        with_ccam = build(levels=levels, adapter_channels=8)
        without = build(levels=levels, adapter_channels=8, attention=None)
        assert n_params(with_ccam) - n_params(without) == 2 * len(levels)


def test_gamma_zero_equals_baseline_and_nonzero_matches_formula():
    ccam = build(adapter_channels=8)
    base = build(adapter_channels=8, attention=None)
    missing, unexpected = ccam.load_state_dict(base.state_dict(), strict=False)
    assert unexpected == [] and all('attentions' in k for k in missing)
    x = feats(seed=3)
    with torch.no_grad():
        seg_c, depth_c = ccam(x)
        seg_b, depth_b = base(x)
    for a, b in zip(seg_c + depth_c, seg_b + depth_b):
        assert torch.equal(a, b)

    with torch.no_grad():
        ccam.attentions[1].gamma_s.fill_(0.5)
        ccam.attentions[1].gamma_d.fill_(2.0)
        seg_c, depth_c = ccam(x)
    exp_s, exp_d = cross_channel_attention(seg_b[3], depth_b[3], torch.tensor(0.5),
                                           torch.tensor(2.0))
    assert torch.allclose(seg_c[3], exp_s, atol=1e-6)
    assert torch.allclose(depth_c[3], exp_d, atol=1e-6)
    assert not torch.allclose(seg_c[3], seg_b[3])
    assert torch.equal(seg_c[0], seg_b[0])  # level 0 still has gamma 0


def test_adapter_kernel_and_none_channels():
    neck = build(levels=(-1, ), kernel_size=1)
    assert neck.levels == (3, )
    assert neck.out_channels == IN_CHANNELS
    assert neck.seg_adapters[0].conv.kernel_size == (1, 1)


def test_depthwise_adapters_filter_each_channel_alone():
    neck = build(depthwise=True, attention=None)
    # conv: C * k * k weights (no bias: BN follows), BN: 2 * C, per task and level
    expected = 2 * sum(c * 9 + 2 * c for c in (IN_CHANNELS[0], IN_CHANNELS[3]))
    assert n_params(neck) == expected
    x = feats()
    ref_seg, _ = neck(x)
    # Perturbing channel 5 of level 0 changes channel 5 of the adapted map, no other channel.
    y = list(x)
    y[0] = x[0].clone()
    y[0][:, 5] += 1.0
    out_seg, _ = neck(tuple(y))
    changed = (out_seg[0] - ref_seg[0]).abs().flatten(2).amax(dim=(0, 2)) > 0
    assert changed.tolist() == [i == 5 for i in range(IN_CHANNELS[0])]


@pytest.mark.parametrize('kwargs, match', [
    (dict(depthwise=True, adapter_channels=4), 'depthwise adapters keep the channels'),
    (dict(levels=(4, )), 'not an index'),
    (dict(levels=(0, -4)), 'twice'),
    (dict(adapter_channels=[8, 8, 8]), 'one entry per exchange level'),
])
def test_bad_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_bad_input_errors():
    neck = build()
    with pytest.raises(ValueError, match='out_indices'):
        neck(feats()[:3])
    bad = list(feats())
    bad[0] = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match='in_channels\\[0\\]'):
        neck(tuple(bad))
