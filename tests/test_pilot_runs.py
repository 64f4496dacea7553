"""tools/analysis_tools/pilot_runs.py with a fake train script: runs side by side, the seed and
--resume on the command line, failed runs reported, finished runs skipped next time."""
import json
import os.path as osp
import textwrap

import pytest
from conftest import ROOT, load_script

tool = load_script('tools/analysis_tools/pilot_runs.py')
CONFIG = osp.join(ROOT, 'configs', 'evidence', 'sup_lite0_ccam_cw_1600it.py')

# Writes a two-validation MMEngine-style scalars.json whose final mIoU is 10 + seed and whose
# road IoU is 50 (one class >= 10); seed 13 fails.
FAKE_TRAIN = textwrap.dedent('''
    import json, os, sys
    args = sys.argv[1:]
    work_dir = args[args.index('--work-dir') + 1]
    seed = int([a for a in args if a.startswith('randomness.seed=')][0].split('=')[1])
    if seed == 13:
        sys.exit(3)
    log = os.path.join(work_dir, '20261207_000000', 'vis_data')
    os.makedirs(log, exist_ok=True)
    with open(os.path.join(log, 'scalars.json'), 'w') as f:
        for step in (1, 2):
            f.write(json.dumps({'loss': 1.0, 'time': 0.5, 'step': step}) + '\\n')
            f.write(json.dumps({'mIoU': 5.0 + step * seed / 2 + (5 if step == 2 else 0),
                                'IoU.road': 50.0, 'step': step}) + '\\n')
    with open(os.path.join(work_dir, 'argv.json'), 'w') as f:
        json.dump(args, f)
''')


@pytest.fixture
def fake_train(tmp_path):
    path = tmp_path / 'fake_train.py'
    path.write_text(FAKE_TRAIN)
    return str(path)


def test_parse_run_and_command(tmp_path):
    run = tool.parse_run(f'a={CONFIG}:3')
    assert run == {'name': 'a', 'config': CONFIG, 'seed': 3}
    assert tool.parse_run(f'b={CONFIG}')['seed'] == 0
    cmd = tool.train_command(run, str(tmp_path), ['train_cfg.max_iters=8'])
    assert cmd[cmd.index('--work-dir') + 1] == str(tmp_path / 'a')
    assert 'randomness.seed=3' in cmd and cmd[-1] == 'train_cfg.max_iters=8'
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'last_checkpoint').write_text('iter_8.pth')
    assert tool.train_command(run, str(tmp_path))[-1] == '--resume'
    with pytest.raises(ValueError, match='NAME=CONFIG'):
        tool.parse_run(CONFIG)
    with pytest.raises(FileNotFoundError, match='missing.py'):
        tool.parse_run('a=missing.py')
    with pytest.raises(ValueError, match="seed 'x'"):
        tool.parse_run(f'a={CONFIG}:x')


def test_runs_side_by_side_export_and_skip(tmp_path, fake_train):
    runs = [tool.parse_run(f'{n}={CONFIG}:{s}') for n, s in (('s0', 0), ('s2', 2), ('bad', 13))]
    work, export = str(tmp_path / 'work'), str(tmp_path / 'export')
    rows = tool.run_all(runs, work, export, parallel=2, threads=1, train_script=fake_train)
    by_name = {r['name']: r for r in rows}
    assert by_name['s0']['status'] == 'exported' and by_name['s0']['mIoU'] == 10.0
    assert by_name['s2']['mIoU'] == 12.0 and by_name['s2']['classes'] == 1
    assert by_name['bad']['status'] == 'failed' and by_name['bad']['rc'] == 3
    exported = json.loads((tmp_path / 'export' / 's2.json').read_text())
    assert exported['curve']['mIoU'] == [6.0, 12.0] and exported['note'].startswith('seed 2, code ')
    assert not (tmp_path / 'export' / 'bad.json').exists()
    again = tool.run_all(runs, work, export, parallel=2, threads=1, train_script=fake_train)
    assert [r['status'] for r in again] == ['skipped', 'skipped', 'failed']
