"""ablation.py: skip/resume logic and mean ± std aggregation, with fake train/test commands."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
from conftest import ROOT, load_script

ab = load_script('tools/analysis_tools/ablation.py')

FAKE_TRAIN = '''
import json, os, sys
work_dir, seed, config = sys.argv[1], sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
with open(os.environ['ABLATION_CALLS'], 'a') as f:
    f.write(json.dumps(['train', os.path.basename(config), seed, rest]) + '\\n')
os.makedirs(work_dir, exist_ok=True)
ckpt = os.path.join(work_dir, 'iter_10.pth')
open(ckpt, 'w').write('weights')
open(os.path.join(work_dir, 'last_checkpoint'), 'w').write(ckpt)
'''

FAKE_TEST = '''
import json, os, sys
config, checkpoint, out, seed = sys.argv[1:5]
with open(os.environ['ABLATION_CALLS'], 'a') as f:
    f.write(json.dumps(['test', os.path.basename(config), seed, sys.argv[5:]]) + '\\n')
assert os.path.isfile(checkpoint), checkpoint
s = int(seed)
offset = 10.0 if 'b_cfg' in config else 0.0
json.dump({'mIoU': 50.0 + offset + s, 'aAcc': 90.0, 'abs_rel': 0.1 * (s + 1),
           'rmse': None, 'd1': 0.8 + 0.05 * s}, open(out, 'w'))
'''


@pytest.fixture
def setup(tmp_path, monkeypatch):
    (tmp_path / 'fake_train.py').write_text(FAKE_TRAIN)
    (tmp_path / 'fake_test.py').write_text(FAKE_TEST)
    for name in ('a_cfg.py', 'b_cfg.py'):
        (tmp_path / name).write_text('# fake config\n')
    calls = tmp_path / 'calls.jsonl'
    monkeypatch.setenv('ABLATION_CALLS', str(calls))
    train = f'{{python}} {tmp_path}/fake_train.py {{work_dir}} {{seed}} {{config}} {{resume}} ' \
            '{cfg_options}'
    test = f'{{python}} {tmp_path}/fake_test.py {{config}} {{checkpoint}} {{metrics}} {{seed}} ' \
           '{cfg_options}'
    configs = [str(tmp_path / 'a_cfg.py'), str(tmp_path / 'b_cfg.py')]
    return tmp_path, calls, train, test, configs


def read_calls(calls):
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text().splitlines()]


def test_runs_aggregates_and_skips_finished_runs(setup):
    tmp, calls, train, test, configs = setup
    work = tmp / 'work'
    argv = configs + ['--seeds', '0', '1', '2', '--work-dir', str(work), '--train-cmd', train,
                      '--test-cmd', test, '--cfg-options', 'train_cfg.max_iters=10']
    md = ab.main(argv)
    got = read_calls(calls)
    assert [c[:3] for c in got] == [[kind, cfg, s] for cfg in ('a_cfg.py', 'b_cfg.py')
                                    for s in ('0', '1', '2') for kind in ('train', 'test')]
    # train gets the seed and the user's options; test gets the user's options only
    assert got[0][3] == ['--cfg-options', 'randomness.seed=0', 'train_cfg.max_iters=10']
    assert got[1][3] == ['--cfg-options', 'train_cfg.max_iters=10']

    summary = json.loads((work / 'a_cfg' / 'summary.json').read_text())
    # mIoU 50, 51, 52: mean 51, sample std 1; abs_rel 0.1, 0.2, 0.3: mean 0.2, std 0.1
    assert summary['mIoU'] == {'mean': 51.0, 'std': 1.0, 'n': 3}
    assert summary['abs_rel']['mean'] == pytest.approx(0.2)
    assert summary['abs_rel']['std'] == pytest.approx(0.1)
    assert summary['aAcc'] == {'mean': 90.0, 'std': 0.0, 'n': 3}
    assert summary['rmse'] == {'mean': None, 'std': None, 'n': 0}
    assert (work / 'ablation.md').read_text() == md
    table = md.splitlines()[-4:]
    assert table == [
        '| config | seeds | mIoU | aAcc | AbsRel | d1 |',
        '| :--- | ---: | ---: | ---: | ---: | ---: |',
        '| a_cfg | 3 | 51.00 ± 1.00 | **90.00 ± 0.00** | **0.2000 ± 0.1000** '
        '| **0.8500 ± 0.0500** |',
        '| b_cfg | 3 | **61.00 ± 1.00** | **90.00 ± 0.00** | **0.2000 ± 0.1000** '
        '| **0.8500 ± 0.0500** |',
    ]
    assert 'seeds 0 1 2' in md
    csv_lines = (work / 'ablation.csv').read_text().splitlines()
    assert csv_lines[0] == 'config,seeds,mIoU,mIoU_std,aAcc,aAcc_std,abs_rel,abs_rel_std,d1,d1_std'
    assert csv_lines[2].startswith('b_cfg,3,61.0,1.0,90.0,0.0,')

    # Second invocation: every metrics file exists -> nothing runs, same table.
    calls.unlink()
    assert ab.main(argv) == md
    assert read_calls(calls) == []


def test_checkpoint_without_metrics_is_resumed_and_missing_run_trained(setup):
    tmp, calls, train, test, configs = setup
    work = tmp / 'work'
    # seed 0: finished; seed 1: crashed after a checkpoint; seed 2: never started.
    done = work / 'a_cfg' / 'seed0'
    done.mkdir(parents=True)
    (done / 'metrics.json').write_text(json.dumps({'mIoU': 40.0}))
    crashed = work / 'a_cfg' / 'seed1'
    crashed.mkdir(parents=True)
    (crashed / 'iter_5.pth').write_text('w')
    (crashed / 'last_checkpoint').write_text(str(crashed / 'iter_5.pth'))
    runs = ab.plan_runs(configs[:1], [0, 1, 2], str(work))
    assert [ab.run_state(r) for r in runs] == ['done', 'resume', 'new']

    md = ab.run_ablation(configs[:1], [0, 1, 2], str(work), train_cmd=train, test_cmd=test)
    got = read_calls(calls)
    assert [c[:3] for c in got] == [['train', 'a_cfg.py', '1'], ['test', 'a_cfg.py', '1'],
                                    ['train', 'a_cfg.py', '2'], ['test', 'a_cfg.py', '2']]
    assert got[0][3] == ['--resume', '--cfg-options', 'randomness.seed=1']
    assert got[2][3] == ['--cfg-options', 'randomness.seed=2']
    assert got[1][3] == []  # no --cfg-options at all for test when none were given
    # mIoU over 40 (kept), 51, 52: mean 47.667, std sqrt(((-7.667)^2+3.333^2+4.333^2)/2)
    mean = (40 + 51 + 52) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in (40, 51, 52)) / 2)
    summary = json.loads((work / 'a_cfg' / 'summary.json').read_text())
    assert summary['mIoU']['mean'] == pytest.approx(mean)
    assert summary['mIoU']['std'] == pytest.approx(std)
    # abs_rel only in the two new runs: n = 2
    assert summary['abs_rel']['n'] == 2
    assert f'{mean:.2f} ± {std:.2f}' in md


def test_failures_and_template_errors(setup):
    tmp, calls, train, test, configs = setup
    with pytest.raises(RuntimeError, match='seed 0.*exit code 3'):
        ab.run_ablation(configs[:1], [0], str(tmp / 'w'), train_cmd=train, test_cmd=test,
                        execute=lambda cmd: 3)
    with pytest.raises(ValueError, match='placeholder'):
        ab.expand('{python} {nope}', dict(python='py'), {})
    with pytest.raises(ValueError, match='share the name'):
        ab.plan_runs(['x/a.py', 'y/a.py'], [0], 'w')
    with pytest.raises(FileNotFoundError, match='missing.py'):
        ab.run_ablation(['missing.py'], [0], str(tmp / 'w'))


def test_default_commands_point_at_the_repository_tools():
    values = dict(python='py', root=ab.ROOT, config='c.py', work_dir='w', seed='1',
                  checkpoint='w/iter_1.pth', metrics='w/metrics.json')
    cmd = ab.expand(ab.DEFAULT_TRAIN_CMD, values,
                    dict(resume=[], cfg_options=['--cfg-options', 'randomness.seed=1']))
    assert cmd == ['py', osp.join(ROOT, 'tools', 'train.py'), 'c.py', '--work-dir', 'w',
                   '--cfg-options', 'randomness.seed=1']
    cmd = ab.expand(ab.DEFAULT_TEST_CMD, values, dict(resume=[], cfg_options=[]))
    assert cmd == ['py', osp.join(ROOT, 'tools', 'test.py'), 'c.py', 'w/iter_1.pth',
                   '--work-dir', 'w/test', '--out', 'w/metrics.json']


# ----------------------------------------------------------------------------- protocol mode
def _protocol(tmp, **extra):
    (tmp / 'summary.json').write_text(json.dumps({'test': {'class_pixels': {
        'road': 600, 'car': 395, 'pole': 5}}}))   # pole: 0.5 % < 1 %
    proto = dict(
        seeds=[0, 1, 2],
        cfg_options=['train_cfg.max_iters=10'],
        eval_splits={'test': [], 'shift': ['test_dataloader.dataset.data_prefix.img_path=s']},
        class_pixels={'file': str(tmp / 'summary.json'), 'split': 'test'},
        frequent_class_fraction=0.01,
        arms={'a': {'config': str(tmp / 'a_cfg.py')}, 'b': {'config': str(tmp / 'b_cfg.py')},
              'later': {'config': str(tmp / 'a_cfg.py'), 'enabled': False}},
        comparisons=[
            {'name': 'b vs a', 'treatment': 'b', 'control': 'a',
             'metrics': ['mIoU', 'mIoU_frequent', 'abs_rel']},
            {'name': 'b vs a (shift)', 'treatment': 'b', 'control': 'a', 'split': 'shift',
             'metrics': ['d1']}])
    proto.update(extra)
    path = tmp / 'protocol.json'
    path.write_text(json.dumps(proto))
    return path


def _write_run(evidence, arm, seed, test, shift=None):
    path = evidence / 'runs' / arm / f'seed{seed}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'arm': arm, 'seed': seed, 'metrics': {
        'test': test, 'shift': shift or {}}}))


def test_paired_difference_se_and_decision_by_hand():
    # diffs 1, 2, 3: mean 2, sd 1, se 1/sqrt(3) = 0.577; 2 > 2 * 0.577 -> supported
    res = ab.paired({0: 11.0, 1: 12.0, 2: 13.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    assert res['mean'] == pytest.approx(2.0) and res['sd'] == pytest.approx(1.0)
    assert res['se'] == pytest.approx(1 / math.sqrt(3))
    assert res['decision'] == 'supported'
    # diffs 1, -1, 3: mean 1, sd 2, se 1.155: |1| < 2.31 -> not supported
    res = ab.paired({0: 1.0, 1: -1.0, 2: 3.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert res['se'] == pytest.approx(2 / math.sqrt(3))
    assert res['decision'] == 'not supported'
    # lower is better: treatment errors higher by 0.1 +- small -> contradicted
    res = ab.paired({0: 0.30, 1: 0.31, 2: 0.29}, {0: 0.20, 1: 0.20, 2: 0.20},
                    lower_better=True)
    assert res['mean'] == pytest.approx(0.1) and res['decision'] == 'contradicted'
    # only the seeds both arms have are paired; one pair is not enough
    res = ab.paired({0: 5.0, 3: 9.0}, {0: 4.0, 1: 1.0})
    assert res['seeds'] == [0] and res['mean'] == 1.0
    assert res['decision'] == 'insufficient (n < 2)'


def test_frequent_classes_and_their_miou():
    classes = ab.frequent_classes({'road': 600, 'car': 395, 'pole': 5}, 0.01)
    assert classes == ['road', 'car']
    m = {'IoU.road': 90.0, 'IoU.car': 40.0, 'IoU.pole': 0.0}
    assert ab.mean_iou_over(m, classes) == 65.0
    assert ab.mean_iou_over({'IoU.road': float('nan'), 'IoU.car': 40.0}, classes) == 40.0
    assert ab.mean_iou_over({'abs_rel': 0.2}, classes) is None


def test_report_from_synthetic_json(tmp_path):
    path = _protocol(tmp_path)
    ev = tmp_path
    # a: mIoU 50, 52, 54; b: 53, 54, 58 -> diffs 3, 2, 4: mean 3, sd 1, se 0.577 -> supported
    # IoU.road/car give mIoU_frequent a: 60, 60, 60; b: 61, 59, 60 -> diffs 1, -1, 0
    # abs_rel a: .20 .20 .20, b: .18 .19 .17 -> diffs -.02 -.01 -.03 (better) -> supported
    for s, (ma, mb, fb, rb) in enumerate([(50, 53, (62, 60), .18), (52, 54, (58, 60), .19),
                                          (54, 58, (60, 60), .17)]):
        _write_run(ev, 'a', s, {'mIoU': ma, 'IoU.road': 70, 'IoU.car': 50, 'IoU.pole': 0,
                                'abs_rel': .20}, {'d1': 0.8})
        _write_run(ev, 'b', s, {'mIoU': mb, 'IoU.road': fb[0], 'IoU.car': fb[1],
                                'IoU.pole': 99, 'abs_rel': rb}, {'d1': 0.8 - 0.1 * (s + 1)})
    md = ab.run_protocol(str(path), report_only=True)
    assert (tmp_path / 'results.md').read_text() == md
    rows = {tuple(c.strip() for c in line.split('|')[1:4]): [c.strip() for c in
                                                            line.split('|')[4:-1]]
            for line in md.splitlines() if line.startswith('| b vs a')}
    # 95 % interval: mean ± t(0.975, 2) * se = 3 ± 4.3027 * 0.57735 = 3 ± 2.4841
    assert rows[('b vs a', 'test', 'mIoU')] == [
        '3', '55.00 ± 2.65 (n=3)', '52.00 ± 2.00 (n=3)', '+3.00 ± 0.58', '[+0.52, +5.48]',
        'supported']
    assert rows[('b vs a', 'test', 'mIoU_frequent')] == [
        '3', '60.00 ± 1.00 (n=3)', '60.00 ± 0.00 (n=3)', '+0.00 ± 0.58', '[-2.48, +2.48]',
        'not supported']
    # -0.02 ± 4.3027 * 0.0057735 = -0.02 ± 0.02484
    assert rows[('b vs a', 'test', 'abs_rel')][3:] == ['-0.0200 ± 0.0058',
                                                       '[-0.0448, +0.0048]', 'supported']
    # d1 on the shift split: b worse by 0.1, 0.2, 0.3 -> mean -0.2, se 0.0577 -> contradicted
    assert rows[('b vs a (shift)', 'shift', 'd1')][3:] == ['-0.2000 ± 0.0577',
                                                           '[-0.4484, +0.0484]', 'contradicted']
    assert 'road, car' in md and '| 2 | 58.00 | 54.00 | +4.00 |' in md



def test_per_class_table_by_hand(tmp_path, capsys):
    path = _protocol(tmp_path)
    # Seed 2 of b is missing -> pairs are seeds 0, 1. road: b - a = +2, +4 (mean 3, sd 1.41,
    # se 1.00); car: b has no value on seed 1 -> one pair, -1, no SE; pole: 0 in both arms.
    for s in range(3):
        _write_run(tmp_path, 'a', s, {'IoU.road': 80.0, 'IoU.car': 40.0, 'IoU.pole': 0.0})
    _write_run(tmp_path, 'b', 0, {'IoU.road': 82.0, 'IoU.car': 39.0, 'IoU.pole': 0.0})
    _write_run(tmp_path, 'b', 1, {'IoU.road': 84.0, 'IoU.car': None, 'IoU.pole': 0.0})
    md = ab.main(['--protocol', str(path), '--per-class', 'b vs a'])
    assert capsys.readouterr().out == md
    rows = [line for line in md.splitlines() if line.startswith('| ') and ' % |' in line]
    # road's 95 % interval, 1 df: 3 ± 12.706 * 1
    assert rows == ['| road | 60.0 % | 83.00 | 80.00 | +2.00 / +4.00 | +3.00 ± 1.00 | '
                    '[-9.71, +15.71] |',
                    '| car | 39.5 % | 39.00 | 40.00 | -1.00 | -1.00 | — |',
                    '| pole | 0.5 % | 0.00 | 0.00 | +0.00 / +0.00 | +0.00 ± 0.00 | '
                    '[+0.00, +0.00] |']
    assert 'paired by seed (0, 1)' in md and 'on `test`' in md
    assert '`shift`' in ab.main(['--protocol', str(path), '--per-class', 'b vs a',
                                 '--split', 'shift'])
    with pytest.raises(ValueError, match="No comparison 'c vs a'.*'b vs a'"):
        ab.main(['--protocol', str(path), '--per-class', 'c vs a'])
    assert not (tmp_path / 'results.md').exists()  # prints only
    with pytest.raises(ValueError, match="--split 'val' is not an evaluation split.*'shift'"):
        ab.main(['--protocol', str(path), '--per-class', 'b vs a', '--split', 'val'])
    with pytest.raises(SystemExit, match='--split only goes with --per-class'):
        ab.main(['--protocol', str(path), '--report-only', '--split', 'shift'])


def test_decision_before_all_protocol_seeds_is_provisional(tmp_path):
    # The protocol gives both arms seeds 0-3; two pairs decide, but only provisionally.
    path = _protocol(tmp_path, seeds=[0, 1, 2, 3])
    for s, (ma, mb) in enumerate([(50, 53), (52, 54)]):
        _write_run(tmp_path, 'a', s, {'mIoU': ma, 'abs_rel': .2}, {'d1': .5})
        _write_run(tmp_path, 'b', s, {'mIoU': mb, 'abs_rel': .2}, {'d1': .5})
    md = ab.run_protocol(str(path), report_only=True)
    row = next(line for line in md.splitlines() if line.startswith('| b vs a | test | mIoU |'))
    # diffs 3, 2: mean 2.5, se 0.5 -> supported, on 2 of the 4 planned seeds
    # 95 % interval with 1 df: 2.5 ± 12.706 * 0.5
    assert row.endswith('| +2.50 ± 0.50 | [-3.85, +8.85] | supported (provisional: 2 of 4 '
                        'seeds) |')


def test_protocol_runs_seed_major_resume_and_skip(setup):
    tmp, calls, train, test, _ = setup
    path = _protocol(tmp, seeds=[0, 1])
    proto = ab.load_protocol(str(path))
    runs = ab.protocol_runs(proto, str(tmp / 'work'))
    # seed-major, the disabled arm left out
    assert [(r.name, r.seed) for r in runs] == [('a', 0), ('b', 0), ('a', 1), ('b', 1)]
    assert [r.name for r in ab.protocol_runs(proto, str(tmp / 'work'), ['later'])] == \
        ['later', 'later']
    # --seeds restricts the runs to the protocol's seeds; a seed no arm has is refused
    assert [(r.name, r.seed) for r in ab.protocol_runs(proto, str(tmp / 'work'),
                                                        only_seeds=[1])] == [('a', 1), ('b', 1)]
    with pytest.raises(ValueError, match=r'--seeds \[7\]: no arm .* \(their seeds: \[0, 1\]\)'):
        ab.protocol_runs(proto, str(tmp / 'work'), only_seeds=[1, 7])
    # a/seed0 finished earlier; b/seed0 interrupted after a checkpoint
    _write_run(tmp, 'a', 0, {'mIoU': 1.0})
    crashed = tmp / 'work' / 'b' / 'seed0'
    crashed.mkdir(parents=True)
    (crashed / 'iter_5.pth').write_text('w')
    (crashed / 'last_checkpoint').write_text(str(crashed / 'iter_5.pth'))
    ab.run_protocol(str(path), work_dir=str(tmp / 'work'), train_cmd=train, test_cmd=test)
    got = read_calls(calls)
    assert [c[:3] for c in got] == [
        ['train', 'b_cfg.py', '0'], ['test', 'b_cfg.py', '0'], ['test', 'b_cfg.py', '0'],
        ['train', 'a_cfg.py', '1'], ['test', 'a_cfg.py', '1'], ['test', 'a_cfg.py', '1'],
        ['train', 'b_cfg.py', '1'], ['test', 'b_cfg.py', '1'], ['test', 'b_cfg.py', '1']]
    assert got[0][3] == ['--resume', '--cfg-options', 'randomness.seed=0',
                         'train_cfg.max_iters=10']
    assert got[1][3] == ['--cfg-options', 'train_cfg.max_iters=10']
    assert got[2][3] == ['--cfg-options', 'train_cfg.max_iters=10',
                         'test_dataloader.dataset.data_prefix.img_path=s']
    record = json.loads((tmp / 'runs' / 'b' / 'seed1.json').read_text())
    assert record['seed'] == 1 and record['metrics']['test']['mIoU'] == 61.0
    assert set(record['metrics']) == {'test', 'shift'}
    # everything done: a second call runs nothing
    calls.unlink()
    ab.run_protocol(str(path), work_dir=str(tmp / 'work'), train_cmd=train, test_cmd=test)
    assert read_calls(calls) == []


def test_split_added_later_is_backfilled_from_the_checkpoint(setup):
    tmp, calls, train, test, _ = setup
    path = _protocol(tmp, seeds=[0])
    ab.run_protocol(str(path), arms=['a'], work_dir=str(tmp / 'work'), train_cmd=train,
                    test_cmd=test)
    before = json.loads((tmp / 'runs' / 'a' / 'seed0.json').read_text())
    # A third evaluation split joins the protocol after the run finished.
    proto = json.loads(path.read_text())
    proto['eval_splits']['scaled'] = ['test_evaluator.1.median_scaling=True']
    path.write_text(json.dumps(proto))
    assert ab.run_protocol(str(path), arms=['a'], work_dir=str(tmp / 'work'), dry_run=True) \
        .endswith('a seed 0: backfill scaled (' + str(tmp / 'a_cfg.py') + ')')
    calls.unlink()
    ab.run_protocol(str(path), arms=['a'], work_dir=str(tmp / 'work'), train_cmd=train,
                    test_cmd=test)
    got = read_calls(calls)
    assert [c[:3] for c in got] == [['test', 'a_cfg.py', '0']]   # no training, one test
    assert got[0][3] == ['--cfg-options', 'train_cfg.max_iters=10',
                         'test_evaluator.1.median_scaling=True']
    after = json.loads((tmp / 'runs' / 'a' / 'seed0.json').read_text())
    assert after['metrics']['test'] == before['metrics']['test']
    assert after['metrics']['scaled']['mIoU'] == 50.0 and after['code'] == before['code']
    assert set(after['eval_code']) == {'scaled'}
    # Without the checkpoint there is nothing to test: a clear error, the JSON untouched.
    proto['eval_splits']['other'] = []
    path.write_text(json.dumps(proto))
    (tmp / 'work' / 'a' / 'seed0' / 'last_checkpoint').unlink()
    with pytest.raises(RuntimeError, match=r"lacks the evaluation split\(s\) \['other'\]"):
        ab.run_protocol(str(path), arms=['a'], work_dir=str(tmp / 'work'), train_cmd=train,
                        test_cmd=test)
    assert json.loads((tmp / 'runs' / 'a' / 'seed0.json').read_text()) == after


def test_split_with_arm_options_and_secondary_comparison(tmp_path):
    path = _protocol(tmp_path, seeds=[0, 1])
    proto = json.loads(path.read_text())
    proto['eval_splits']['scaled'] = {'options': ['x=1'], 'arm_options': {'a': None}}
    proto['comparisons'].append({'name': 'b vs a (scaled)', 'treatment': 'b', 'control': 'a',
                                 'split': 'scaled', 'metrics': ['mIoU'], 'secondary': True})
    path.write_text(json.dumps(proto))
    loaded = ab.load_protocol(str(path))
    assert ab.arm_splits(loaded, 'a') == {'test': [], 'shift': [
        'test_dataloader.dataset.data_prefix.img_path=s']}
    assert ab.arm_splits(loaded, 'b')['scaled'] == ['x=1']
    for s, (ma, mb) in enumerate([(50, 53), (52, 54)]):
        _write_run(tmp_path, 'a', s, {'mIoU': ma})
        _write_run(tmp_path, 'b', s, {'mIoU': mb})
    md = ab.run_protocol(str(path), report_only=True)
    row = next(line for line in md.splitlines() if line.startswith('| b vs a (scaled)'))
    assert row.endswith('| secondary, not a claim: insufficient (n < 2) |')
    proto['eval_splits']['scaled']['arm_options'] = {'zz': None}
    path.write_text(json.dumps(proto))
    with pytest.raises(ValueError, match=r"eval_splits.scaled.arm_options names unknown arms "
                                         r"\['zz'\]"):
        ab.load_protocol(str(path))


def test_control_split_pairs_one_arm_across_splits(tmp_path):
    # What the shift costs arm a, paired by seed: mIoU on shift - on test = -8, -6, -7
    # (mean -7, sd 1, se 0.577 -> contradicted); abs_rel +.03, 0, 0 (mean .01, se .01) ->
    # not supported.
    path = _protocol(tmp_path)
    proto = json.loads(path.read_text())
    proto['comparisons'].append({'name': 'shift cost (a)', 'treatment': 'a', 'control': 'a',
                                 'split': 'shift', 'control_split': 'test',
                                 'metrics': ['mIoU', 'abs_rel'], 'secondary': True})
    path.write_text(json.dumps(proto))
    for s, (m, m_shift, r_shift) in enumerate([(58, 50, .23), (60, 54, .20), (62, 55, .20)]):
        _write_run(tmp_path, 'a', s, {'mIoU': m, 'IoU.road': 80.0 + s, 'abs_rel': .20},
                   {'mIoU': m_shift, 'IoU.road': 70.0, 'abs_rel': r_shift})
    md = ab.run_protocol(str(path), report_only=True)
    rows = {line.split('|')[3].strip(): line for line in md.splitlines()
            if line.startswith('| shift cost (a) |')}
    assert rows['mIoU'].split('|')[2].strip() == 'shift vs test'
    assert rows['mIoU'].endswith('| -7.00 ± 0.58 | [-9.48, -4.52] | secondary, not a claim: '
                                 'contradicted |')
    assert rows['abs_rel'].endswith('| +0.0100 ± 0.0100 | [-0.0330, +0.0530] | secondary, '
                                    'not a claim: not supported |')
    assert 'on `shift` vs on `test`' in md
    # --per-class reads each side on its own split; road: 70 - 80, 70 - 81, 70 - 82.
    table = ab.main(['--protocol', str(path), '--per-class', 'shift cost (a)'])
    assert '`shift` vs `test`' in table
    assert '| road | 60.0 % | 70.00 | 81.00 | -10.00 / -11.00 / -12.00 | -11.00 ± 0.58 | ' \
        '[-13.48, -8.52] |' in table
    # An arm against itself on one split is refused.
    proto['comparisons'][-1]['control_split'] = 'shift'
    path.write_text(json.dumps(proto))
    with pytest.raises(ValueError, match="compares arm 'a' on 'shift' with itself"):
        ab.load_protocol(str(path))
    proto['comparisons'][-1]['control_split'] = 'val'
    path.write_text(json.dumps(proto))
    with pytest.raises(ValueError, match="control_split 'val' is not in eval_splits"):
        ab.load_protocol(str(path))


def test_code_versions_declared_equivalent_are_not_mixed(tmp_path):
    path = _protocol(tmp_path, seeds=[0, 1])
    for s, (ma, mb) in enumerate([(50, 53), (52, 54)]):
        _write_run(tmp_path, 'a', s, {'mIoU': ma})
        _write_run(tmp_path, 'b', s, {'mIoU': mb})
    for arm, seed, code in (('a', 0, 'old'), ('a', 1, 'new'), ('b', 0, 'old'), ('b', 1, 'new')):
        f = tmp_path / 'runs' / arm / f'seed{seed}.json'
        f.write_text(json.dumps(dict(json.loads(f.read_text()), code=code)))

    def row(extra):
        proto = json.loads(path.read_text())
        proto.update(extra)
        path.write_text(json.dumps(proto))
        md = ab.run_protocol(str(path), report_only=True)
        return next(line for line in md.splitlines()
                    if line.startswith('| b vs a | test | mIoU')), md

    line, _ = row({})
    assert line.endswith('| supported (mixed code versions) |')
    group = {'versions': ['old', 'new'], 'evidence': 'same losses', 'arms': ['a', 'b']}
    line, md = row({'code_equivalence': [group]})
    assert line.endswith('| supported |') and 'declared equivalent' in md
    # A group limited to other arms does not apply.
    line, _ = row({'code_equivalence': [dict(group, arms=['later'])]})
    assert line.endswith('(mixed code versions) |')
    with pytest.raises(ValueError, match='needs two or more "versions" and the "evidence"'):
        row({'code_equivalence': [{'versions': ['old', 'new']}]})


def test_readme_block_and_protocol_errors(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('# X\n\n<!-- evidence-results:begin -->\nold\n'
                      '<!-- evidence-results:end -->\ntail\n')
    ab.update_readme(str(readme), 'new table')
    assert readme.read_text() == ('# X\n\n<!-- evidence-results:begin -->\nnew table\n'
                                  '<!-- evidence-results:end -->\ntail\n')
    (tmp_path / 'plain.md').write_text('no markers\n')
    with pytest.raises(ValueError, match='evidence-results:begin'):
        ab.update_readme(str(tmp_path / 'plain.md'), 'x')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'arms': {'a': {'config': 'c.py'}}, 'comparisons': [
        {'name': 'x', 'treatment': 'a', 'control': 'zz', 'metrics': ['mIoU']}]}))
    with pytest.raises(ValueError, match="control 'zz' is not an arm"):
        ab.load_protocol(str(bad))


def test_shipped_protocol_names_existing_configs():
    proto = ab.load_protocol(osp.join(ROOT, 'docs', 'evidence', 'protocol.json'))
    for name, arm in proto['arms'].items():
        assert osp.isfile(osp.join(ROOT, arm['config'])), name
    assert all(len(a['seeds']) >= 3 for a in proto['arms'].values())


def test_pairs_from_different_code_versions_are_flagged(tmp_path):
    path = _protocol(tmp_path)
    for s in range(2):
        for arm, v in (('a', 50.0), ('b', 60.0 + s)):
            _write_run(tmp_path, arm, s, {'mIoU': v})
    rec = tmp_path / 'runs' / 'b' / 'seed1.json'
    data = json.loads(rec.read_text())
    data['code'] = 'abc1234'
    rec.write_text(json.dumps(data))
    md = ab.run_protocol(str(path), report_only=True)
    row = next(line for line in md.splitlines() if line.startswith('| b vs a | test | mIoU |'))
    assert row.endswith('| supported (provisional: 2 of 3 seeds) (mixed code versions) |')
    assert 'Mixed code versions in the pairs of mIoU: None, abc1234' in md


def _p_df2(t):
    """P(T > t), Student's t with 2 degrees of freedom (closed form)."""
    return 0.5 - t / (2 * math.sqrt(2 + t * t))


