"""The semi-supervised step's mechanisms, each observed: BN statistics only from the intended
views, weak view -> teacher / strong view -> student, pseudo-label schedule and weighting, the
logged diagnostics against values computed by hand, and the CCAM gamma learning rate."""
import copy
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import RuntimeInfoHook
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from test_mean_teacher_seg_depth import build, make_batch

import mmseg_ccam.models.segmentors.mean_teacher_seg_depth as mt
from mmseg_ccam.augmentation.affine_mix import DEFAULT_MARGIN, WARP_DEFAULTS

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture
def hub_iter():
    """Set the runner iteration the model reads from the message hub; restored afterwards."""
    hub = MessageHub.get_current_instance()
    old = hub.runtime_info.get('iter')

    def set_iter(i):
        hub.update_info('iter', i)

    set_iter(1000)
    yield set_iter
    if old is None:
        hub.runtime_info.pop('iter', None)
    else:
        hub.update_info('iter', old)


def record_calls(monkeypatch, name):
    """Wrap ``mt.<name>`` (a function the model calls) and record its results."""
    seen = []
    original = getattr(mt, name)

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(mt, name, wrapper)
    return seen


def capture_inputs(module):
    seen = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen, handle


def bn_buffers(module):
    return {k: v.clone() for k, v in module.state_dict().items()
            if 'running_' in k or 'num_batches_tracked' in k}


# ----------------------------------------------------------------------------------- BatchNorm
def test_bn_running_stats_come_from_the_intended_views_only(monkeypatch):
    """After one semi step the student's BN running statistics equal those obtained by
    forwarding only the intended views (labeled images, the student's unlabeled view) through
    a copy of the initial student, in the same calls: the ColorAug view must not move them.

    Written against the interface both the old and the new model share (it fails on the model
    that ran the ColorAug view as a third train-mode forward)."""
    model = build(semi_train_cfg=dict(tau=0.0, color_aug=dict(prob=1.0)))
    model.train()
    initial = copy.deepcopy(model.student)
    color_views = record_calls(monkeypatch, 'color_aug_batch')
    calls, handle = capture_inputs(model.student.backbone)
    inputs, samples = make_batch()
    model.loss(inputs, samples)
    handle.remove()
    assert len(color_views) == 1
    color_img = color_views[0].img
    intended = [x for x in calls if not (x.shape == color_img.shape and torch.equal(x, color_img))]
    assert len(intended) == len(calls) - 1  # the ColorAug view did go through the student

    initial.train()
    with torch.no_grad():
        for x in intended:
            seg_feats, depth_feats = initial.extract_task_feats(x)
            initial.decode_head(seg_feats)
            initial.depth_head(depth_feats)
    got, expected = bn_buffers(model.student), bn_buffers(initial)
    assert got.keys() == expected.keys() and len(got) > 10
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-6,
                                   msg=lambda m, k=k: f'{k}: {m}')


def test_color_view_bn_update_reproduces_the_old_contamination():
    """``color_view_bn='update'`` lets the ColorAug view move the statistics (the behaviour the
    default fixes): the statistics then differ from the frozen run."""
    inputs, samples = make_batch()
    stats = {}
    for mode in ('frozen', 'update'):
        model = build(semi_train_cfg=dict(tau=0.0, color_aug=dict(prob=1.0), color_view_bn=mode))
        model.train()
        torch.manual_seed(3)
        model.loss(inputs, samples)
        stats[mode] = bn_buffers(model.student)
    key = 'backbone.stem.1.running_mean'
    assert not torch.allclose(stats['frozen'][key], stats['update'][key])
    assert stats['update']['backbone.stem.1.num_batches_tracked'] == \
        stats['frozen']['backbone.stem.1.num_batches_tracked'] + 1


def test_frozen_bn_stats_uses_batch_stats_and_keeps_buffers():
    # Looked up here, not imported at the top: the BN test above must also run (and fail) on
    # model versions that predate frozen_bn_stats.
    frozen_bn_stats = mt.frozen_bn_stats
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3).train()
    ref = copy.deepcopy(bn)
    x = torch.randn(4, 3, 5, 5) * 3 + 1
    before = bn_buffers(bn)
    with frozen_bn_stats(bn):
        y = bn(x)
    for k, v in before.items():
        assert torch.equal(bn.state_dict()[k], v), k
    torch.testing.assert_close(y, ref(x))  # normalised with the batch statistics
    assert bn.track_running_stats
    bn(x)
    assert not torch.equal(bn.running_mean, before['running_mean'])  # updates again after


