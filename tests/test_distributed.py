"""Two-process DDP training on CPU (gloo) through torchrun and ``tools/train.py --launcher
pytorch``: the run finishes, every rank ends with the same weights (student and EMA teacher),
and each rank trains on its own shard of the data."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from mmseg_ccam.datasets.synthcity import generate_synthcity

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ITERS = 3

# Imported by both ranks through custom_imports: records what each rank trains on and saves
# its own weights at the end (MMEngine checkpoints come from rank 0 only).
PROBE = '''
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RankProbeHook(Hook):
    priority = 'LOWEST'  # after MeanTeacherHook's EMA update

    def before_run(self, runner):
        self.paths = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.paths.append([(s.img_path, bool(s.metainfo.get('has_seg_label', True)))
                           for s in data_batch['data_samples']])

    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save(dict(state=model.state_dict(), paths=self.paths,
                        params=[name for name, _ in model.named_parameters()],
                        world_size=get_world_size()),
                   f'{runner.work_dir}/rank{get_rank()}.pth')
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp')
    generate_synthcity(str(root / 'synthcity'), num_train=16, num_val=2, height=64, width=128,
                       seed=3, progress=False)
    (root / 'ddp_probe.py').write_text(PROBE)
    return root


def run_ddp(root, config: str, name: str, hooks: str) -> dict:
    """Train CONFIG with 2 gloo processes; return each rank's probe dump."""
    data = root / 'synthcity'
    wrapper = root / f'{name}.py'
    wrapper.write_text(f'''
_base_ = ['{osp.join(ROOT, 'configs', 'ccam', config)}']
custom_imports = dict(imports=['mmseg_ccam', 'ddp_probe'], allow_failed_imports=False)
custom_hooks = {hooks} + [dict(type='RankProbeHook')]
train_cfg = dict(max_iters={ITERS}, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval={ITERS}), logger=dict(interval=1))
randomness = dict(seed=0)
''')
    work = root / f'work_{name}'
    opts = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    opts += ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
             'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']
    if 'semi' in name:  # both subsets of the ConcatDataset read the tiny dataset
        opts = [o for o in opts if not o.startswith('train_dataloader.dataset')]
        opts += [f'train_dataloader.dataset.datasets.{i}.data_root={data}' for i in (0, 1)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(root), ROOT, os.environ.get('PYTHONPATH', '')]))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           f'--master_port={free_port()}', osp.join(ROOT, 'tools', 'train.py'), str(wrapper),
           '--launcher', 'pytorch', '--work-dir', str(work), '--cfg-options', *opts]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert (work / f'iter_{ITERS}.pth').is_file()
    ranks = [torch.load(work / f'rank{r}.pth', weights_only=False) for r in (0, 1)]
    assert [r['world_size'] for r in ranks] == [2, 2]
    assert all(len(r['paths']) == ITERS for r in ranks)
    return ranks


def assert_same_state(a: dict, b: dict, keys) -> int:
    keys = list(keys)
    assert keys and set(keys) <= set(a) and set(keys) <= set(b)
    for k in keys:
        assert torch.equal(a[k], b[k]), f'{k} differs between ranks'
    return len(keys)


def test_supervised_ddp_two_ranks(dataset):
    r0, r1 = run_ddp(dataset, 'ccam_r18_synthcity.py', 'sup', '[]')
    # Weights (parameters) are identical: DDP averages the gradients. BN running statistics
    # are per rank under plain BN (MMEngine's DDP does not broadcast buffers; the Cityscapes
    # configs use SyncBN); the checkpoint holds rank 0's.
    assert assert_same_state(r0['state'], r1['state'], r0['params']) > 100
    assert not torch.equal(r0['state']['backbone.stem.1.running_mean'],
                           r1['state']['backbone.stem.1.running_mean'])
    # InfiniteSampler shards: each rank its own frames; 3 iterations x 2 ranks x batch 4 = 24
    # draws from 16 frames, so the first pass (16 draws, 2 iterations) has no repeat at all.
    first_pass = [p for r in (r0, r1) for it in r['paths'][:2] for p, _ in it]
    assert len(first_pass) == 16 and len(set(first_pass)) == 16


def test_semi_supervised_ddp_two_ranks(dataset):
    hooks = "[dict(type='MeanTeacherHook', momentum=0.99, interval=1)]"
    r0, r1 = run_ddp(dataset, 'ccam_r18_synthcity_semi.py', 'semi', hooks)
    # The whole teacher (parameters and BN statistics, averaged by MeanTeacherHook) is the same
    # on both ranks; the student's parameters are.
    teacher = [k for k in r0['state'] if k.startswith('teacher.')]
    assert assert_same_state(r0['state'], r1['state'], teacher) > 100
    student = [k for k in r0['params'] if k.startswith('student.')]
    assert assert_same_state(r0['state'], r1['state'], student) > 50
    # The teacher follows the student (EMA), it is not a frozen copy of the initialisation.
    state = r0['state']
    assert any(not torch.equal(state[k], state[k.replace('student.', 'teacher.', 1)])
               for k in state if k.startswith('student.'))
    for r in (r0, r1):  # every per-rank batch: 2 labeled + 2 unlabeled samples
        assert all(sorted(lab for _, lab in it) == [False, False, True, True]
                   for it in r['paths'])
    # Unlabeled source: 14 frames; 3 iterations x 2 ranks x 2 = 12 draws of one permutation.
    unlabeled = [p for r in (r0, r1) for it in r['paths'] for p, lab in it if not lab]
    assert len(unlabeled) == 12 and len(set(unlabeled)) == 12