def _rows(md, prefix):
    return {line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:-1]]
            for line in md.splitlines() if line.startswith(prefix)}


def test_holm_t_rule_supported_contradicted_not_decided(tmp_path):
    path = _protocol(tmp_path, rule='holm-t', arms={
        'a': {'config': 'a.py'}, 'b': {'config': 'b.py'}, 'c': {'config': 'c.py'}},
        comparisons=[
            {'name': 'b vs a', 'treatment': 'b', 'control': 'a', 'metrics': ['mIoU', 'abs_rel'],
             'primary': 'mIoU', 'direction': 'better', 'sesoi': 1.0},
            {'name': 'c vs a', 'treatment': 'c', 'control': 'a', 'metrics': ['mIoU'],
             'primary': 'mIoU', 'direction': 'better'},
            {'name': 'b vs a depth', 'treatment': 'b', 'control': 'a', 'metrics': ['abs_rel'],
             'primary': 'abs_rel', 'direction': 'better'},
            {'name': 'c vs b', 'treatment': 'c', 'control': 'b', 'metrics': ['mIoU'],
             'primary': 'mIoU', 'direction': 'two-sided'}])
    # b - a: mIoU +3.0, +3.1, +2.9 (t = 3 / (0.1 / sqrt 3) = 51.96); abs_rel -.01, +.01, 0 (t 0)
    # c - a: mIoU -3.0, -3.1, -2.9; c - b: -6.0, -6.2, -5.8 (t = -51.96 again, two-sided)
    for s, (a, b, c, rb) in enumerate([(50, 53, 47, .19), (52, 55.1, 48.9, .21),
                                       (54, 56.9, 51.1, .20)]):
        _write_run(tmp_path, 'a', s, {'mIoU': a, 'abs_rel': .20})
        _write_run(tmp_path, 'b', s, {'mIoU': b, 'abs_rel': rb})
        _write_run(tmp_path, 'c', s, {'mIoU': c})
    md = ab.run_protocol(str(path), report_only=True)
    rows = _rows(md, '| ')
    p1 = _p_df2(3 / (0.1 / math.sqrt(3)))
    p4 = 2 * _p_df2(6 / (0.2 / math.sqrt(3)))
    assert p4 == pytest.approx(2 * p1)
    # Family of 4: [p1, 1 - p1, 0.5, p4 = 2 p1]; Holm: p1 x 4 (rejected), p4 x 3 = 6 p1
    # (rejected), 0.5 x 2 = 1 (stop). Mirrored family [1 - p1, p1, 0.5, 1]: p1 x 4 rejected.
    assert 'Holm\'s step-down across all 4 primary comparisons' in md
    b_vs_a = next(line for line in md.splitlines() if line.startswith('| b vs a | test | mIoU'))
    assert b_vs_a.endswith(f'| t = 51.96, df 2, p = {p1:.4f}, Holm p = {4 * p1:.4f} | '
                           'supported |')
    assert rows['c vs a'][-1] == 'contradicted'
    assert f'opposite direction: p = {p1:.4f}, Holm p = {4 * p1:.4f}' in rows['c vs a'][-2]
    assert rows['b vs a depth'][-1] == 'not decided'
    assert 'p = 0.5000, Holm p = 1.0000' in rows['b vs a depth'][-2]
    assert rows['c vs b'][-1] == 'supported (treatment worse)'
    assert f'two-sided p = {p4:.4f}, Holm p = {6 * p1:.4f}' in rows['c vs b'][-2]
    # abs_rel of 'b vs a' is a secondary metric of that comparison: interval only.
    line = next(line for line in md.splitlines() if line.startswith('| b vs a | test | abs_rel'))
    assert line.endswith('| — | secondary metric (interval only) |')
    assert 'Primary metric `mIoU`, direction better, smallest effect of interest 1.' in md


