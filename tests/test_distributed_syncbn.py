"""The R50 Cityscapes configs (SyncBN, nccl) through ``tools/dist_train.sh`` on a CPU (gloo).

SyncBN cannot run without CUDA (torch's ``SyncBatchNorm`` raises "expected input tensor to be on
GPU" at the first training forward under DDP), so ``init_cpu_distributed`` turns the model's
SyncBN norm configs into BN, says so, and adds ``IterSyncBuffersHook`` so that the ranks keep
equal BN statistics. On CUDA nothing of this runs (MMEngine's NCCL path, unchanged).

The run: ``configs/ccam/ccam_r50_cityscapes_semi-1-8.py`` (mean teacher around the R50 joint
model, both with ``SyncBN``) shrunk to a ResNet-50-V1c of 1/8 width on a 64x128 SynthCity (the
Cityscapes format), 2 processes x (2 labeled + 2 unlabeled), ``ITERS`` (3) iterations,
validation at the end.
``tests/_dist_probe.py`` records each rank's states.
"""
import copy
import os.path as osp

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from test_distributed import ITERS, dist_train, float_buffers

from mmseg_ccam.datasets.synthcity import generate_synthcity
from mmseg_ccam.utils.dist_cpu import init_cpu_distributed, sync_bn_to_bn

CONFIG = osp.join(ROOT, 'configs', 'ccam', 'ccam_r50_cityscapes_semi-1-8.py')
WIDTH = 8  # ResNet-50-V1c base channels (64 in the config): stage outputs 32/64/128/256


def shrink(model: dict) -> None:
    """The R50 joint model at 1/8 width, 64x128 inputs, no pretrained weights; norm configs
    untouched (SyncBN)."""
    model['pretrained'] = None
    model['backbone'].update(base_channels=WIDTH, stem_channels=WIDTH)
    chans = [WIDTH * 4 * 2**i for i in range(4)]
    model['neck']['in_channels'] = chans
    for head in ('decode_head', 'depth_head'):
        model[head].update(in_channels=chans[-1], channels=16, c1_in_channels=chans[0],
                           c1_channels=8, dilations=(1, 2))
    model['data_preprocessor']['size'] = (64, 128)


def tiny_r50_semi_config(data_root: str, out: str) -> str:
    cfg = Config.fromfile(CONFIG)
    shrink(cfg.model.segmentor)
    cfg.model.data_preprocessor.size = (64, 128)
    train = cfg.train_dataloader
    for ds in train.dataset.datasets + [cfg.val_dataloader.dataset]:
        ds.data_root = data_root
        for t in ds.pipeline:
            if t.type == 'RandomResize':
                t.update(scale=(128, 64), ratio_range=(1.0, 1.0))
            elif t.type == 'RandomCrop':
                t.crop_size = (64, 128)
            elif t.type == 'Resize':
                t.scale = (128, 64)
    for ds in train.dataset.datasets:
        ds.num_labeled = 4  # 4 labeled + 4 unlabeled of the 8 frames
    cfg.test_dataloader = cfg.val_dataloader
    for loader in (train, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS)
    cfg.param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=ITERS,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    cfg.env_cfg.cudnn_benchmark = False
    cfg.custom_imports.imports = list(cfg.custom_imports.imports) + ['_dist_probe']
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='RankProbeHook')]
    # What the shipped config asks for, untouched: SyncBN everywhere and the nccl backend.
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert len(sync_bn_to_bn(copy.deepcopy(cfg.model))) == 4  # backbone, neck, 2 heads
    cfg.dump(out)
    return out


@pytest.fixture(scope='module')
def r50_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp_syncbn')
    generate_synthcity(str(root / 'synthcity'), num_train=8, num_val=2, height=64, width=128,
                       seed=3, progress=False)
    cfg = tiny_r50_semi_config(str(root / 'synthcity'), str(root / 'r50_semi.py'))
    log = str(root / 'r50.log')
    ranks = dist_train(cfg, str(root / 'work'), log, root,
                       'R50 semi (SyncBN config) DDP run on CPU')
    with open(log) as f:
        ranks[0]['log'] = f.read()
    return ranks


def test_syncbn_config_trains_on_cpu_with_bn_and_says_so(r50_run):
    log = r50_run[0]['log']
    lines = [ln for ln in log.splitlines() if 'No CUDA: SyncBN needs GPUs' in ln]
    assert len(lines) == 1, log[-4000:]  # once (rank 0), one line
    assert 'uses BN for the' in lines[0] and 'IterSyncBuffersHook' in lines[0]
    assert 'model.segmentor.backbone.norm_cfg' in lines[0]


def test_syncbn_run_student_teacher_and_bn_statistics_identical_on_ranks(r50_run):
    r0, r1 = r50_run
    final = r0['final']
    student = [k for k in r0['params'] if k.startswith('student.')]
    assert len(student) > 100
    for k in student:
        assert torch.equal(final[k], r1['final'][k]), k
    # The EMA teacher's BN statistics (MeanTeacherHook all-reduces them) and the student's
    # (IterSyncBuffersHook, added for the converted BN) are equal on both ranks.
    for prefix in ('teacher.', 'student.'):
        buffers = float_buffers(r0, prefix)
        assert len(buffers) > 50, prefix
        for k in buffers:
            assert torch.equal(final[k], r1['final'][k]), k
    # Not trivially: the running statistics moved away from their initial values.
    moved = [k for k in float_buffers(r0, 'student.') if not torch.equal(r0['init'][k], final[k])]
    assert moved
    for k in [k for k in final if k.startswith('teacher.')]:
        assert torch.equal(final[k], r1['final'][k]), k


def test_sync_bn_to_bn_and_cuda_path_untouched(monkeypatch):
    cfg = Config(dict(
        launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl')),
        model=dict(type='M', backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
                   heads=[dict(norm_cfg=dict(type='MMSyncBN')), dict(norm_cfg=dict(type='BN'))]),
        default_hooks=dict()))
    # With CUDA: nothing is created or changed (MMEngine's own init_dist / NCCL path).
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert init_cpu_distributed(cfg) is False
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    changed = sync_bn_to_bn(cfg.model)
    assert changed == ['model.backbone.norm_cfg', 'model.heads[0].norm_cfg']
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert [h.norm_cfg.type for h in cfg.model.heads] == ['BN', 'BN']
