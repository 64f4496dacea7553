"""benchmark.py: the four variants, their fields, FLOP/parameter relations and the ratios."""
import argparse
import importlib.util
import json
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
R18 = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
R18_SEMI = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py')
# CrossChannelAttention holds exactly two scalars, gamma_s and gamma_d
# (mmseg_ccam/models/utils/cross_channel_attention.py).
ATTENTION_PARAMS_PER_LEVEL = 2


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_test_{name}', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bm = load_tool('benchmark')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny convolutions: one thread avoids OpenMP spin-waiting on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def r18_run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp('bench') / 'b.json'
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        bm.main([R18, '--device', 'cpu', '--shape', '64', '128', '--warmup', '0', '--repeat', '1',
                 '--json', str(out)])
    return json.loads(out.read_text()), buf.getvalue()


def test_json_has_all_variants_and_fields(r18_run):
    data, _ = r18_run
    assert data['shape'] == [64, 128] and data['device'] == 'cpu'
    assert {'cpu', 'cores', 'torch', 'date'} <= set(data['machine'])
    assert set(data['variants']) == set(bm.VARIANTS)
    for name, entry in data['variants'].items():
        assert set(bm.FIELDS) <= set(entry), name
        for key in ('params', 'flops', 'latency_ms', 'train_step_ms'):
            assert entry[key] > 0, (name, key)
        assert entry['mem_kind'] in ('cpu_rss_peak_growth', 'cpu_ru_maxrss_growth')
    assert 'semi' not in data


def test_param_and_flop_relations(r18_run):
    data, _ = r18_run
    v = data['variants']
    levels = Config.fromfile(R18).model.neck.levels
    assert len(levels) == 2
    assert v['joint']['params'] == \
        v['no_attention']['params'] + len(levels) * ATTENTION_PARAMS_PER_LEVEL
    assert v['seg_only']['flops'] < v['joint']['flops']
    assert v['depth_only']['flops'] < v['joint']['flops']
    # The attention's three bmm per level (energy C x N . N x C, two messages C x C . C x N):
    # 3 * C^2 * N multiply-adds; FlopAnalyzer does not count softmax and element-wise ops.
    channels = Config.fromfile(R18).model.neck.in_channels
    # level 0 at stride 4, level 3 at stride 8 (dilated ResNet, strides (1, 2, 1, 1)).
    bmm = 3 * channels[0]**2 * (16 * 32) + 3 * channels[3]**2 * (8 * 16)
    assert v['joint']['flops'] - v['no_attention']['flops'] == bmm


def test_printed_ideal_ratio_matches_json(r18_run):
    data, printed = r18_run
    v = data['variants']
    ideal = (v['seg_only']['flops'] + v['depth_only']['flops']) / v['joint']['flops']
    assert data['ratios']['flop_ideal_speedup'] == pytest.approx(ideal, rel=1e-12)
    row = next(line for line in printed.splitlines()
               if line.startswith('| speed-up') and 'latency' in line)
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert float(cells[2]) == pytest.approx(ideal, abs=5e-4)
    assert re.search(r'\| joint \| 1\.\d{3} \|', printed)


def test_compute_ratios_hand_values():
    def entry(params, flops, lat, step):
        return dict(params=params, flops=flops, latency_ms=lat, train_step_ms=step)

    v = dict(joint=entry(100, 10, 10.0, 100.0), no_attention=entry(98, 9, 9.8, 99.0),
             seg_only=entry(70, 7, 6.5, 70.0), depth_only=entry(70, 7, 6.5, 60.0))
    r = bm.compute_ratios(v)
    assert r['flop_ideal_speedup'] == pytest.approx(1.4)
    assert r['latency_speedup'] == pytest.approx(1.3)
    assert r['latency_speedup_met'] is False  # 1.3 < 0.95 * 1.4 = 1.33
    assert r['train_step_speedup'] == pytest.approx(1.3)
    v['seg_only']['latency_ms'] = 6.9  # 1.34 >= 1.33
    assert bm.compute_ratios(v)['latency_speedup_met'] is True
    assert r['params_ratio'] == pytest.approx(100 / 140) and r['params_met'] is True
    assert r['ccam_latency_overhead'] == pytest.approx(10.0 / 9.8 - 1)
    assert r['ccam_overhead_met'] is True  # 2.04 % <= 3 %


def test_variant_cfgs_follow_single_task_configs():
    cfg = Config.fromfile(R18)
    cfgs = bm.variant_cfgs(bm.segmentor_cfg(cfg), (64, 128))
    assert cfgs['joint']['neck']['attention'] is not None
    assert cfgs['no_attention']['neck']['attention'] is None
    assert cfgs['seg_only']['neck'] is None and cfgs['seg_only']['depth_head'] is None
    assert cfgs['depth_only']['neck'] is None and cfgs['depth_only']['decode_head'] is None
    assert cfgs['seg_only']['backbone'] == cfgs['joint']['backbone']
    assert cfgs['joint']['data_preprocessor']['size'] == (64, 128)
    # The semi config's variants are those of its student.
    semi = bm.segmentor_cfg(Config.fromfile(R18_SEMI))
    assert semi['type'] == 'SegDepthEncoderDecoder' and semi['backbone'] == cfg.model.backbone
    with pytest.raises(ValueError, match='model.neck is None'):
        bm.variant_cfgs(cfgs['seg_only'], (64, 128))


def test_semi_breakdown_small():
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    args = argparse.Namespace(shape=[32, 64], device='cpu', warmup=0, repeat=1, amp=False,
                              channels_last=False)
    semi = bm.semi_breakdown(Config.fromfile(R18_SEMI), args)
    assert semi['step_ms'] > 0 and semi['augment_ms'] > 0 and semi['ema_ms'] > 0
    assert semi['share'] == pytest.approx((semi['augment_ms'] + semi['ema_ms']) / semi['step_ms'])
    assert semi['met'] == (semi['share'] <= 0.05)


def test_param_identity_with_independently_built_parts(r18_run):
    """P_seg + P_depth - P_joint = P_backbone - P_neck: both single-task models hold the
    backbone, the joint one holds it once plus the neck; the heads cancel."""
    from mmseg.registry import MODELS
    data, _ = r18_run
    v = data['variants']
    model = Config.fromfile(R18).model
    backbone = sum(p.numel() for p in MODELS.build(dict(model.backbone)).parameters())
    neck = sum(p.numel() for p in MODELS.build(dict(model.neck)).parameters())
    # Hand count of the R18 neck (in_channels 16, 32, 64, 128; levels 0 and 3; 3x3 adapters
    # without bias, BN weight + bias), one adapter per task and level, + 2 gammas per level.
    adapters = 2 * ((16 * 16 * 9 + 2 * 16) + (128 * 128 * 9 + 2 * 128))
    assert neck == adapters + 2 * ATTENTION_PARAMS_PER_LEVEL == 300100
    assert v['seg_only']['params'] + v['depth_only']['params'] - v['joint']['params'] == \
        backbone - neck
    assert data['ratios']['params_ratio'] == pytest.approx(
        v['joint']['params'] / (v['seg_only']['params'] + v['depth_only']['params']))
