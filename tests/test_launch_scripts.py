"""The four launchers (``tools/{dist,slurm}_{train,test}.sh`` over ``tools/launch_common.sh``):
the exact torchrun / srun command lines MMSegmentation's scripts run, caller-relative paths,
and the one-line usage errors. ``PYTHON`` and ``srun`` are stand-ins that print their
arguments, so nothing is started; ``tests/test_distributed.py`` runs them for real."""
import os
import os.path as osp
import subprocess

import pytest
from conftest import ROOT

from mmseg_ccam.utils.launch import parse_launch_args


@pytest.fixture
def launch(tmp_path):
    """Run a launcher from ``tmp_path`` (the caller's directory) with echoing stand-ins."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'echo_python').write_text('#!/bin/sh\necho "cwd=$PWD" "$@"\n')
    (bin_dir / 'srun').write_text('#!/bin/sh\necho srun "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    (tmp_path / 'my.py').write_text('')

    def run(script, *args, **env):
        full_env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
                        PYTHON='echo_python', **env)
        for key in ('NNODES', 'NODE_RANK', 'PORT', 'MASTER_ADDR', 'GPUS', 'GPUS_PER_NODE',
                    'GRES', 'CPUS_PER_TASK', 'SRUN_ARGS'):
            if key not in env:
                full_env.pop(key, None)
        proc = subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args], cwd=tmp_path,
                              env=full_env, capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout.strip(), proc.stderr.strip()

    return run


def test_dist_train_and_test_command_lines(launch, tmp_path):
    rc, out, _ = launch('dist_train.sh', 'my.py', '2', '--work-dir', 'wd', '--amp')
    assert rc == 0
    assert out == (f'cwd={ROOT} -m torch.distributed.run --nnodes=1 --node_rank=0 '
                   '--master_addr=127.0.0.1 --nproc_per_node=2 --master_port=29500 '
                   f'tools/train.py {tmp_path}/my.py --launcher pytorch --work-dir '
                   f'{tmp_path}/wd --amp')
    # A config that is not in the caller's directory stays relative to the repository.
    rc, out, _ = launch('dist_test.sh', 'configs/x.py', 'my.py', '1', '--out=m.json',
                        NNODES='2', NODE_RANK='1', MASTER_ADDR='host0', PORT='1234')
    assert rc == 0
    assert out == (f'cwd={ROOT} -m torch.distributed.run --nnodes=2 --node_rank=1 '
                   '--master_addr=host0 --nproc_per_node=1 --master_port=1234 '
                   f'tools/test.py configs/x.py {tmp_path}/my.py --launcher pytorch '
                   f'--out={tmp_path}/m.json')


def test_slurm_train_and_test_command_lines(launch, tmp_path):
    rc, out, _ = launch('slurm_train.sh', 'part', 'job', 'my.py', 'wd', '--resume')
    assert rc == 0
    assert out == ('srun -p part --job-name=job --gres=gpu:4 --ntasks=4 --ntasks-per-node=4 '
                   '--cpus-per-task=5 --kill-on-bad-exit=1 echo_python -u tools/train.py '
                   f'{tmp_path}/my.py --work-dir={tmp_path}/wd --launcher slurm --resume')
    # GRES= (empty) drops --gres, for CPU-only partitions.
    rc, out, _ = launch('slurm_test.sh', 'p', 'j', 'my.py', 'my.py', '--show-dir', 'v',
                        GPUS='8', GPUS_PER_NODE='2', CPUS_PER_TASK='3', GRES='',
                        SRUN_ARGS='--qos=x')
    assert rc == 0
    assert out == ('srun -p p --job-name=j --ntasks=8 --ntasks-per-node=2 --cpus-per-task=3 '
                   '--kill-on-bad-exit=1 --qos=x echo_python -u tools/test.py '
                   f'{tmp_path}/my.py {tmp_path}/my.py --launcher slurm --show-dir '
                   f'{tmp_path}/v')


@pytest.mark.parametrize('script, args, first_line', [
    ('dist_train.sh', ['my.py'], None),
    ('dist_test.sh', ['my.py', 'c.pth'], None),
    ('slurm_train.sh', ['p', 'j', 'my.py'], None),
    ('slurm_test.sh', ['p', 'j'], None),
    ('dist_train.sh', ['my.py', '0'], 'NGPUS=0: give the number of processes per machine (>= 1)'),
    ('dist_test.sh', ['my.py', 'c.pth', 'two'],
     'NGPUS=two: give the number of processes per machine (>= 1)'),
])
def test_usage_errors_exit_2(launch, script, args, first_line):
    rc, out, err = launch(script, *args)
    lines = err.splitlines()
    assert rc == 2 and out == ''
    assert lines[-1].startswith('usage: ') and f'tools/{script}' in lines[-1]
    assert lines[:-1] == ([first_line] if first_line else [])


def test_parse_launch_args_exports_local_rank(monkeypatch):
    import argparse
    monkeypatch.setenv('LOCAL_RANK', '0')  # restored (or removed) after the test
    monkeypatch.delenv('LOCAL_RANK')
    args = parse_launch_args(argparse.ArgumentParser(), 'a.b=1',
                             ['--local-rank', '3', '--cfg-options', 'a.b=2'])
    assert (args.local_rank, args.launcher, args.cfg_options) == (3, 'none', {'a.b': 2})
    assert os.environ['LOCAL_RANK'] == '3'
    # torchrun's own LOCAL_RANK is kept.
    parse_launch_args(argparse.ArgumentParser(), 'a.b=1', ['--local_rank', '5'])
    assert os.environ['LOCAL_RANK'] == '3'
