"""MeanTeacherSegDepth: batch split, pseudo-label losses, teacher freezing, predict, train step."""
import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the modules)
from mmseg_ccam.augmentation.affine_mix import affine_mix_batch
from mmseg_ccam.engine.hooks.mean_teacher_hook import MeanTeacherHook
from mmseg_ccam.models.segmentors.mean_teacher_seg_depth import split_labeled

init_default_scope('mmseg')

NUM_CLASSES = 4
H, W = 32, 64
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


pytestmark = pytest.mark.usefixtures('one_thread')


def segmentor_cfg():
    """ResNetV1c-18, 8 base channels: levels 8/16/32/64 ch, strides 4/8/8/8."""
    norm = dict(type='BN', requires_grad=True)
    return dict(
        type='SegDepthEncoderDecoder',
        data_preprocessor=dict(type='SegDepthDataPreProcessor', mean=MEAN, std=STD,
                               bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(H, W)),
        backbone=dict(
            type='ResNetV1c', depth=18, base_channels=8, stem_channels=8, num_stages=4,
            out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
            norm_cfg=norm, norm_eval=False, style='pytorch', contract_dilation=True),
        neck=dict(type='CCAMNeck', in_channels=[8, 16, 32, 64], levels=(0, 3), norm_cfg=norm,
                  attention=dict(type='CrossChannelAttention')),
        decode_head=dict(
            type='FCNHead', in_channels=64, in_index=3, channels=8, num_convs=1,
            concat_input=False, dropout_ratio=0.0, num_classes=NUM_CLASSES, norm_cfg=norm,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        depth_head=dict(
            type='DepthHead', in_channels=64, in_index=3, channels=8, dilations=(1, 2),
            c1_in_channels=8, c1_channels=4, norm_cfg=norm, align_corners=False,
            min_depth=0.1, max_depth=80.0, loss_decode=dict(type='SiLogLoss')),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def build(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MODELS.build(dict(type='MeanTeacherSegDepth', segmentor=segmentor_cfg(), **kwargs))
    model.init_weights()
    return model


def make_batch(labeled=(True, True, False, False), depth=True, meta_flag=True, seed=0):
    """Normalised-looking images; labeled samples have a left/right class split, unlabeled
    ones an all-255 map; all have a vertical depth ramp (or none)."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(len(labeled), 3, H, W, generator=g)
    samples = []
    for i, lab in enumerate(labeled):
        meta = dict(img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W),
                    padding_size=[0, 0, 0, 0])
        if meta_flag:
            meta['has_seg_label'] = lab
        ds = SegDataSample(metainfo=meta)
        label = torch.full((H, W), 255, dtype=torch.long)
        if lab:
            label[:] = 0
            label[:, W // 2:] = (i + 1) % NUM_CLASSES
        inputs[i, 0, :, W // 2:] += 1.5
        ds.gt_sem_seg = PixelData(data=label[None])
        if depth:
            ramp = torch.linspace(30.0, 2.0 + i, H)[:, None].expand(H, W).clone()
            ds.gt_depth_map = PixelData(data=ramp[None])
        samples.append(ds)
    return inputs, samples


def all_finite(losses):
    return all(torch.isfinite(v).all() for k, v in losses.items() if 'loss' in k)


def test_split_labeled_meta_and_fallback():
    _, samples = make_batch(meta_flag=True)
    assert split_labeled(samples) == ([0, 1], [2, 3])
    _, samples = make_batch(meta_flag=False)
    assert split_labeled(samples) == ([0, 1], [2, 3])
    # The meta key wins over the label content.
    samples[0].set_metainfo(dict(has_seg_label=False))
    assert split_labeled(samples) == ([1], [0, 2, 3])


def test_mixed_batch_keys_and_reproducible():
    model = build()
    inputs, samples = make_batch()
    torch.manual_seed(3)
    losses = model.loss(inputs, samples)
    assert {'sup.decode.loss_ce', 'sup.depth.loss_silog', 'unsup.loss_seg',
            'unsup.depth.loss_silog', 'unsup.color.depth.loss_silog'} <= set(losses)
    assert all_finite(losses)
    assert float(losses['unsup.depth.loss_silog']) > 0
    # The mixing draws come from torch's global RNG: same seed, same losses.
    torch.manual_seed(3)
    again = model.loss(inputs, samples)
    for k in losses:
        torch.testing.assert_close(again[k], losses[k], rtol=0, atol=0)


@pytest.mark.parametrize('labeled', [(True, True), (False, False)])
def test_single_source_batches(labeled):
    model = build()
    inputs, samples = make_batch(labeled=labeled, meta_flag=False)
    losses = model.loss(inputs, samples)
    assert all_finite(losses)
    has_sup = any(k.startswith('sup.') for k in losses)
    has_unsup = any(k.startswith('unsup.') for k in losses)
    assert (has_sup, has_unsup) == (labeled[0], not labeled[0])


def test_unlabeled_without_depth_gives_zero_depth_loss():
    model = build()
    inputs, samples = make_batch(labeled=(False, False), depth=False)
    losses = model.loss(inputs, samples)
    assert all_finite(losses)
    assert float(losses['unsup.depth.loss_silog']) == 0.0
    assert float(losses['unsup.color.depth.loss_silog']) == 0.0


def test_teacher_frozen_gets_no_grad():
    model = build()
    assert all(not p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.student.training and not model.teacher.training
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())


def test_tau_one_zeroes_unsup_seg_loss():
    model = build(semi_train_cfg=dict(tau=1.0))
    inputs, samples = make_batch(labeled=(False, False, False))
    _, conf, _ = model.teacher_predict(inputs)
    assert float(conf.max()) < 1.0
    losses = model.loss(inputs, samples)
    assert float(losses['unsup.loss_seg']) == 0.0


def test_unmixed_unsup_losses_match_independent_reference():
    """mix=None, strong_aug=None, color_aug=None, tau=0: CE vs the teacher's argmax and
    the student's own supervised depth loss on the same images."""
    model = build(semi_train_cfg=dict(tau=0.0, mix=None, strong_aug=None, color_aug=None))
    model.train()
    inputs, samples = make_batch(labeled=(False, False, False))
    losses = model.loss(inputs, samples)
    assert not any(k.startswith('unsup.color') for k in losses)

    with torch.no_grad():
        t_logits = resize(model.teacher._forward(inputs)['seg'], size=(H, W), mode='bilinear',
                          align_corners=False)
        s_logits = resize(model.student._forward(inputs)['seg'], size=(H, W), mode='bilinear',
                          align_corners=False)
        ref_seg = F.cross_entropy(s_logits, t_logits.argmax(1))
        ref_depth = model.student.loss(inputs, samples)['depth.loss_silog']
    torch.testing.assert_close(losses['unsup.loss_seg'].detach(), ref_seg)
    torch.testing.assert_close(losses['unsup.depth.loss_silog'].detach(), ref_depth)


def test_unsup_weights_scale_losses():
    cfg = dict(tau=0.0, mix=None, color_aug=None)
    inputs, samples = make_batch(labeled=(False, False))
    base = build(semi_train_cfg=cfg).loss(inputs, samples)
    scaled = build(semi_train_cfg=dict(cfg, unsup_seg_weight=0.5, unsup_depth_weight=2.0)).loss(
        inputs, samples)
    torch.testing.assert_close(scaled['unsup.loss_seg'], base['unsup.loss_seg'] * 0.5)
    torch.testing.assert_close(scaled['unsup.depth.loss_silog'],
                               base['unsup.depth.loss_silog'] * 2.0)


def test_predict_and_tensor_follow_eval_model():
    model = build()
    with torch.no_grad():
        model.teacher.depth_head.conv_seg.bias.add_(1.0)  # teacher != student
    model.eval()
    inputs, samples = make_batch()
    outs = {}
    for which in ('teacher', 'student'):
        model.semi_test_cfg['eval_model'] = which
        ref = getattr(model, which)
        pred = model.predict(inputs, copy.deepcopy(samples))
        exp = ref.predict(inputs, copy.deepcopy(samples))
        torch.testing.assert_close(pred[0].pred_depth_map.data, exp[0].pred_depth_map.data)
        torch.testing.assert_close(pred[0].seg_logits.data, exp[0].seg_logits.data)
        outs[which] = model(inputs, mode='tensor')['depth']
        torch.testing.assert_close(outs[which], ref._forward(inputs)['depth'])
    assert not torch.allclose(outs['teacher'], outs['student'])


def test_unknown_cfg_keys_raise():
    with pytest.raises(KeyError, match='taux'):
        build(semi_train_cfg=dict(taux=0.9))
    with pytest.raises(KeyError, match='scale'):
        build(semi_train_cfg=dict(mix=dict(warp=dict(scale=(1, 2)))))
    with pytest.raises(KeyError, match='gamma'):
        build(semi_train_cfg=dict(color_aug=dict(gamma=0.1)))
    # ColorAug's values are checked when the model is built, not at the first step
    with pytest.raises(ValueError, match=r'`prob` must be in \[0, 1\], got 1.5'):
        build(semi_train_cfg=dict(color_aug=dict(prob=1.5)))
    with pytest.raises(ValueError, match='eval_model'):
        build(semi_test_cfg=dict(eval_model='ema'))


def test_color_aug_cfg_becomes_color_aug_batch_arguments():
    """semi_train_cfg.color_aug: ColorJitter fields over the defaults, gathered as ``jitter``;
    the other options passed as they are."""
    from mmseg_ccam.augmentation import ColorJitter
    model = build(semi_train_cfg=dict(color_aug=dict(prob=1.0, hue=0.05, channel_order='bgr')))
    assert model.semi_train_cfg['color_aug'] == dict(
        channel_order='bgr', jitter=ColorJitter(prob=1.0, hue=0.05))
    assert build().semi_train_cfg['color_aug'] == dict(jitter=ColorJitter())


def test_train_step_and_ema_hook():
    model = build()
    # The teacher starts as an exact copy of the student.
    for (k, t), s in zip(model.teacher.state_dict().items(), model.student.state_dict().values()):
        assert torch.equal(t, s), k
    hook = MeanTeacherHook(momentum=0.01)
    runner = SimpleNamespace(model=model, iter=0,
                             message_hub=MessageHub.get_instance('mt_seg_depth_test'))
    hook.before_train(runner)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    _, samples = make_batch()
    g = torch.Generator().manual_seed(1)
    data = dict(inputs=[torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)
                        for _ in samples], data_samples=samples)
    teacher0 = copy.deepcopy(model.teacher.state_dict())
    model.train()
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars['loss'])
    assert 'unsup.loss_seg' in log_vars and 'sup.decode.loss_ce' in log_vars
    name = 'backbone.stem.0.weight'
    student_w = model.student.state_dict()[name]
    assert not torch.equal(student_w, teacher0[name])  # the optimizer moved the student
    assert torch.equal(model.teacher.state_dict()[name], teacher0[name])  # not the teacher

    runner.iter = 1  # second update: student weight w = max(1/2, 0.01) = 0.5
    hook.after_train_iter(runner, 1)
    torch.testing.assert_close(model.teacher.state_dict()[name],
                               0.5 * teacher0[name] + 0.5 * student_w)


def test_unsup_seg_loss_confidence_weighting_by_hand():
    logits = torch.zeros(2, NUM_CLASSES, 2, 2)
    logits[0, 1, 0, 1] = 2.0  # one pixel with a different CE
    pseudo = torch.zeros(2, 2, 2, dtype=torch.long)
    pseudo[1, 0, 0] = 255  # ignored: image 1 averages over its 3 other pixels
    conf = torch.tensor([[[0.95, 0.2], [0.9, 0.1]], [[0.99, 0.5], [0.5, 0.5]]])
    log_k = torch.log(torch.tensor(float(NUM_CLASSES)))
    odd = torch.log(NUM_CLASSES - 1 + torch.exp(torch.tensor(2.0)))  # CE of that pixel
    # per image: image 0 has 2/4 pixels >= tau, CE mean (3 log K + odd) / 4; image 1 has 1/4
    # (the share counts all pixels) and CE log K
    model = build(semi_train_cfg=dict(tau=0.9, pseudo_weight='image'))
    expected = (0.5 * (3 * log_k + odd) / 4 + 0.25 * log_k) / 2
    torch.testing.assert_close(model.unsup_seg_loss(logits, pseudo, conf), expected)
    # per batch (the default): 3 of the 8 pixels >= tau, times the CE mean over the 7 valid
    model = build(semi_train_cfg=dict(tau=0.9))
    expected = 3 / 8 * (6 * log_k + odd) / 7
    torch.testing.assert_close(model.unsup_seg_loss(logits, pseudo, conf), expected)
    # mask: only the confident valid pixels (image 0: (0,0) and (1,0), both CE log K; image 1's
    # confident pixel is ignored) over the 7 valid pixels; the odd pixel (conf 0.2) is left out
    model = build(semi_train_cfg=dict(tau=0.9, pseudo_weight='mask'))
    loss = model.unsup_seg_loss(logits.requires_grad_(), pseudo, conf)
    torch.testing.assert_close(loss, 2 * log_k / 7)
    grad, = torch.autograd.grad(loss, logits)
    below = (conf < 0.9).unsqueeze(1).expand_as(grad)
    assert grad[below].abs().max() == 0 and grad[0, :, 0, 0].abs().sum() > 0


def test_depthmix_wiring_matches_manual_mix():
    """warp=False and two samples make the mix deterministic (partner = the other sample):
    the losses must equal CE / depth loss of the student on a mix built by hand from the
    teacher's outputs, with the ground-truth depth mixed by the teacher-depth mask."""
    model = build(semi_train_cfg=dict(tau=0.0, color_aug=None, strong_aug=None,
                                      mix=dict(warp=None, mask=dict(type='DepthOrderMask',
                                                                    margin=0.02))))
    with torch.no_grad():  # a depth map that varies across the image: a non-trivial mask
        model.teacher.depth_head.conv_seg.weight.mul_(50.0)
    model.train()
    inputs, samples = make_batch(labeled=(False, False))
    losses = model.loss(inputs, samples)

    pseudo, conf, t_depth = model.teacher_predict(inputs)
    gt = torch.stack([ds.gt_depth_map.data for ds in samples])
    # the configured margin must reach the batch form
    mixed = affine_mix_batch(inputs, pseudo, t_depth, pairs=torch.tensor([1, 0]), warp=False,
                             extra=conf, extra_depth=gt, margin=0.02)
    assert not torch.equal(mixed.mask, affine_mix_batch(
        inputs, pseudo, t_depth, pairs=torch.tensor([1, 0]), warp=False).mask)
    assert 0.05 < float(mixed.mask.float().mean()) < 0.95
    assert not torch.equal(mixed.extra_depth[0], gt)
    with torch.no_grad():
        out = model.student._forward(mixed.img)
        logits = resize(out['seg'], size=(H, W), mode='bilinear', align_corners=False)
        ref_seg = F.cross_entropy(logits, mixed.seg)
        mixed_samples = []
        for i, ds in enumerate(samples):
            new = SegDataSample(metainfo=ds.metainfo)
            new.gt_depth_map = PixelData(data=mixed.extra_depth[0][i])
            mixed_samples.append(new)
        ref_depth = model.student.loss(mixed.img, mixed_samples)['depth.loss_silog']
    torch.testing.assert_close(losses['unsup.loss_seg'].detach(), ref_seg)
    torch.testing.assert_close(losses['unsup.depth.loss_silog'].detach(), ref_depth)