def test_holm_t_missing_pairs_enter_the_family_with_p_1(tmp_path):
    path = _protocol(tmp_path, rule='holm-t', comparisons=[
        {'name': 'b vs a', 'treatment': 'b', 'control': 'a', 'metrics': ['mIoU'],
         'primary': 'mIoU', 'direction': 'better'},
        {'name': 'a vs b', 'treatment': 'a', 'control': 'b', 'metrics': ['d1'],
         'primary': 'd1', 'direction': 'better'}])
    for s, (a, b) in enumerate([(50, 53), (52, 55.1), (54, 56.9)]):
        _write_run(tmp_path, 'a', s, {'mIoU': a})
        _write_run(tmp_path, 'b', s, {'mIoU': b})
    md = ab.run_protocol(str(path), report_only=True)
    p1 = _p_df2(3 / (0.1 / math.sqrt(3)))
    rows = _rows(md, '| ')
    assert rows['a vs b'][-2:] == ['—', 'insufficient (n < 2)']
    # m stays 2: the first step is at alpha / 2, Holm p = 2 p1
    assert rows['b vs a'][-2].endswith(f'Holm p = {2 * p1:.4f}')


def test_audit_column_and_seeds_added_after_a_reading(tmp_path):
    path = _protocol(tmp_path, seeds=[0, 1, 2, 3, 4], audit={'rule': 'holm-t',
                                                             'note': 'made up'})
    proto = json.loads(path.read_text())
    proto['arms']['b']['preregistered_seeds'] = [0, 1, 2]
    proto['arms']['extra'] = {'config': 'x.py'}
    proto['comparisons'][0]['metrics'] = ['mIoU']
    proto['comparisons'][1]['secondary'] = True
    path.write_text(json.dumps(proto))
    # b - a: 1, -1, 3 at the pre-registered seeds (mean 1, se 2/sqrt3 = 1.15: not supported);
    # with 3, 4 added: mean 2, sd 2, se 0.894 -> supported; t = sqrt 5, df 4.
    for s, d in enumerate([1, -1, 3, 3, 4]):
        _write_run(tmp_path, 'a', s, {'mIoU': 50.0, 'IoU.road': 70.0, 'IoU.car': 30.0,
                                      'IoU.pole': 0.0}, {'d1': .5})
        _write_run(tmp_path, 'b', s, {'mIoU': 50.0 + d}, {'d1': .5})
    md = ab.run_protocol(str(path), report_only=True)
    # P(T_4 > t) in closed form: 1/2 - 3/8 x (1 - x^2 / 12)... with x = t / sqrt(1 + t^2 / 4)
    t = math.sqrt(5)
    x = t / math.sqrt(1 + t * t / 4)
    p = 0.5 - 3 / 8 * x * (1 - x * x / 12)
    row = next(line for line in md.splitlines() if line.startswith('| b vs a | test | mIoU'))
    assert row.endswith('| supported at 5 seeds (3 were pre-registered; at those 3: not '
                        f'supported) | supported (t = 2.24, df 4, p = {p:.4f}, Holm p = '
                        f'{p:.4f}) |')
    assert 'post-hoc audit, never the decision (made up)' in md
    # The secondary comparison is not audited: its table has no audit column.
    secondary = md.split('## Secondary comparisons', 1)[1].split('## Arms', 1)[0]
    assert 'post-hoc audit' not in secondary and '| b vs a (shift) | shift | d1 | 5 |' in secondary
    # mIoU_frequent: pole (rare) is 0 in every run of a -> mIoU x 3/2 (b has no IoU, skipped)
    assert '`mIoU_frequent` = mIoU × 3/2 in every one' in md
    assert 'in all 5 runs with segmentation (5 evaluations)' in md
    assert 'Enabled in the protocol but never run: `extra` (0 of 5 seeds; in no comparison).' \
        in md
    assert '| `later` | no | 0 1 2 3 4 | — (never run) | 0 |' in md
    assert ab.summary_block(md).startswith('Difference = treatment − control')
    assert '## ' not in ab.summary_block(md)


