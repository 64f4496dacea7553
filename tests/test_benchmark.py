"""The cost benchmark (mmseg_ccam.analysis.benchmark, tools/analysis_tools/benchmark.py): the four
variants, their fields, FLOP/parameter relations and the ratios."""
import argparse
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from conftest import ROOT
from mmengine.config import Config

from mmseg_ccam.analysis import benchmark as bm

R18 = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
R18_SEMI = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py')
# CrossChannelAttention holds exactly two scalars, gamma_s and gamma_d
# (mmseg_ccam/models/utils/cross_channel_attention.py).
ATTENTION_PARAMS_PER_LEVEL = 2


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def r18_run(one_thread):
    """What tools/analysis_tools/benchmark.py writes (--json) and prints for R18 at 64x128."""
    result = bm.run_benchmark(R18, 'cpu', (64, 128), warmup=0, repeat=1, log=lambda msg: None)
    return json.loads(json.dumps(result)), bm.report(result)


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


def test_variant_configs_are_the_ablation_files():
    paths = bm.variant_paths(R18)
    stem = R18[:-len('.py')]
    assert paths == dict(joint=R18, no_attention=f'{stem}_no-ccam.py',
                         seg_only=f'{stem}_seg-only.py', depth_only=f'{stem}_depth-only.py')
    cfgs = {name: bm.variant_model_cfg(name, Config.fromfile(path), path, (64, 128))
            for name, path in paths.items()}
    assert cfgs['joint']['neck']['attention'] is not None
    assert cfgs['no_attention']['neck']['attention'] is None
    assert cfgs['seg_only']['neck'] is None and cfgs['seg_only']['depth_head'] is None
    assert cfgs['depth_only']['neck'] is None and cfgs['depth_only']['decode_head'] is None
    assert cfgs['seg_only']['backbone'] == cfgs['joint']['backbone']
    assert cfgs['joint']['data_preprocessor']['size'] == (64, 128)
    # The semi config's variants are those of its student.
    semi = bm.segmentor_cfg(Config.fromfile(R18_SEMI))
    assert semi['type'] == 'SegDepthEncoderDecoder' and semi['backbone'] == \
        Config.fromfile(R18).model.backbone
    # a file that is not what its variant says is refused
    with pytest.raises(ValueError, match='model.neck is None'):
        bm.check_variant('joint', cfgs['seg_only'], paths['seg_only'])
    with pytest.raises(ValueError, match='model.depth_head is set'):
        bm.check_variant('seg_only', cfgs['joint'], R18)
    # an explicit variant file wins over the sibling; a missing one is named
    assert bm.variant_paths(R18, dict(no_attention=R18))['no_attention'] == R18
    with pytest.raises(FileNotFoundError, match='nope.py'):
        bm.variant_paths(R18, dict(seg_only='nope.py'))


def test_semi_breakdown_small():
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    args = argparse.Namespace(shape=[32, 64], device='cpu', warmup=0, repeat=1, amp=False,
                              channels_last=False)
    semi = bm.semi_breakdown(Config.fromfile(R18_SEMI), args)
    assert semi['step_ms'] > 0 and semi['augment_ms'] > 0 and semi['ema_ms'] > 0
    # the parts are the model's record_function ranges, each inside the step
    assert {'ccam:affine_mix', 'ccam:color_aug', 'ccam:ema'} <= set(semi['ranges'])
    assert semi['augment_ms'] == pytest.approx(
        sum(semi[name.split(':')[1] + '_ms'] for name in bm.AUGMENT_RANGES))
    assert all(0 < semi[name.split(':')[1] + '_ms'] < semi['step_ms'] for name in semi['ranges'])
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


def test_command_line_takes_the_variant_configs(tmp_path):
    """The script passes --seg-only and --variants through and writes the JSON."""
    out = tmp_path / 'b.json'
    seg_only = R18[:-len('.py')] + '_seg-only.py'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py'), R18,
         '--variants', 'seg_only', '--seg-only', seg_only, '--shape', '32', '64', '--warmup',
         '0', '--repeat', '1', '--threads', '1', '--json', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert list(data['variants']) == ['seg_only']
    assert data['variant_configs'] == dict(seg_only=seg_only)
    assert '| seg_only |' in proc.stdout
