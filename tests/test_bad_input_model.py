"""Bad inputs on the model / training side: checkpoints of the wrong model kind, unknown config
keys, frames without valid depth. Every error must name the key or file and say what to do."""
import copy
from argparse import Namespace

import pytest
import torch
from conftest import build_model as build
from conftest import tiny_seg_depth_cfg
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData
from mmseg.registry import METRICS, MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the modules)
from mmseg_ccam.engine import AtomicCheckpointRunner, IncompatibleCheckpointError
from mmseg_ccam.utils.config_check import ConfigKeyError
from mmseg_ccam.utils.launch import explain_build_errors, load_config

init_default_scope('mmseg')

H, W = 32, 32
CONFIG = 'configs/ccam/ccam_r18_synthcity.py'


pytestmark = pytest.mark.usefixtures('one_thread')


def segmentor_cfg(**kwargs):
    return tiny_seg_depth_cfg(size=(H, W), **kwargs)


def semi_cfg(**kwargs):
    return dict(type='MeanTeacherSegDepth', segmentor=segmentor_cfg(), **kwargs)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def save(path, state_dict):
    torch.save(dict(meta=dict(iter=10), state_dict=state_dict), str(path))
    return str(path)


# ------------------------------------------------------- checkpoints of the wrong model kind
@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A supervised checkpoint, a complete semi one and a semi one without teacher."""
    root = tmp_path_factory.mktemp('ckpts')
    sup = build(segmentor_cfg(), seed=1)
    semi = build(semi_cfg(), seed=2)
    with torch.no_grad():  # a teacher that differs from the student
        semi.teacher.depth_head.conv_seg.bias.add_(0.5)
    semi_state = semi.state_dict()
    student_only = {k: v for k, v in semi_state.items() if not k.startswith('teacher.')}
    return dict(
        sup=save(root / 'sup_iter_10.pth', sup.state_dict()), sup_model=sup,
        semi=save(root / 'semi_iter_10.pth', semi_state), semi_model=semi,
        student_only=save(root / 'student_only.pth', student_only))


def test_supervised_checkpoint_into_semi_model_load_checkpoint(checkpoints):
    model = build(semi_cfg())
    before = state(model)
    with pytest.raises(IncompatibleCheckpointError) as info:
        load_checkpoint(model, checkpoints['sup'], map_location='cpu')
    msg = str(info.value)
    assert "'teacher.' keys" in msg and 'teacher.backbone.stem.0.weight' in msg
    assert 'supervised SegDepthEncoderDecoder' in msg
    assert 'use the supervised config' in msg
    assert "model.init_cfg=dict(type='Pretrained', checkpoint='CHECKPOINT')" in msg
    # nothing was loaded, not even the student
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


@pytest.mark.parametrize('how', ['load_from', 'resume'])
def test_supervised_checkpoint_via_runner_names_the_file(checkpoints, tmp_path, how):
    # tools/test.py sets load_from; --load-from and --resume go through the same
    # Runner.load_checkpoint, which AtomicCheckpointRunner extends with the file name.
    runner = AtomicCheckpointRunner(model=semi_cfg(), work_dir=str(tmp_path),
                                    experiment_name=f'bad_ckpt_{how}', default_scope='mmseg',
                                    log_level='WARNING')
    with pytest.raises(IncompatibleCheckpointError) as info:
        if how == 'resume':
            runner.resume(checkpoints['sup'])
        else:
            runner._load_from = checkpoints['sup']
            runner.load_or_resume()
    msg = str(info.value)
    path = checkpoints['sup']
    assert msg.startswith(f'Checkpoint {path!r} has no weights for')
    assert f"checkpoint={path!r}" in msg and f'SUPERVISED_CONFIG {path!r}' in msg


def test_student_only_checkpoint(checkpoints):
    model = build(semi_cfg())
    with pytest.raises(IncompatibleCheckpointError, match="'student.' weights only"):
        load_checkpoint(model, checkpoints['student_only'], map_location='cpu')


def test_complete_semi_checkpoint_still_loads(checkpoints):
    model = build(semi_cfg(), seed=5)
    load_checkpoint(model, checkpoints['semi'], map_location='cpu')
    want = checkpoints['semi_model'].state_dict()
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items())


def test_semi_checkpoint_into_supervised_model(checkpoints):
    model = build(segmentor_cfg())
    with pytest.raises(IncompatibleCheckpointError) as info:
        load_checkpoint(model, checkpoints['semi'], map_location='cpu')
    msg = str(info.value)
    assert 'saved by MeanTeacherSegDepth' in msg and "'backbone.stem.0.weight'" in msg
    assert "prefix='teacher.'" in msg
    # the suggested way works: the supervised model gets the teacher's weights
    torch.manual_seed(0)
    model = MODELS.build(segmentor_cfg(init_cfg=dict(
        type='Pretrained', checkpoint=checkpoints['semi'], prefix='teacher.')))
    model.init_weights()
    teacher = checkpoints['semi_model'].teacher.state_dict()
    assert all(torch.equal(v, teacher[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize('source', ['sup', 'semi'])
def test_init_cfg_pretrained_copies_student_into_teacher(checkpoints, source):
    model = build(semi_cfg(init_cfg=dict(type='Pretrained', checkpoint=checkpoints[source])))
    want = (checkpoints['sup_model'] if source == 'sup' else
            checkpoints['semi_model'].student).state_dict()
    for k, v in want.items():
        assert torch.equal(model.student.state_dict()[k], v), k
        assert torch.equal(model.teacher.state_dict()[k], v), k


def test_init_cfg_errors(checkpoints, tmp_path):
    with pytest.raises(ConfigKeyError, match=r"'prefx'.*valid keys: \['checkpoint'"):
        MODELS.build(semi_cfg(init_cfg=dict(type='Pretrained', checkpoint='x.pth',
                                            prefx='a.')))
    with pytest.raises(ValueError, match='model.segmentor'):
        MODELS.build(semi_cfg(init_cfg=dict(type='Kaiming')))
    wrong = save(tmp_path / 'wrong.pth', {'backbone.stem.0.weight': torch.zeros(1)})
    model = MODELS.build(semi_cfg(init_cfg=dict(type='Pretrained', checkpoint=wrong)))
    with pytest.raises(IncompatibleCheckpointError) as info:
        model.init_weights()
    assert str(info.value).startswith(f'Checkpoint {wrong!r} (model.init_cfg.checkpoint) lacks')


# ---------------------------------------------------------------------- unknown config keys
@pytest.mark.parametrize('key, where, cls, valid', [
    ('model.neck.foo', 'model.neck', 'CCAMNeck', 'levels'),
    ('model.depth_head.foo', 'model.depth_head', 'DepthHead', 'min_depth'),
    ('model.depth_head.loss_decode.foo', 'model.depth_head.loss_decode', 'SiLogLoss',
     'loss_weight'),
])
def test_unknown_component_argument_names_config_path(key, where, cls, valid):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({key: 1})
    with pytest.raises(TypeError) as info:
        with explain_build_errors(cfg, CONFIG):
            MODELS.build(cfg.model)
    msg = str(info.value)
    # Python alone says e.g. "BaseDecodeHead.__init__() got an unexpected keyword argument"
    assert msg.startswith(f"{where} (type='{cls}') has the key 'foo', which {cls} does not take")
    assert f"'{valid}'" in msg.split('Valid keys:')[1]
    assert f'Remove or rename the key in {CONFIG}' in msg


def test_unknown_component_argument_did_you_mean():
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({'model.decode_head.loss_decode.loss_weigth': 0.5})
    with pytest.raises(TypeError, match="Did you mean 'model.decode_head.loss_decode.loss_weight'"):
        with explain_build_errors(cfg, CONFIG):
            MODELS.build(cfg.model)


def test_other_type_errors_pass_unchanged():
    with pytest.raises(TypeError, match='^plain$'):
        with explain_build_errors(Config.fromfile(CONFIG), CONFIG):
            raise TypeError('plain')


def test_misspelled_cfg_dict_keys_read_with_get():
    with pytest.raises(ConfigKeyError) as info:
        MODELS.build(segmentor_cfg(test_cfg=dict(mode='whole', flipp=True)))
    msg = str(info.value)
    assert "SegDepthEncoderDecoder test_cfg: unknown key(s) 'flipp' (did you mean 'flip'?)" in msg
    assert "valid keys: ['crop_size', 'flip', 'mode', 'stride']" in msg
    with pytest.raises(KeyError, match=r"needs \['stride'\]"):
        MODELS.build(segmentor_cfg(test_cfg=dict(mode='slide', crop_size=(16, 16))))
    with pytest.raises(ConfigKeyError, match=r"semi_train_cfg: unknown key\(s\) 'tua' "
                                             r"\(did you mean 'tau'\?\)"):
        MODELS.build(semi_cfg(semi_train_cfg=dict(tua=0.9)))
    with pytest.raises(ConfigKeyError, match=r"semi_train_cfg.mix.warp: .*'fliip_prob' "
                                             r"\(did you mean 'flip_prob'\?\)"):
        MODELS.build(semi_cfg(semi_train_cfg=dict(mix=dict(warp=dict(fliip_prob=0.5)))))
    with pytest.raises(ConfigKeyError, match=r"semi_test_cfg: .*'eval' \(did you mean "
                                             r"'eval_model'\?\)"):
        MODELS.build(semi_cfg(semi_test_cfg=dict(eval='student')))
    # a test_cfg edited after build is checked when used
    model = build(segmentor_cfg())
    model.test_cfg['moed'] = 'slide'
    with pytest.raises(ConfigKeyError, match="'moed' \\(did you mean 'mode'"):
        model.predict(torch.zeros(1, 3, H, W))


def test_metric_rejects_misspelled_argument():
    with pytest.raises(TypeError, match='max_depth_evl'):
        METRICS.build(dict(type='StreamingDepthMetric', max_depth_evl=80.0))


def args(options, amp=False):
    return Namespace(config=CONFIG, launcher='none', cfg_options=options, work_dir=None,
                     amp=amp)


@pytest.mark.parametrize('option, where, close', [
    ('train_cfg.max_iter', 'train_cfg', 'train_cfg.max_iters'),
    ('val_cfg.fp61', 'val_cfg', 'val_cfg.fp16'),
    ('optim_wrapper.optimizer.lrr', 'optim_wrapper.optimizer', 'optim_wrapper.optimizer.lr'),
    ('optim_wrapper.clipgrad', 'optim_wrapper', 'optim_wrapper.clip_grad'),
    ('model.depth_loss_wieght', 'model', 'model.depth_loss_weight'),
    # hooks, evaluators (list index), randomness, dataloaders
    ('val_evaluator.0.iou_metricz', 'val_evaluator.0', 'val_evaluator.0.iou_metrics'),
    ('default_hooks.checkpoint.intervall', 'default_hooks.checkpoint',
     'default_hooks.checkpoint.interval'),
    ('randomness.seeed', 'randomness', 'randomness.seed'),
    ('train_dataloader.batchsize', 'train_dataloader', 'train_dataloader.batch_size'),
])
def test_cfg_options_unknown_key_under_known_section(option, where, close):
    with pytest.raises(ConfigKeyError) as info:
        load_config(args({option: 5}))
    msg = str(info.value)
    leaf = option.rsplit('.', 1)[1]
    assert msg.startswith(f"--cfg-options {option}: '{leaf}' is not a key of {where} in "
                          f'{CONFIG}')
    assert f"Did you mean '{close}'?" in msg and f'Valid keys of {where}: [' in msg


def test_cfg_options_valid_new_keys_are_merged():
    cfg = load_config(args({'train_cfg.max_iters': 7, 'train_cfg.val_begin': 3,
                            'optim_wrapper.clip_grad.max_norm': 1.0,
                            'optim_wrapper.optimizer.amsgrad': True,
                            'model.test_cfg.flip': True, 'load_from': 'x.pth'}))
    assert cfg.train_cfg.max_iters == 7 and cfg.train_cfg.val_begin == 3
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0 and cfg.optim_wrapper.optimizer.amsgrad
    assert cfg.model.test_cfg.flip and cfg.load_from == 'x.pth'
    # AmpOptimWrapper's arguments only with --amp
    with pytest.raises(ConfigKeyError, match='loss_scale'):
        load_config(args({'optim_wrapper.loss_scale': 512.0}))
    assert load_config(args({'optim_wrapper.loss_scale': 512.0}, amp=True)).optim_wrapper[
        'loss_scale'] == 512.0


# --------------------------------------------------------- frames without a valid depth pixel
def depth_batch(depths, b_seed=0):
    """Images + samples; ``depths[i]`` is a (H, W) map, or None for no gt_depth_map."""
    g = torch.Generator().manual_seed(b_seed)
    inputs = torch.randn(len(depths), 3, H, W, generator=g)
    samples = []
    for i, depth in enumerate(depths):
        ds = SegDataSample(metainfo=dict(img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W),
                                         img_path=f'f{i}.png'))
        label = torch.zeros(1, H, W, dtype=torch.long)
        label[:, :, W // 2:] = 1
        ds.gt_sem_seg = PixelData(data=label)
        if depth is not None:
            ds.gt_depth_map = PixelData(data=depth[None].clone())
        samples.append(ds)
    return inputs, samples


RAMP = torch.linspace(30.0, 2.0, H)[:, None].expand(H, W)


def test_num_no_depth_and_no_depth_loss_from_empty_frames():
    model = build(segmentor_cfg())
    model.eval()  # BN running statistics: each sample's prediction is independent of the batch
    zeros = torch.zeros(H, W)
    padded = torch.full((H, W), 255.0)  # mmseg's depth padding value, beyond max_depth
    nan_map = torch.full((H, W), float('nan'))
    inputs, samples = depth_batch([RAMP, zeros, None, padded, nan_map, RAMP * 0.5])
    losses = model.loss(inputs, samples)
    count = losses['num_no_depth']
    assert count.dtype == torch.float32 and count.shape == () and not count.requires_grad
    assert float(count) == 4.0
    # it is logged but not back-propagated
    total, log_vars = model.parse_losses(losses)
    assert float(log_vars['num_no_depth']) == 4.0
    assert 'num_no_depth' not in [k for k in log_vars if 'loss' in k]
    # the empty frames add no depth loss: same value as the two valid frames alone
    idx = torch.tensor([0, 5])
    alone = model.loss(inputs[idx], [samples[0], samples[5]])
    torch.testing.assert_close(losses['depth.loss_silog'], alone['depth.loss_silog'])
    assert float(alone['num_no_depth']) == 0.0
    # ...and no NaN anywhere, gradients included
    model.zero_grad()
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_batch_without_any_depth():
    model = build(segmentor_cfg())
    model.train()
    inputs, samples = depth_batch([torch.zeros(H, W), None])
    losses = model.loss(inputs, samples)
    assert float(losses['num_no_depth']) == 2.0
    assert float(losses['depth.loss_silog']) == 0.0
    model.parse_losses(losses)[0].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_semi_model_counts_frames_without_depth():
    model = build(semi_cfg(semi_train_cfg=dict(tau=0.0)))
    model.train()
    inputs, samples = depth_batch([RAMP, RAMP, torch.zeros(H, W), None, RAMP])
    for i in (2, 3, 4):  # unlabeled
        samples[i].gt_sem_seg = PixelData(data=torch.full((1, H, W), 255, dtype=torch.long))
    losses = model.loss(inputs, copy.deepcopy(samples))
    assert float(losses['sup.num_no_depth']) == 0.0
    assert float(losses['unsup.num_no_depth']) == 2.0
    total, log_vars = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
