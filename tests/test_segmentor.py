"""SegDepthEncoderDecoder: losses of both tasks, missing labels, predict, slide, training."""
import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import build_model
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the modules)

# As a config's default_scope='mmseg' does: lets BaseModel find SegDataPreProcessor.
init_default_scope('mmseg')

NUM_CLASSES = 4


CCAM = dict(type='CrossChannelAttention')


def tiny_cfg(seg=True, depth=True, attention=CCAM, **kwargs):
    """ResNetV1c-18 with 16 base channels: levels 16/32/64/128 ch, stride 4/8/8/8."""
    norm = dict(type='BN', requires_grad=True)
    cfg = dict(
        type='SegDepthEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255),
        backbone=dict(
            type='ResNetV1c', depth=18, base_channels=16, stem_channels=16,
            num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1), norm_cfg=norm, norm_eval=False, style='pytorch',
            contract_dilation=True),
        neck=dict(type='CCAMNeck', in_channels=[16, 32, 64, 128], levels=(0, 3),
                  norm_cfg=norm, attention=attention),
        decode_head=dict(
            type='DepthwiseSeparableASPPHead', in_channels=128, in_index=3, channels=16,
            dilations=(1, 2, 3), c1_in_channels=16, c1_channels=8, dropout_ratio=0.0,
            num_classes=NUM_CLASSES, norm_cfg=norm, align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                             avg_non_ignore=True)) if seg else None,
        depth_head=dict(
            type='DepthHead', in_channels=128, in_index=3, channels=16, dilations=(1, 2, 3),
            c1_in_channels=16, c1_channels=8, norm_cfg=norm, align_corners=False,
            min_depth=0.1, max_depth=80.0,
            loss_decode=[dict(type='SiLogLoss'), dict(type='BerHuLoss', loss_weight=0.1)])
        if depth else None,
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    cfg.update(kwargs)
    return cfg


