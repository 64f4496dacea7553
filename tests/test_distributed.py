"""Two-process DDP training on CPU (gloo) through the shipped launch scripts.

- supervised ``ccam_r18_synthcity.py`` with ``tools/dist_train.sh`` (torchrun,
  ``--launcher pytorch``);
- semi-supervised ``ccam_r18_synthcity_semi.py`` with ``tools/slurm_train.sh``
  (``--launcher slurm``), ``srun`` and ``scontrol`` being stand-ins that start the two tasks
  with Slurm's environment variables on this machine;
- ``tools/dist_test.sh`` on the supervised checkpoint.

Each run is 3 iterations (per rank: 2 samples supervised, 2 labeled + 2 unlabeled
semi-supervised; 64x128 crops) on an 8-frame SynthCity, then validation on 2 frames.
``tests/_dist_probe.py`` (loaded through ``custom_imports``) saves every rank's own record: the
frames of each of its batches and its model states (MMEngine's checkpoint holds rank 0's only).
The tests check that the runs finish, that the parameters and the EMA teacher are bit-identical
on both ranks, that the data shards follow the samplers' scheme (rank ``r`` of ``w`` takes
elements ``r, r + w, ...`` of a seeded stream: disjoint within a pass) and that both ranks
report the same validation metrics.
"""
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config

from mmseg_ccam.datasets.synthcity import generate_synthcity

TESTS = osp.join(ROOT, 'tests')
ITERS = 3
RANKS = 2
BATCH = 2  # per rank, supervised; semi: 2 labeled + 2 unlabeled (the config's ratio)
NUM_TRAIN = 8  # supervised: a pass over the frames = 2 iterations x 2 ranks x 2 samples
SEED = 0  # randomness.seed of the SynthCity configs: the samplers' shared seed