def test_frequent_redundancy_needs_every_rare_class_at_zero(tmp_path):
    ev = {'a': {0: {'test': {'mIoU': 40.0, 'IoU.road': 80.0, 'IoU.car': 40.0, 'IoU.pole': 0.0}},
                1: {'test': {'mIoU': 40.0, 'IoU.road': 80.0, 'IoU.car': 39.0, 'IoU.pole': 1.0}}}}
    assert ab.frequent_redundancy(ev, ['road', 'car']) is None
    ev['a'][1]['test']['IoU.pole'] = 0.0
    red = ab.frequent_redundancy(ev, ['road', 'car'])
    assert (red['runs'], red['present'], red['frequent']) == (2, 3, 2)


def test_decision_fields_are_checked(tmp_path):
    def err(match, **extra):
        path = _protocol(tmp_path, **extra)
        with pytest.raises(ValueError, match=match):
            ab.load_protocol(str(path))

    err(r'"rule" is \'3se\'', rule='3se')
    err(r'the "holm-t" rule needs \[\'primary\', \'direction\'\]', rule='holm-t')
    err(r'"audit" must be an object with "rule": "holm-t" and a "note"',
        audit={'rule': 'holm-t'})
    err(r'"alpha" is 5', alpha=5)
    bad = json.loads(_protocol(tmp_path).read_text())
    bad['comparisons'][0].update(primary='d1')
    err(r'"primary" \'d1\' is not one of its "metrics"', comparisons=bad['comparisons'])
    bad['comparisons'][0].update(primary='mIoU', direction='up')
    err(r'"direction" \'up\'', comparisons=bad['comparisons'])
    bad['comparisons'][0].update(direction='better', sesoi=-1)
    err(r'"sesoi" -1', comparisons=bad['comparisons'])
    bad_arms = json.loads(_protocol(tmp_path).read_text())['arms']
    bad_arms['a']['preregistered_seeds'] = [7]
    err(r'"preregistered_seeds" \[7\] are not all among its "seeds"', arms=bad_arms)


