"""ONNX export (mode='tensor': seg logits + metric depth) checked with onnxruntime."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT, load_script, tiny_ccam_cfg
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.deployment import (
    check_onnx,
    default_check_shapes,
    export_onnx,
    worst_relative_diff,
)

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')



def tiny_config() -> Config:
    """A loadable config (the CLI test dumps it) around conftest's 4-stage CCAM model."""
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    return Config(dict(
        custom_imports=dict(imports=['mmseg_ccam'], allow_failed_imports=False),
        default_scope='mmseg',
        model=tiny_ccam_cfg(num_classes=5, neck=dict(
            type='CCAMNeck', in_channels=[8, 16, 32, 64], levels=(0, 3),
            norm_cfg=dict(type='BN', requires_grad=True),
            attention=dict(type='CrossChannelAttention', energy='cosine'))),
        test_pipeline=test_pipeline,
        test_dataloader=dict(dataset=dict(type='CityscapesDepthDataset', data_root='none',
                                          pipeline=test_pipeline))))


def build_tiny(**model_overrides):
    cfg = tiny_config()
    cfg.merge_from_dict(model_overrides)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # attention switched on, non-trivial BN statistics
        for name, param in model.named_parameters():
            if name.split('.')[-1] in ('gamma_s', 'gamma_d'):
                param.fill_(0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return cfg, model.eval()


def test_static_export_matches_pytorch_and_stores_the_preprocessing(tmp_path):
    _, model = build_tiny()
    out = str(tmp_path / 'm.onnx')
    assert export_onnx(model, out, (64, 96)) == ['seg', 'depth']
    graph = onnx.load(out)
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta['mean']) == pytest.approx([123.675, 116.28, 103.53])
    assert json.loads(meta['std']) == pytest.approx([58.395, 57.12, 57.375])
    assert json.loads(meta['bgr_to_rgb']) is True

    # an independent run: onnxruntime on an input of our own vs model(mode='tensor')
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    seg, depth = session.run(['seg', 'depth'], {'input': x.numpy()})
    with torch.no_grad():
        ref = model(x, mode='tensor')
    assert seg.shape == tuple(ref['seg'].shape) == (1, 5, 2, 3)  # stride 32
    assert depth.shape == tuple(ref['depth'].shape)
    np.testing.assert_allclose(seg, ref['seg'].numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(depth, ref['depth'].numpy(), atol=1e-3, rtol=1e-4)
    assert float(ref['depth'].min()) >= 0.5  # metres, within the head's range

    report = check_onnx(model, out, [(64, 96)])
    assert report[0]['depth_max_abs_diff'] == pytest.approx(
        float(np.abs(depth - ref['depth'].numpy()).max()), abs=1e-3)
    assert worst_relative_diff(report) < 1e-4


def test_dynamic_export_runs_other_sizes_and_batches(tmp_path):
    _, model = build_tiny()
    out = str(tmp_path / 'm.onnx')
    export_onnx(model, out, (64, 96), dynamic=True)
    shapes = default_check_shapes((64, 96), dynamic=True)
    assert shapes == [(64, 96), (96, 128)]
    report = check_onnx(model, out, shapes, batch_size=2)
    assert [r['shape'] for r in report] == shapes
    assert worst_relative_diff(report) < 1e-4


def test_dynamic_export_of_the_shipped_dot_energy_model_follows_the_input_size(tmp_path):
    # DANet's energy divides by sqrt(H W): the trace must keep that size dynamic, or every
    # other size is scaled by the export size's factor (the shipped configs use this energy;
    # the trained checkpoint's attention is peaked enough for the error to show).
    from mmseg_ccam.apis import init_model
    model = init_model(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity.py'),
                       osp.join(ROOT, 'checkpoints/ccam_r18_synthcity.pth'), device='cpu')
    out = str(tmp_path / 'dot.onnx')
    export_onnx(model, out, (64, 128), dynamic=True)
    report = check_onnx(model, out, [(64, 128), (96, 192)])
    assert worst_relative_diff(report) < 1e-3


def test_single_task_models_export_their_one_output(tmp_path):
    _, model = build_tiny(model=dict(depth_head=None))
    out = str(tmp_path / 'seg.onnx')
    assert export_onnx(model, out, (64, 64)) == ['seg']
    assert [o.name for o in onnx.load(out).graph.output] == ['seg']
    assert worst_relative_diff(check_onnx(model, out, [(64, 64)])) < 1e-4


class _BakedSize(torch.nn.Module):
    """Divides by sqrt(H*W) computed in Python: the tracer stores the export size."""
    depth_head = True

    def forward(self, inputs, mode='tensor'):
        n = inputs.shape[2] * inputs.shape[3]
        return dict(depth=inputs.mean(1, keepdim=True) * 100 / math.sqrt(n))


def test_check_at_a_second_size_catches_a_size_baked_into_a_dynamic_graph(tmp_path):
    out = str(tmp_path / 'baked.onnx')
    model = _BakedSize().eval()
    export_onnx(model, out, (32, 32), dynamic=True)
    report = check_onnx(model, out, default_check_shapes((32, 32), dynamic=True))
    assert report[0]['depth_max_abs_diff'] < 1e-5
    # sqrt(32*32) baked in instead of sqrt(64*64): the output is 2x off
    assert worst_relative_diff(report) > 0.4


def test_export_refuses_train_mode_and_bad_shapes(tmp_path):
    _, model = build_tiny()
    with pytest.raises(ValueError, match='eval mode'):
        export_onnx(model.train(), str(tmp_path / 'm.onnx'), (64, 64))
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        export_onnx(model.eval(), str(tmp_path / 'm.onnx'), (64, ))


def test_pytorch2onnx_cli(tmp_path, capsys):
    cfg, model = build_tiny()
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    ckpt = str(tmp_path / 'tiny.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    out, report = tmp_path / 'm.onnx', tmp_path / 'check.json'
    tool = load_script('tools/deployment/pytorch2onnx.py')
    rc = tool.main([config, ckpt, '--shape', '64', '96', '--out', str(out), '--dynamic',
                    '--json', str(report)])
    printed = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    rows = json.loads(report.read_text())
    assert [tuple(r['shape']) for r in rows] == [(64, 96), (96, 128)]
    assert 'seg max |onnx - torch|' in printed and 'check passed' in printed
    # the loaded checkpoint is what was exported: onnxruntime reproduces the saved weights
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x, mode='tensor')['seg'].numpy()
    np.testing.assert_allclose(session.run(['seg'], {'input': x.numpy()})[0], ref, atol=1e-5,
                               rtol=1e-4)
