"""ablation.py: skip/resume logic and mean ± std aggregation, with fake train/test commands."""
import importlib.util
import json
import math
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_test_{name}', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ab = load_tool('ablation')

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