def test_power_command_and_draft_protocol(tmp_path, capsys):
    path = _protocol(tmp_path, rule='holm-t', draft=True, comparisons=[
        {'name': 'b vs a', 'treatment': 'b', 'control': 'a', 'metrics': ['mIoU'],
         'primary': 'mIoU', 'direction': 'two-sided', 'sesoi': 1.0}])
    # One primary comparison: alpha 0.05 two-sided, d = 1 -> 10 seeds (published table).
    md = ab.main(['--protocol', str(path), '--power', '--paired-sd', 'mIoU=2'])
    assert capsys.readouterr().out == md
    # d = 1 / 2 = 0.5 two-sided at 0.05 -> 34
    assert '| b vs a | mIoU | two-sided | 1.00 | 2.00 | --paired-sd | 34 |' in md
    md = ab.main(['--protocol', str(path), '--power', '--paired-sd', 'b vs a=1',
                  '--effect', 'mIoU=1'])
    assert '| 10 | 0.803 |' in md and '`b` 10, `a` 10' in md
    with pytest.raises(ValueError, match='no runs to estimate it from'):
        ab.main(['--protocol', str(path), '--power'])
    with pytest.raises(ValueError, match="--paired-sd 'mIoU=x': expected KEY=VALUE"):
        ab.main(['--protocol', str(path), '--power', '--paired-sd', 'mIoU=x'])
    with pytest.raises(SystemExit, match='only go with --power'):
        ab.main(['--protocol', str(path), '--report-only', '--paired-sd', 'mIoU=1'])
    with pytest.raises(ValueError, match='is a draft'):
        ab.run_protocol(str(path), dry_run=True)
    # Without --paired-sd the SD comes from the runs (diffs 3, 2, 4: sd 1) -> d 1, 10 seeds.
    for s, (ma, mb) in enumerate([(50, 53), (52, 54), (54, 58)]):
        _write_run(tmp_path, 'a', s, {'mIoU': ma})
        _write_run(tmp_path, 'b', s, {'mIoU': mb})
    md = ab.main(['--protocol', str(path), '--power'])
    assert '| b vs a | mIoU | two-sided | 1.00 | 1.00 | runs | 10 | 0.803 |' in md