def batch(b=2, h=64, w=64, seed=0, seg=True, depth=True):
    """Images with a left/right class split and a vertical depth ramp."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(b, 3, h, w, generator=g)
    samples = []
    for i in range(b):
        ds = SegDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w),
                                         padding_size=[0, 0, 0, 0]))
        label = torch.zeros(h, w, dtype=torch.long)
        label[:, w // 2:] = (i + 1) % NUM_CLASSES
        inputs[i, 0, :, w // 2:] += 2.0
        if seg:
            ds.gt_sem_seg = PixelData(data=label[None])
        ramp = torch.linspace(30.0, 2.0, h)[:, None].expand(h, w).clone()
        if depth:
            ds.gt_depth_map = PixelData(data=ramp[None])
        samples.append(ds)
    return inputs, samples


@pytest.fixture(scope='module')
def joint():
    return build_model(tiny_cfg())


def finite_grads(model):
    return all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize('seg, depth, keys', [
    (True, True, {'decode.loss_ce', 'decode.acc_seg', 'depth.loss_silog', 'depth.loss_berhu',
                  'num_no_depth'}),
    (True, False, {'decode.loss_ce', 'decode.acc_seg'}),
    (False, True, {'depth.loss_silog', 'depth.loss_berhu', 'num_no_depth'}),
])
def test_loss_keys(seg, depth, keys):
    model = build_model(tiny_cfg(seg=seg, depth=depth)).train()
    losses = model.loss(*batch())
    assert set(losses) == keys
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_auxiliary_head_and_plain_neck():
    aux = dict(type='FCNHead', in_channels=64, in_index=2, channels=8, num_convs=1,
               concat_input=False, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'),
               loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4))
    model = build_model(tiny_cfg(auxiliary_head=aux, neck=None)).train()
    losses = model.loss(*batch())
    assert {'aux.loss_ce', 'aux.acc_seg', 'decode.loss_ce', 'depth.loss_silog'} <= set(losses)
    seg_feats, depth_feats = model.extract_task_feats(batch()[0])
    assert seg_feats is depth_feats  # no task-splitting neck: both heads share


def test_loss_by_outputs_is_loss_from_given_head_outputs():
    """loss() == loss_by_outputs() of the heads' outputs (eval mode: the forwards are
    deterministic), key order included (MMEngine sums the losses in that order); with an
    auxiliary head it needs the features, and each task is optional."""
    aux = dict(type='FCNHead', in_channels=64, in_index=2, channels=8, num_convs=1,
               concat_input=False, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'),
               dropout_ratio=0.0, loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4))
    model = build_model(tiny_cfg(auxiliary_head=aux, seg_loss_weight=0.5,
                                 depth_loss_weight=2.0)).eval()
    inputs, samples = batch()
    expected = model.loss(inputs, samples)
    seg_feats, depth_feats = model.extract_task_feats(inputs)
    seg_logits = model.decode_head.forward(seg_feats)
    depth_pred = model.depth_head.forward(depth_feats)
    got = model.loss_by_outputs(samples, seg_logits, depth_pred, seg_feats)
    assert list(got) == list(expected) == ['decode.loss_ce', 'decode.acc_seg', 'aux.loss_ce',
                                           'aux.acc_seg', 'depth.loss_silog',
                                           'depth.loss_berhu', 'num_no_depth']
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0)
    # the weights apply: decode CE by hand, times seg_loss_weight
    ce = F.cross_entropy(F.interpolate(seg_logits, size=(64, 64), mode='bilinear'),
                         torch.stack([ds.gt_sem_seg.data[0] for ds in samples]))
    torch.testing.assert_close(got['decode.loss_ce'], 0.5 * ce)
    depth_only = model.loss_by_outputs(samples, depth_pred=depth_pred)
    assert list(depth_only) == ['depth.loss_silog', 'depth.loss_berhu', 'num_no_depth']
    with pytest.raises(ValueError, match='auxiliary head.* need seg_feats'):
        model.loss_by_outputs(samples, seg_logits=seg_logits)


def test_ccam_neck_diagnostics():
    model = build_model(tiny_cfg()).train()
    with torch.no_grad():
        model.neck.attentions[1].gamma_d.fill_(0.75)
    model.extract_task_feats(batch()[0])
    diag = model.neck.diagnostics()
    assert list(diag) == [f'{n}.l{lv}' for lv in (0, 3)
                          for n in ('gamma_s', 'gamma_d', 'entropy_sd', 'entropy_ds')]
    assert diag['gamma_d.l3'].item() == 0.75 and diag['gamma_s.l0'].item() == 0.0
    # row entropies of a softmax over C channels lie in [0, log C]
    assert 0 <= diag['entropy_sd.l3'].item() <= torch.log(torch.tensor(128.0)).item()
    assert not any(v.requires_grad for v in diag.values())
    assert build_model(tiny_cfg(attention=None)).neck.diagnostics() == {}


def test_no_head_or_aux_without_seg_is_an_error():
    with pytest.raises(ValueError, match='at least one'):
        MODELS.build(tiny_cfg(seg=False, depth=False))
    with pytest.raises(ValueError, match='auxiliary_head'):
        MODELS.build(tiny_cfg(seg=False, auxiliary_head=dict(type='FCNHead')))


def test_task_loss_weights(joint):
    joint.train()
    weighted = build_model(tiny_cfg(seg_loss_weight=2.0, depth_loss_weight=0.5)).train()
    weighted.load_state_dict(joint.state_dict())
    inputs, samples = batch()
    a, b = joint.loss(inputs, samples), weighted.loss(inputs, samples)
    assert torch.isclose(b['decode.loss_ce'], 2.0 * a['decode.loss_ce'])
    assert torch.isclose(b['depth.loss_silog'], 0.5 * a['depth.loss_silog'])
    assert torch.isclose(b['decode.acc_seg'], a['decode.acc_seg'])


def test_missing_seg_labels_equal_all_ignore(joint):
    joint.train()
    inputs, samples = batch(seg=False)
    losses = joint.loss(inputs, samples)
    assert losses['decode.loss_ce'].item() == 0.0
    assert all('gt_sem_seg' not in ds for ds in samples)  # caller's samples untouched


def ignore_seg(ds):
    ds.gt_sem_seg = PixelData(data=torch.full_like(ds.gt_sem_seg.data, 255))


def zero_depth(ds):
    ds.gt_depth_map = PixelData(data=torch.zeros_like(ds.gt_depth_map.data))


def drop_depth(ds):
    del ds.gt_depth_map


SEG_LOSSES, DEPTH_LOSSES = ['decode.loss_ce'], ['depth.loss_silog', 'depth.loss_berhu']


@pytest.mark.parametrize('spoil, zero, positive', [
    (ignore_seg, SEG_LOSSES, DEPTH_LOSSES),
    (zero_depth, DEPTH_LOSSES, SEG_LOSSES),
    (drop_depth, DEPTH_LOSSES, SEG_LOSSES),
], ids=['all-ignore-seg', 'all-zero-depth', 'no-depth-map'])
def test_task_without_valid_labels_gives_zero_finite_loss(joint, spoil, zero, positive):
    """The task whose labels are all invalid gives a loss of exactly 0 and the other task
    trains: finite gradients, no NaN from an empty mean."""
    joint.train()
    joint.zero_grad()
    inputs, samples = batch()
    for ds in samples:
        spoil(ds)
    losses = joint.loss(inputs, samples)
    assert [losses[k].item() for k in zero] == [0.0] * len(zero)
    assert all(losses[k].item() > 0 for k in positive)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert finite_grads(joint)


def test_predict_fills_fields_at_original_size(joint):
    joint.eval()
    inputs, _ = batch(b=1, h=64, w=64)
    plain = SegDataSample(metainfo=dict(ori_shape=(30, 28), img_shape=(60, 56),
                                        pad_shape=(64, 64), padding_size=[0, 8, 0, 4]))
    flipped = SegDataSample(metainfo=dict(plain.metainfo, flip=True,
                                          flip_direction='horizontal'))
    with torch.no_grad():
        raw = joint.encode_decode(inputs, [plain.metainfo])
        out = joint.predict(inputs, [plain])[0]
        out_flip = joint.predict(inputs, [flipped])[0]
    assert out.seg_logits.shape == (30, 28) and out.seg_logits.data.shape[0] == NUM_CLASSES
    assert out.pred_sem_seg.shape == (30, 28) and out.pred_depth_map.shape == (30, 28)
    # reference: crop the padding (right 8, bottom 4), resize to ori_shape
    ref_depth = F.interpolate(raw['depth'][:, :, :60, :56], size=(30, 28), mode='bilinear',
                              align_corners=False)[0]
    assert torch.allclose(out.pred_depth_map.data, ref_depth, atol=1e-5)
    ref_seg = F.interpolate(raw['seg'][:, :, :60, :56], size=(30, 28), mode='bilinear',
                            align_corners=False)[0]
    assert torch.equal(out.pred_sem_seg.data, ref_seg.argmax(0, keepdim=True))
    assert torch.allclose(out_flip.pred_depth_map.data, out.pred_depth_map.data.flip(-1),
                          atol=1e-5)
    assert torch.allclose(out_flip.seg_logits.data, out.seg_logits.data.flip(-1), atol=1e-5)
    # without data samples: input size, no postprocessing
    bare = joint.predict(inputs)[0]
    assert bare.pred_depth_map.shape == (64, 64) and 'pred_sem_seg' in bare


def test_tensor_mode(joint):
    joint.eval()
    with torch.no_grad():
        out = joint(batch(b=1)[0], mode='tensor')
    assert set(out) == {'seg', 'depth'}
    assert out['seg'].shape == (1, NUM_CLASSES, 16, 16) and out['depth'].shape == (1, 1, 16, 16)
    depth_only = build_model(tiny_cfg(seg=False)).eval()
    with torch.no_grad():
        assert set(depth_only(batch(b=1)[0], mode='tensor')) == {'depth'}


def test_slide_equals_whole_when_crop_covers_image(joint):
    joint.eval()
    slide = copy.deepcopy(joint)
    slide.test_cfg = type(joint.test_cfg)(mode='slide', crop_size=(64, 64), stride=(48, 48))
    inputs, samples = batch(b=1)
    with torch.no_grad():
        whole = joint.predict(inputs, copy.deepcopy(samples))[0]
        slid = slide.predict(inputs, copy.deepcopy(samples))[0]
    assert torch.allclose(whole.seg_logits.data, slid.seg_logits.data, atol=1e-5)
    assert torch.allclose(whole.pred_depth_map.data, slid.pred_depth_map.data, atol=1e-5)


def test_slide_really_slides_for_both_tasks(joint):
    joint.eval()
    slide = copy.deepcopy(joint)
    slide.test_cfg = type(joint.test_cfg)(mode='slide', crop_size=(64, 64), stride=(32, 32))
    inputs = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(5))
    meta = dict(ori_shape=(64, 128), img_shape=(64, 128), pad_shape=(64, 128),
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        got = slide.inference(inputs, [meta])
        whole = joint.inference(inputs, [meta])
        # three crops at x = 0, 32, 64, averaged where they overlap
        sums = {k: torch.zeros_like(v) for k, v in got.items()}
        count = torch.zeros(1, 1, 64, 128)
        for x1 in (0, 32, 64):
            crop = joint.encode_decode(inputs[..., x1:x1 + 64],
                                       [dict(meta, img_shape=torch.Size((64, 64)))])
            for k in sums:
                sums[k][..., x1:x1 + 64] += crop[k]
            count[..., x1:x1 + 64] += 1
    for k in ('seg', 'depth'):
        assert torch.allclose(got[k], sums[k] / count, atol=1e-5)
        assert not torch.allclose(got[k], whole[k], atol=1e-3)
    assert meta['img_shape'] == (64, 128)  # caller's meta not modified


def test_flip_test_cfg_averages(joint):
    joint.eval()
    flip = copy.deepcopy(joint)
    flip.test_cfg = type(joint.test_cfg)(mode='whole', flip=True)
    inputs = batch(b=1)[0]
    meta = dict(ori_shape=(64, 64), img_shape=(64, 64), pad_shape=(64, 64))
    with torch.no_grad():
        a = joint.inference(inputs, [meta])
        b = joint.inference(inputs.flip(-1), [meta])
        got = flip.inference(inputs, [meta])
    for k in a:
        assert torch.allclose(got[k], (a[k] + b[k].flip(-1)) / 2, atol=1e-5)


def test_sgd_steps_reduce_both_losses():
    model = build_model(tiny_cfg(), seed=1).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    inputs, samples = batch(seed=2)
    history = []
    for _ in range(10):
        losses = model.loss(inputs, samples)
        history.append((losses['decode.loss_ce'].item(), losses['depth.loss_silog'].item()))
        opt.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        opt.step()
    assert history[-1][0] < 0.75 * history[0][0], history
    assert history[-1][1] < 0.75 * history[0][1], history


def test_train_and_val_step_through_data_preprocessor():
    # Use the package's SegDepthDataPreProcessor when it exists, else mmseg's
    # SegDataPreProcessor (pads depth with 255, which DepthHead ignores as
    # beyond max_depth).
    pre = 'SegDepthDataPreProcessor' if 'SegDepthDataPreProcessor' in MODELS else \
        'SegDataPreProcessor'
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg['data_preprocessor'] = dict(cfg['data_preprocessor'], type=pre, size_divisor=32)
    model = build_model(cfg)
    from mmengine.optim import OptimWrapper
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    imgs, samples = [], []
    for h, w in [(60, 50), (64, 64)]:
        imgs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        ds = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        ds.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, h, w)))
        ds.gt_depth_map = PixelData(data=torch.rand(1, h, w) * 20 + 1)
        samples.append(ds)
    log = model.train_step(dict(inputs=imgs, data_samples=samples), wrapper)
    assert {'loss', 'decode.loss_ce', 'depth.loss_silog'} <= set(log)
    assert all(torch.isfinite(v) for v in log.values())
    model.eval()
    val_samples = [SegDataSample(metainfo=dict(img_shape=(60, 50), ori_shape=(120, 100)))]
    out = model.val_step(dict(inputs=[imgs[0]], data_samples=val_samples))[0]
    assert out.pred_depth_map.shape == (120, 100) and out.pred_sem_seg.shape == (120, 100)


def r50_cfg(attention=CCAM):
    """The reference R50 model (configs/_base_/models/ccam_r50.py) with BN for CPU."""
    norm = dict(type='BN', requires_grad=True)
    return dict(
        type='SegDepthEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
            size=(512, 1024)),
        backbone=dict(
            type='ResNetV1c', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
            dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm, norm_eval=False,
            style='pytorch', contract_dilation=True),
        neck=dict(type='CCAMNeck', in_channels=[256, 512, 1024, 2048], levels=(0, 3),
                  norm_cfg=norm, attention=attention),
        decode_head=dict(
            type='DepthwiseSeparableASPPHead', in_channels=2048, in_index=3, channels=512,
            dilations=(1, 12, 24, 36), c1_in_channels=256, c1_channels=48, dropout_ratio=0.1,
            num_classes=19, norm_cfg=norm, align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        depth_head=dict(
            type='DepthHead', in_channels=2048, in_index=3, channels=512,
            dilations=(1, 12, 24, 36), c1_in_channels=256, c1_channels=48, norm_cfg=norm,
            align_corners=False, min_depth=0.1, max_depth=80.0,
            depth_mapping='inverse_sigmoid', init_depth=10.0,
            loss_decode=dict(type='SiLogLoss')),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def test_r50_reference_model_params_and_forward():
    models, n = {}, {}
    for name, att in [('base', None), ('ccam', CCAM)]:
        models[name] = MODELS.build(r50_cfg(att))
        n[name] = sum(p.numel() for p in models[name].parameters())
    assert 0 < n['ccam'] - n['base'] <= 16
    assert n['ccam'] - n['base'] == 4  # 2 scalars x 2 levels
    del models['base']
    ccam = models['ccam'].eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = ccam(torch.randn(1, 3, 256, 512), mode='tensor')
    assert out['seg'].shape == (1, 19, 64, 128) and out['depth'].shape == (1, 1, 64, 128)
    assert out['depth'].min() >= 0.1 and out['depth'].max() <= 80.0
    # (speed is measured by tools/analysis_tools/benchmark.py, not asserted here: a wall-clock
    # bound fails on a loaded machine)