def test_concat_forward_gives_the_students_supervised_losses():
    """In eval mode (no batch statistics) one forward of [labeled; unlabeled] must give the
    same supervised losses as ``student.loss`` on the labeled images, and the same
    unsupervised losses as two separate forwards."""
    inputs, samples = make_batch()
    out = {}
    for mode in ('concat', 'separate'):
        model = build(semi_train_cfg=dict(tau=0.0, student_forward=mode))
        model.eval()
        torch.manual_seed(5)
        out[mode] = model.loss(inputs, samples)
    ref = model.student.loss(inputs[:2], samples[:2])
    for k in ('decode.loss_ce', 'depth.loss_silog'):
        torch.testing.assert_close(out['concat'][f'sup.{k}'], ref[k])
    for k in ('unsup.loss_seg', 'unsup.depth.loss_silog', 'unsup.color.depth.loss_silog'):
        torch.testing.assert_close(out['concat'][k], out['separate'][k])


# ------------------------------------------------------------------------- weak / strong views
@pytest.mark.parametrize('strong', [True, False])
def test_weak_view_to_teacher_strong_view_to_student(monkeypatch, strong):
    cfg = dict(tau=0.0, color_aug=None)
    if not strong:
        cfg['strong_aug'] = None
    model = build(semi_train_cfg=cfg)
    model.train()
    mixes = record_calls(monkeypatch, 'affine_mix_batch')
    strongs = record_calls(monkeypatch, 'strong_aug_batch')
    t_calls, t_handle = capture_inputs(model.teacher.backbone)
    s_calls, s_handle = capture_inputs(model.student.backbone)
    inputs, samples = make_batch()
    model.loss(inputs, samples)
    t_handle.remove()
    s_handle.remove()

    # The teacher sees exactly the unlabeled images of the batch (the weak view).
    assert len(t_calls) == 1 and torch.equal(t_calls[0], inputs[2:])
    # One student forward: the labeled images, then the student's unlabeled view.
    assert len(s_calls) == 1 and torch.equal(s_calls[0][:2], inputs[:2])
    student_view = s_calls[0][2:]
    mixed = mixes[0].img
    if strong:
        assert len(strongs) == 1
        assert torch.equal(student_view, strongs[0].img)
        assert not torch.allclose(student_view, mixed)
        assert strongs[0].jittered.any() or (strongs[0].blur_sigma > 0).any()
    else:
        assert not strongs
        assert torch.equal(student_view, mixed)


@pytest.mark.parametrize('option', [dict(warp=None, mask=dict(type='ClassMask')),
                                    dict(mask=dict(type='ShuffledDepthMask', margin=0.3))])