def test_shipped_v2_draft_sizes_every_claim():
    path = osp.join(ROOT, 'docs', 'evidence', 'protocol_v2_draft.json')
    proto = ab.load_protocol(path)
    assert proto['draft'] and proto['rule'] == 'holm-t'
    assert not any(a.get('enabled', True) for a in proto['arms'].values())
    md = ab.power_report(proto, None, {'mIoU': 1.0, 'abs_rel': 0.01})
    primary = [c for c in proto['comparisons'] if not c.get('secondary')]
    assert f'α = 0.05 / {len(primary)}' in md
    assert {c['primary'] for c in primary} == {'mIoU', 'abs_rel'}
    # H1b is identifiable: pseudo-labels without mixing vs joint is a primary comparison
    assert any((c['treatment'], c['control']) == ('semi-no-mix', 'joint-1-8') for c in primary)


def test_readme_block_one_row_per_claim_by_hand(tmp_path):
    """The README block: per claim its headline metric, cells copied from the full report; a
    treatment against several controls (same split and metrics, adjacent) shares a row;
    secondary comparisons stay in results.md."""
    arms = {k: {'config': str(tmp_path / 'a_cfg.py')} for k in ('a', 'b', 'c')}
    comparisons = [
        {'name': 'b vs a', 'claim': 'b > a', 'treatment': 'b', 'control': 'a',
         'metrics': ['mIoU', 'abs_rel']},
        {'name': 'b vs c', 'claim': 'b > c', 'treatment': 'b', 'control': 'c',
         'metrics': ['mIoU', 'abs_rel']},
        {'name': 'c vs a', 'claim': 'c has lower error', 'treatment': 'c', 'control': 'a',
         'metrics': ['abs_rel']},
        {'name': 'c vs a (descriptive)', 'treatment': 'c', 'control': 'a',
         'metrics': ['mIoU'], 'secondary': True}]
    path = _protocol(tmp_path, arms=arms, comparisons=comparisons)
    for s in range(3):
        _write_run(tmp_path, 'a', s, {'mIoU': 10.0, 'abs_rel': 0.20})
        _write_run(tmp_path, 'b', s, {'mIoU': 11.0 + s, 'abs_rel': 0.20})
        _write_run(tmp_path, 'c', s, {'mIoU': 10.0, 'abs_rel': [0.30, 0.31, 0.29][s]})
    readme = tmp_path / 'README.md'
    readme.write_text(f'# X\n{ab.README_BEGIN}\nold\n{ab.README_END}\n')
    ab.run_protocol(str(path), report_only=True, readme=str(readme))
    block = readme.read_text().split(ab.README_BEGIN + '\n', 1)[1].split(ab.README_END)[0]
    rows = [line for line in block.splitlines() if line.startswith('| ')]
    # No "audit" in this protocol: no audit column.
    assert rows[0] == ('| claim | metric | difference ± SE [95 % interval], seeds | '
                       'decision (2-SE rule) |')
    body = rows[2:]
    assert len(body) == 2  # b vs a + b vs c share a row; the secondary one is left out
    # b - a (and b - c): diffs 1, 2, 3 -> mean 2, se 1/sqrt(3) = 0.577, supported;
    # 95 %: 2 +- t(0.975, 2) 4.303 * 0.577 = 2 +- 2.484
    assert body[0].startswith('| b > a; b > c | mIoU | b vs a: +2.00 ± 0.58 [-0.48, +4.48], '
                              '3; b vs c: +2.00 ± 0.58 [-0.48, +4.48], 3 | supported (all 2)')
    # c - a on abs_rel: 0.10 +- 0.01/sqrt(3) = 0.0058, higher error -> contradicted;
    # 95 %: 0.1 +- 4.303 * 0.00577 = 0.1 +- 0.0248
    assert body[1].startswith('| c has lower error | abs_rel | +0.1000 ± 0.0058 '
                              '[+0.0752, +0.1248], 3 | contradicted')
    assert '[docs/evidence/results.md](docs/evidence/results.md)' in block