# Slurm stand-ins. srun starts --ntasks copies of the command on this machine with the
# variables a Slurm task gets, and kills the others when one fails (--kill-on-bad-exit).
FAKE_SRUN = '''#!{python}
import json, os, subprocess, sys, time
args = sys.argv[1:]
with open({log!r}, 'w') as f:
    json.dump(args, f)
opts, i = {{}}, 0
while args[i].startswith('-'):
    if '=' in args[i]:
        key, value = args[i].split('=', 1)
    elif args[i] == '-p':
        key, value = args[i], args[i + 1]
        i += 1
    else:
        key, value = args[i], ''
    opts[key] = value
    i += 1
ntasks = int(opts['--ntasks'])
procs = [subprocess.Popen(args[i:], env=dict(
    os.environ, SLURM_PROCID=str(r), SLURM_LOCALID=str(r), SLURM_NTASKS=str(ntasks),
    SLURM_NODELIST='node-a', SLURM_JOB_NAME=opts['--job-name'])) for r in range(ntasks)]
while any(p.poll() is None for p in procs):
    if any(p.poll() for p in procs):
        for p in procs:
            p.kill()
    time.sleep(0.2)
sys.exit(max(abs(p.returncode) for p in procs))
'''
FAKE_SCONTROL = '''#!/bin/sh
# scontrol show hostname NODELIST -> the first host name
[ "$1 $2 $3" = "show hostname node-a" ] || {{ echo "fake scontrol: $*" >&2; exit 2; }}
echo 127.0.0.1
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tiny_config(config: str, data_root: str, out: str) -> str:
    """Dump CONFIG shrunk for the test (64x128 crops, 3 iterations, val at the end, no
    dataloader workers; supervised: batch 2 per rank) plus the probe hook; return the dumped
    file's path."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', config))
    train = cfg.train_dataloader
    sources = train.dataset.get('datasets', [train.dataset])
    for ds in sources + [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]:
        ds.data_root = data_root
        for t in ds.pipeline:
            if t.type == 'RandomResize':  # the frames are already 64x128
                t.update(scale=(128, 64), ratio_range=(1.0, 1.0))
            elif t.type == 'RandomCrop':
                t.crop_size = (64, 128)
            elif t.type == 'Resize':
                t.scale = (128, 64)
    if cfg.model.type == 'MeanTeacherSegDepth':
        cfg.model.segmentor.data_preprocessor.size = (64, 128)
        # 4 labeled + 4 unlabeled frames, the config's 2 + 2 per per-rank batch (1 labeled
        # frame per rank would fail: BN of the ASPP image pool needs 2 samples in training).
        for ds in sources:
            ds.labeled_ratio = 0.5
        assert train.sampler.source_ratio == [2, 2] and train.batch_size == 4, (
            f'{config}: the test expects 2 labeled + 2 unlabeled per batch; update it')
    else:
        train.batch_size = BATCH
    cfg.model.data_preprocessor.size = (64, 128)
    for loader in (train, cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS)
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.default_hooks.logger.interval = 1
    cfg.custom_imports.imports = list(cfg.custom_imports.imports) + ['_dist_probe']
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='RankProbeHook')]
    assert cfg.randomness.seed == SEED and cfg.env_cfg.dist_cfg.backend == 'gloo', (
        f'{config}: the test expects randomness.seed={SEED} and the gloo backend')
    cfg.dump(out)
    return out


def launch(cmd, env: dict, log: str, timeout: float = 300) -> int:
    """Run CMD in its own process group (so that a hang kills all ranks); output to LOG."""
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return -9


def load_ranks(work, log: str) -> list:
    ranks = [torch.load(osp.join(work, f'rank{r}.pth'), weights_only=False)
             for r in range(RANKS)]
    assert [r['rank'] for r in ranks] == list(range(RANKS)), log
    assert all(r['world_size'] == RANKS for r in ranks), log
    assert all(r['wrapped'] == 'MMDistributedDataParallel' for r in ranks)
    assert all(len(r['batches']) == ITERS for r in ranks)
    ranks[0]['checkpoint'] = torch.load(osp.join(work, f'iter_{ITERS}.pth'),
                                        weights_only=False, map_location='cpu')['state_dict']
    return ranks


def tail(path: str, n: int = 6000) -> str:
    with open(path) as f:
        return f.read()[-n:]


def ddp_env(root) -> dict:
    # CUDA hidden: the CPU (gloo) path is under test, also on a machine with a GPU.
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHON=sys.executable,
                CUDA_VISIBLE_DEVICES='',
                PYTHONPATH=os.pathsep.join([TESTS, ROOT, os.environ.get('PYTHONPATH', '')]))


def dist_train(cfg: str, work: str, log: str, root, what: str) -> list:
    """``tools/dist_train.sh CFG RANKS --work-dir WORK`` (torchrun on a free port), output to
    LOG; the duration printed as WHAT; the ranks' probes (:func:`load_ranks`)."""
    env = dict(ddp_env(root), PORT=str(free_port()))
    t = time.time()
    rc = launch(['bash', 'tools/dist_train.sh', cfg, str(RANKS), '--work-dir', work], env, log)
    print(f'{what}: {time.time() - t:.1f} s')
    assert rc == 0, f'tools/dist_train.sh exited with {rc}:\n{tail(log)}'
    return load_ranks(work, log)


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    generate_synthcity(str(root / 'synthcity'), num_train=NUM_TRAIN, num_val=2, height=64,
                       width=128, seed=3, progress=False)
    return root


@pytest.fixture(scope='module')
def sup_run(root):
    """ccam_r18_synthcity.py, 2 processes through tools/dist_train.sh (torchrun)."""
    cfg = tiny_config('ccam_r18_synthcity.py', str(root / 'synthcity'), str(root / 'sup.py'))
    return dist_train(cfg, str(root / 'work_sup'), str(root / 'sup.log'), root,
                      'supervised DDP run')


@pytest.fixture(scope='module')
def semi_run(root):
    """ccam_r18_synthcity_semi.py, 2 tasks through tools/slurm_train.sh (stand-in srun)."""
    cfg = tiny_config('ccam_r18_synthcity_semi.py', str(root / 'synthcity'),
                      str(root / 'semi.py'))
    work, log = str(root / 'work_semi'), str(root / 'semi.log')
    bin_dir = root / 'bin'
    bin_dir.mkdir()
    srun_log = str(root / 'srun_args.json')
    for name, text in (('srun', FAKE_SRUN.format(python=sys.executable, log=srun_log)),
                       ('scontrol', FAKE_SCONTROL.format())):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(ddp_env(root), GPUS=str(RANKS), GPUS_PER_NODE=str(RANKS), CPUS_PER_TASK='1',
               MASTER_PORT=str(free_port()), PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    env.pop('MASTER_ADDR', None)
    t = time.time()
    rc = launch(['bash', 'tools/slurm_train.sh', 'cpu-part', 'ddp-semi', cfg, work], env, log)
    print(f'semi-supervised Slurm run: {time.time() - t:.1f} s')
    assert rc == 0, f'tools/slurm_train.sh exited with {rc}:\n{tail(log)}'
    with open(srun_log) as f:
        srun_args = json.load(f)
    ranks = load_ranks(work, log)
    ranks[0]['srun_args'] = srun_args
    ranks[0]['launch'] = (cfg, work)
    return ranks


@pytest.fixture(scope='module')
def sup_dist_test(root, sup_run):
    """Metrics of tools/dist_test.sh (2 processes) on the supervised run's checkpoint."""
    ckpt = str(root / 'work_sup' / f'iter_{ITERS}.pth')
    out, log = str(root / 'dist_test.json'), str(root / 'dist_test.log')
    env = dict(ddp_env(root), PORT=str(free_port()))
    t = time.time()
    rc = launch(['bash', 'tools/dist_test.sh', str(root / 'sup.py'), ckpt, str(RANKS),
                 '--work-dir', str(root / 'work_test'), '--out', out], env, log)
    print(f'dist_test.sh: {time.time() - t:.1f} s')
    assert rc == 0, f'tools/dist_test.sh exited with {rc}:\n{tail(log)}'
    with open(out) as f:
        return json.load(f)


def assert_same_metrics(a: dict, b: dict) -> None:
    """Same keys and values (``--out`` JSON writes NaN as null and rounds IoUs)."""
    assert set(a) == set(b)
    for k in a:
        x, y = (np.nan if v is None else float(v) for v in (a[k], b[k]))
        assert np.isclose(x, y, rtol=1e-6, atol=0, equal_nan=True), f'{k}: {x} != {y}'


def assert_same(a: dict, b: dict, keys) -> int:
    keys = list(keys)
    assert keys
    for k in keys:
        assert torch.equal(a[k], b[k]), f'{k} differs between ranks'
    return len(keys)


def float_buffers(rank: dict, prefix: str = '') -> list:
    params = set(rank['params'])
    return [k for k, v in rank['final'].items()
            if k.startswith(prefix) and k not in params and v.is_floating_point()]


def assert_shards(ranks: list, expected: list) -> None:
    """Each rank's batches (frame paths) equal ``expected[rank]``, and in every iteration the
    two ranks' frames are disjoint."""
    batches = [[[p for p, _ in b] for b in r['batches']] for r in ranks]
    assert batches == expected
    for it in range(ITERS):
        assert not set(batches[0][it]) & set(batches[1][it]), f'iteration {it}: same frame'


def test_supervised_parameters_identical_on_ranks(sup_run):
    r0, r1 = sup_run
    assert assert_same(r0['final'], r1['final'], r0['params']) > 100
    # Not trivially equal: the ranks trained on different frames and the weights moved.
    assert any(not torch.equal(r0['init'][k], r0['final'][k]) for k in r0['params'])
    assert_same(r0['init'], r1['init'], r0['init'])  # same seed; the runner broadcasts it too
    # Rank 0's checkpoint holds these parameters.
    assert_same(r0['checkpoint'], r0['final'], r0['params'])


def test_supervised_infinite_sampler_shards(sup_run):
    r0, r1 = sup_run
    assert r0['sampler'] == r1['sampler'] == ('InfiniteSampler', SEED)
    frames = r0['frames'][0]
    assert r1['frames'][0] == frames and len(frames) == NUM_TRAIN
    # InfiniteSampler: one torch.randperm after another from a generator seeded with SEED;
    # rank r takes elements r, r + 2, ...
    g = torch.Generator().manual_seed(SEED)
    stream = torch.randperm(NUM_TRAIN, generator=g).tolist() + torch.randperm(
        NUM_TRAIN, generator=g).tolist()
    expected = []
    for rank in range(RANKS):
        mine = [frames[i] for i in stream[rank::RANKS]]
        expected.append([mine[BATCH * k:BATCH * (k + 1)] for k in range(ITERS)])
    assert_shards(sup_run, expected)
    # The first pass (2 iterations x 2 ranks x 2) covers the 8 frames once.
    first_pass = [p for r in sup_run for b in r['batches'][:2] for p, _ in b]
    assert sorted(first_pass) == sorted(frames)


def assert_distributed_validation(ranks: list) -> None:
    """Each rank evaluated its own one of the 2 val frames, and all ranks got the metrics."""
    r0, r1 = ranks
    assert len(r0['val_frames']) == len(r1['val_frames']) == 1
    assert r0['val_frames'] != r1['val_frames']
    assert np.isfinite([r0['metrics'][k] for k in ('mIoU', 'aAcc', 'abs_rel', 'rmse')]).all()
    np.testing.assert_equal(r0['metrics'], r1['metrics'])  # NaN == NaN (absent classes)


def test_supervised_distributed_validation(sup_run):
    assert_distributed_validation(sup_run)


def test_dist_test_sh_evaluates_checkpoint(sup_dist_test):
    assert np.isfinite([sup_dist_test[k] for k in ('mIoU', 'aAcc', 'abs_rel', 'rmse')]).all()


# Plain BN under DDP: IterSyncBuffersHook (default_hooks of the SynthCity configs) averages the
# BN statistics after every iteration, so both ranks validate, and rank 0 saves, the same model.
def test_supervised_bn_statistics_identical_on_ranks(sup_run, sup_dist_test):
    r0, r1 = sup_run
    # What a user sees: the metrics logged at the end of training are not those of the saved
    # checkpoint evaluated with tools/dist_test.sh.
    assert_same_metrics(r0['metrics'], sup_dist_test)
    buffers = float_buffers(r0)
    assert len(buffers) > 50
    assert_same(r0['checkpoint'], r0['val'], r0['val'])  # checkpoint = the evaluated model
    assert_same(r0['val'], r1['val'], buffers)
    assert_same(r0['final'], r1['final'], buffers)


def test_semi_slurm_launch(semi_run):
    args = semi_run[0]['srun_args']
    assert args[:2] == ['-p', 'cpu-part']
    for opt in ('--job-name=ddp-semi', f'--ntasks={RANKS}', f'--ntasks-per-node={RANKS}',
                '--cpus-per-task=1', '--kill-on-bad-exit=1'):
        assert opt in args
    cmd = args[args.index('--kill-on-bad-exit=1') + 1:]
    cfg, work = semi_run[0]['launch']
    assert cmd == [sys.executable, '-u', 'tools/train.py', cfg, f'--work-dir={work}',
                   '--launcher', 'slurm']


def test_semi_teacher_and_student_identical_on_ranks(semi_run):
    r0, r1 = semi_run
    teacher = [k for k in r0['final'] if k.startswith('teacher.')]
    # The whole teacher, BN statistics included (MeanTeacherHook averages them), both at
    # validation (the evaluated model) and at the end.
    assert assert_same(r0['final'], r1['final'], teacher) > 100
    assert_same(r0['val'], r1['val'], teacher)
    assert len(float_buffers(r0, 'teacher.')) > 50
    student = [k for k in r0['params'] if k.startswith('student.')]
    assert assert_same(r0['final'], r1['final'], student) > 50
    assert_same(r0['checkpoint'], r0['final'], teacher + student)


def test_semi_teacher_is_ema_of_synchronised_students(semi_run):
    r0, r1 = semi_run
    # teacher = s1, then m * teacher + (1 - m) * s_t with m = min(1 - 1 / t, 0.99) (t = 2, 3):
    # the mean of the 3 students, computed here from the per-iteration student parameters.
    for r in (r0, r1):
        assert len(r['students']) == ITERS
    for k in r0['students'][0]:
        ema = r0['students'][0][k].double()
        for t, s in enumerate(r0['students'][1:], start=2):
            m = min(1 - 1 / t, 0.99)
            ema = m * ema + (1 - m) * s[k].double()
        torch.testing.assert_close(r0['final']['teacher.' + k], ema.float(), rtol=1e-5,
                                   atol=1e-6)
        assert_same(r0['students'][-1], r1['students'][-1], [k])
    # The students moved, so the teacher is neither the initialisation nor the last student.
    k = 'backbone.stem.0.weight'
    assert not torch.equal(r0['students'][0][k], r0['students'][-1][k])
    assert not torch.equal(r0['final']['teacher.' + k], r0['final']['student.' + k])


def test_semi_multi_source_sampler_shards(semi_run):
    r0, r1 = semi_run
    assert r0['sampler'] == r1['sampler'] == ('MultiSourceSampler', SEED)
    labeled, unlabeled = r0['frames']
    assert r1['frames'] == [labeled, unlabeled]
    assert len(labeled) == len(unlabeled) == NUM_TRAIN // 2
    assert not set(labeled) & set(unlabeled)
    # Every per-rank batch: source_ratio [2, 2] -> two labeled frames, then two unlabeled.
    for r in (r0, r1):
        assert all([lab for _, lab in b] == [True, True, False, False] for b in r['batches'])
    # MultiSourceSampler: per source s, seeded permutations from default_rng([seed, epoch, s])
    # one after another; rank r takes elements r, r + 2, ... of each source's stream.
    mine = []
    for s, frames in enumerate((labeled, unlabeled)):
        rng = np.random.default_rng([SEED, 0, s])
        stream = [frames[i] for _ in range(ITERS) for i in rng.permutation(len(frames))]
        mine.append([stream[rank::RANKS] for rank in range(RANKS)])
    expected = [[mine[0][rank][2 * k:2 * k + 2] + mine[1][rank][2 * k:2 * k + 2]
                 for k in range(ITERS)] for rank in range(RANKS)]
    assert_shards(semi_run, expected)
    # 2 ranks x 2 per source = 4 = the size of each source: every iteration is one pass, in
    # which the ranks together read every labeled and every unlabeled frame once.
    for it in range(ITERS):
        drawn = [p for r in (r0, r1) for p, _ in r['batches'][it]]
        assert sorted(drawn) == sorted(labeled + unlabeled)


def test_semi_distributed_validation(semi_run):
    assert_distributed_validation(semi_run)