def test_mixing_controls_reach_the_semi_step(monkeypatch, option):
    model = build(semi_train_cfg=dict(tau=0.0, color_aug=None, mix=option))
    model.train()
    seen = []
    original = mt.affine_mix_batch

    def wrapper(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(mt, 'affine_mix_batch', wrapper)
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert len(seen) == 1 and type(seen[0]['mask']).__name__ == option['mask']['type']
    assert vars(seen[0]['mask']) == {k: v for k, v in option['mask'].items() if k != 'type'}
    assert seen[0]['warp'] is ('warp' not in option)
    assert torch.isfinite(losses['unsup.loss_seg'])


def test_a_new_registered_mask_is_a_config_line(monkeypatch):
    """A BaseMixMask subclass registered in MIX_MASKS (what a new file in
    augmentation/mix_masks/ does at import) is used by the step and listed by the analysis."""
    from mmseg_ccam.analysis.mix_statistics import mix_arms
    from mmseg_ccam.augmentation.mix_masks import MIX_MASKS, BaseMixMask

    class LeftHalfMask(BaseMixMask):
        def __call__(self, depth_a, depth_b, seg_b, *, generator, ignore_index):
            mask = torch.zeros_like(depth_a, dtype=torch.bool)
            mask[..., :depth_a.shape[-1] // 2] = True
            return mask

    MIX_MASKS.register_module(module=LeftHalfMask)
    try:
        model = build(semi_train_cfg=dict(tau=0.0, color_aug=None, strong_aug=None,
                                          mix=dict(mask=dict(type='LeftHalfMask'))))
        model.train()
        losses = model.loss(*make_batch())
        assert losses['unsup.pasted_frac'].item() == 0.5
        assert {'LeftHalfMask', 'LeftHalfMask-unmoved'} <= set(mix_arms())
    finally:
        MIX_MASKS.module_dict.pop('LeftHalfMask', None)


def test_mix_config_is_checked_and_the_old_form_refused():
    with pytest.raises(KeyError, match="'CutMix' is not a registered mixing mask"):
        build(semi_train_cfg=dict(mix=dict(mask=dict(type='CutMix'))))
    with pytest.raises(KeyError, match='semi_train_cfg.mix.warp: .*scale'):
        build(semi_train_cfg=dict(mix=dict(warp=dict(scale=(1, 2)))))
    with pytest.raises(TypeError, match='mix.warp must be a dict'):
        build(semi_train_cfg=dict(mix=dict(warp=False)))
    with pytest.raises(ValueError, match='mix.prob must be a number in'):
        build(semi_train_cfg=dict(mix=dict(prob=1.5)))
    with pytest.raises(ValueError, match='margin must be >= 0'):
        build(semi_train_cfg=dict(mix=dict(mask=dict(type='DepthOrderMask', margin=-1))))
    for old in (dict(mode='classmix'), dict(depth_order='shuffled'), None):
        with pytest.raises(KeyError, match=r"affine_mix .* is replaced by semi_train_cfg\.mix"):
            build(semi_train_cfg=dict(affine_mix=old))
    # defaults: the warp's and the depth order with DEFAULT_MARGIN
    mix = build().semi_train_cfg['mix']
    assert mix['warp'] == WARP_DEFAULTS and mix['prob'] == 1.0
    assert type(mix['mask']).__name__ == 'DepthOrderMask' and mix['mask'].margin == DEFAULT_MARGIN


# ------------------------------------------------------------------ pseudo-label schedule
def test_pseudo_label_schedule_values():
    model = build(semi_train_cfg=dict(unsup_start_iter=10, unsup_rampup_iters=20))
    f = model.pseudo_label_schedule
    assert f(0) == 0.0 and f(9) == 0.0
    assert f(10) == pytest.approx(math.exp(-5))
    assert f(20) == pytest.approx(math.exp(-5 * 0.25))
    assert f(30) == 1.0 and f(10_000) == 1.0
    assert build(semi_train_cfg=dict(unsup_start_iter=3)).pseudo_label_schedule(3) == 1.0


def test_schedule_follows_the_runner_iteration(hub_iter):
    model = build(semi_train_cfg=dict(tau=0.0, unsup_start_iter=50, color_aug=None))
    model.train()
    inputs, samples = make_batch(labeled=(False, False))
    hub_iter(49)
    early = model.loss(inputs, samples)
    assert early['unsup.loss_seg'].item() == 0.0 and early['unsup.seg_weight'].item() == 0.0
    assert early['unsup.depth.loss_silog'].item() > 0  # depth targets are ground truth
    hub_iter(50)
    late = model.loss(inputs, samples)
    assert late['unsup.loss_seg'].item() > 0 and late['unsup.seg_weight'].item() == 1.0


@pytest.mark.parametrize('key,value,match', [
    ('unsup_start_iter', -1, 'unsup_start_iter'), ('unsup_rampup_iters', 1.5, 'rampup'),
    ('pseudo_weight', 'pixel', 'pseudo_weight'), ('student_forward', 'both', 'student_forward'),
    ('color_view_bn', 'eval', 'color_view_bn')])
def test_bad_schedule_and_mode_values_raise(key, value, match):
    with pytest.raises(ValueError, match=match):
        build(semi_train_cfg={key: value})


# ------------------------------------------------------------------------------ diagnostics
def test_logged_diagnostics_equal_hand_computed_values(monkeypatch, hub_iter):
    model = build(semi_train_cfg=dict(unsup_rampup_iters=100, unsup_start_iter=0))
    hub_iter(50)
    inputs, samples = make_batch()
    # tau at the median teacher confidence: a share strictly between 0 and 1
    tau = float(model.teacher_predict(inputs[2:])[1].median())
    model.semi_train_cfg['tau'] = tau
    with torch.no_grad():
        for k, att in enumerate(model.student.neck.attentions):
            att.gamma_s.fill_(0.25 + k)
            att.gamma_d.fill_(-0.5 - k)
    model.train()
    mixes = record_calls(monkeypatch, 'affine_mix_batch')
    att_inputs = {lv: [] for lv in model.student.neck.levels}
    handles = [att.register_forward_pre_hook(
        lambda m, args, lv=lv: att_inputs[lv].append([a.detach().clone() for a in args]))
        for lv, att in zip(model.student.neck.levels, model.student.neck.attentions)]
    losses = model.loss(inputs, samples)
    for h in handles:
        h.remove()

    _, conf, _ = model.teacher_predict(inputs[2:])
    torch.testing.assert_close(losses['unsup.share_above_tau'], (conf >= tau).float().mean())
    assert 0 < losses['unsup.share_above_tau'].item() < 1  # a non-trivial check
    torch.testing.assert_close(losses['unsup.teacher_conf'], conf.mean())
    torch.testing.assert_close(losses['unsup.pasted_frac'], mixes[0].mask.float().mean())
    assert losses['unsup.seg_weight'].item() == pytest.approx(math.exp(-5 * 0.25))
    for k, lv in enumerate(model.student.neck.levels):
        assert losses[f'ccam.gamma_s.l{lv}'].item() == pytest.approx(0.25 + k)
        assert losses[f'ccam.gamma_d.l{lv}'].item() == pytest.approx(-0.5 - k)
        # Entropy of the concatenated student forward (the first call; the ColorAug view
        # comes after the diagnostics are read), in float64 from the formula.
        x_s, x_d = (a.double() for a in att_inputs[lv][0])
        b, c = x_s.shape[:2]
        fs, fd = x_s.reshape(b, c, -1), x_d.reshape(b, c, -1)
        energy = fs @ fd.transpose(1, 2) / math.sqrt(fs.shape[-1])
        for name, e in (('sd', energy), ('ds', energy.transpose(1, 2))):
            p = e.softmax(-1)
            ent = -(p * p.clamp(min=1e-300).log()).sum(-1).mean()
            torch.testing.assert_close(losses[f'ccam.entropy_{name}.l{lv}'].double(), ent,
                                       rtol=1e-4, atol=1e-5)
            assert 0 < ent < math.log(c)

    # They are logged (message hub scalars train/<key>), not back-propagated.
    parsed, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(parsed, sum(v for k, v in losses.items() if 'loss' in k))
    hub = MessageHub.get_instance('semi_mechanisms_diag')
    RuntimeInfoHook().after_train_iter(SimpleNamespace(message_hub=hub), 0, outputs=log_vars)
    for key in ('unsup.share_above_tau', 'unsup.teacher_conf', 'unsup.pasted_frac',
                'ccam.gamma_s.l0', 'ccam.entropy_sd.l3'):
        assert hub.get_scalar(f'train/{key}').current() == pytest.approx(
            float(losses[key]), rel=1e-5), key


# ------------------------------------------------------------------------- CCAM gamma lr
@pytest.mark.parametrize('config,base_lr,others', [
    ('configs/ccam/ccam_r18_synthcity_semi.py', 1e-3, {'backbone': 1.0, 'neck': 1.0}),
    ('configs/ccam/ccam_r50_cityscapes.py', 1e-2, {'backbone': 0.1, 'neck': 1.0})])
def test_gamma_lr_multiplier_reaches_param_groups(config, base_lr, others):
    cfg = Config.fromfile(config)
    model = build()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g for g in optim.param_groups for p in g['params']}
    checked = 0
    for name, p in model.student.named_parameters():
        g = groups[id(p)]
        if name.endswith(('.gamma_s', '.gamma_d')):
            assert g['lr'] == pytest.approx(10 * base_lr), name
            assert g['weight_decay'] == 0.0, name
            checked += 1
        elif name.startswith(('backbone', 'neck')) and name.endswith('conv.weight') or \
                name == 'backbone.stem.0.weight':
            assert g['lr'] == pytest.approx(others[name.split('.')[0]] * base_lr), name
    assert checked == 4  # two levels x (gamma_s, gamma_d)


@pytest.mark.parametrize('config', ['configs/ccam/ccam_r18_synthcity_semi.py',
                                    'configs/ccam/ccam_r50_cityscapes_semi-1-30.py'])
def test_semi_configs_average_the_diagnostics_over_the_log_window(config):
    """MMEngine logs non-loss scalars at their last iteration; the semi configs' log processor
    averages the diagnostics like the losses (a 0/1 alternating share must log 0.5)."""
    from mmengine.runner import LogProcessor
    cfg = Config.fromfile(config)
    proc = LogProcessor(**cfg.log_processor)
    hub = MessageHub.get_instance(f'semi_log_window_{config}')
    for i in range(10):
        hub.update_scalar('train/unsup.share_above_tau', float(i % 2))
        hub.update_scalar('train/ccam.gamma_s.l0', float(i))
        hub.update_scalar('train/sup.decode.acc_seg', float(i))
        hub.update_scalar('train/lr', 0.1)
        hub.update_scalar('train/time', 1.0)
        hub.update_scalar('train/data_time', 0.1)
    runner = SimpleNamespace(message_hub=hub, iter=9, max_iters=100, train_loop=SimpleNamespace(
        max_iters=100), optim_wrapper=None, logger=None)
    tag = proc._collect_scalars(copy.deepcopy(proc.custom_cfg), runner, 'train')
    assert tag['unsup.share_above_tau'] == pytest.approx(0.5)
    assert tag['ccam.gamma_s.l0'] == pytest.approx(4.5)
    assert tag['sup.decode.acc_seg'] == 9.0  # other metrics: last value, as before