def test_shipped_results_and_readme_regenerate_byte_for_byte():
    """docs/evidence/results.md and the README's short block are what --report-only writes
    from the committed JSON, and v1's pre-registered 2-SE decisions are unchanged."""
    proto = ab.load_protocol(osp.join(ROOT, 'docs', 'evidence', 'protocol.json'))
    md = ab.report(proto, osp.join(ROOT, 'docs', 'evidence'))
    with open(osp.join(ROOT, 'docs', 'evidence', 'results.md'), encoding='utf-8') as f:
        assert f.read() == md
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    block = readme.split(ab.README_BEGIN, 1)[1].split(ab.README_END, 1)[0]
    assert block == '\n' + ab.readme_block(proto, md) + '\n'
    # One row per claim (10 for v1's 14 primary comparisons), ending with the link.
    assert len([line for line in block.splitlines() if line.startswith('| ')]) == 2 + 10
    # v1's decisions (S supported, N not supported, C contradicted), per comparison, as
    # published before the audit; the decision column must still start with them.
    v1 = 'SSSS NN NNNS SSSS SSNN NN NN NN NN NNC NNC NNNN NN NN'.replace(' ', '')
    words = {'S': 'supported', 'N': 'not supported', 'C': 'contradicted'}
    rows = [line.split(' | ') for line in ab.summary_block(md).splitlines()
            if line.startswith('| ') and not line.startswith(('| comparison', '| :---'))]
    assert len(rows) == len(v1) == 40
    for row, code in zip(rows, v1):
        assert row[8] == words[code] or row[8].startswith(words[code] + ' at '), row
    assert rows[0][8] == ('supported at 5 seeds (3 were pre-registered; at those 3: not '
                          'supported)')


def test_evidence_runners_deal_seeds_by_residue_and_never_share_a_run(tmp_path):
    """evidence_runners.sh: runner k gets the seeds s % N == k, each with every enabled arm;
    the union is the protocol's plan, no arm/seed twice; then one report from all JSON."""
    path = _protocol(tmp_path, seeds=[0, 1, 2, 3, 4])
    _write_run(tmp_path, 'a', 3, {'mIoU': 50.0})
    for name in ('a_cfg.py', 'b_cfg.py'):
        (tmp_path / name).write_text('x = 1\n')
    env = {**os.environ, 'PYTHON': sys.executable, 'LOG_DIR': str(tmp_path / 'logs'),
           'PYTHONWARNINGS': 'ignore'}
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'analysis_tools',
                                            'evidence_runners.sh'), str(path), '2', '--dry-run'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'runner 0: seeds 0 2 4' in proc.stdout and 'runner 1: seeds 1 3' in proc.stdout
    plans = [(tmp_path / 'logs' / f'runner{k}.log').read_text().splitlines() for k in (0, 1)]
    lines = [line for plan in plans for line in plan if ' seed ' in line]
    runs = [line.split(':')[0] for line in lines]
    assert sorted(runs) == sorted(f'{a} seed {s}' for a in 'ab' for s in range(5))
    assert all(int(r.split()[-1]) % 2 == k for k, plan in enumerate(plans)
               for r in (line.split(':')[0] for line in plan if ' seed ' in line))
    assert 'a seed 3: done' in '\n'.join(plans[1]) and 'later' not in '\n'.join(lines)
    assert (tmp_path / 'results.md').is_file()
    # a bad runner count is refused before anything runs
    bad = subprocess.run(['bash', osp.join(ROOT, 'tools', 'analysis_tools',
                                           'evidence_runners.sh'), str(path), '0'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and 'RUNNERS a positive integer' in bad.stderr
