"""ONNX export of ``SegDepthEncoderDecoder`` in ``mode='tensor'`` and an onnxruntime check.

The graph is the model's ``forward(inputs, mode='tensor')``: the input is the batch the data
preprocessor gives (float32 (B, 3, H, W), RGB if the config sets ``bgr_to_rgb``, normalised by
``mean``/``std``; the values are stored in the ONNX metadata), the outputs are the heads' raw
``forward``: ``seg`` (B, K, h, w) class logits and ``depth`` (B, 1, h, w) metric depth in
metres, at the heads' feature resolution (the decoder's output stride). Resizing to the image
and the argmax are left to the caller, as in MMSegmentation's ``mode='tensor'``.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``):
it needs only ``onnx`` (the dynamo exporter also needs ``onnxscript``), and it handles every
operation of the shipped backbones, necks and heads (see ``docs/model_zoo.md``).
"""
import json
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

OUTPUT_NAMES = ('seg', 'depth')


class SegDepthTensorWrapper(nn.Module):
    """``model(inputs, mode='tensor')`` as a module with a tuple output (ONNX needs one).

    Args:
        model (nn.Module): A segmentor whose ``mode='tensor'`` returns ``dict(seg=...,
            depth=...)`` (either key may be missing for a single-task model) or a tensor
            (a plain mmseg segmentor: segmentation logits).

    Attributes:
        output_names (tuple[str]): Names of the outputs, in order.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.output_names = tuple(
            name for name in OUTPUT_NAMES
            if name == 'seg' and getattr(model, 'decode_head', None) is not None
            or name == 'depth' and getattr(model, 'depth_head', None) is not None)
        if not self.output_names:
            hint = (' It is a mean-teacher model: export its teacher or student '
                    '(select_export_model; pytorch2onnx.py --member teacher|student).'
                    if hasattr(model, 'teacher') else '')
            raise ValueError(f'{type(model).__name__} has neither a decode_head nor a '
                             f'depth_head: nothing to export.{hint}')

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        out = self.model(inputs, mode='tensor')
        if isinstance(out, Tensor):
            return (out, )
        return tuple(out[name] for name in self.output_names)


def select_export_model(model: nn.Module, member: str = 'teacher') -> Tuple[nn.Module, str]:
    """The segmentor to export: ``model`` itself, or for a mean-teacher model
    (``MeanTeacherSegDepth``: a ``teacher`` and a ``student`` segmentor) the one named by
    ``member``; the teacher is what the semi-supervised runs evaluate and report.

    Args:
        model (nn.Module): From ``mmseg_ccam.apis.init_model``.
        member (str): ``'teacher'`` (default) or ``'student'``; ignored for a plain segmentor.

    Returns:
        tuple: The module to export (with the model's ``dataset_meta``) and a description,
        e.g. ``'the teacher of MeanTeacherSegDepth'``.
    """
    if member not in ('teacher', 'student'):
        raise ValueError(f"member must be 'teacher' or 'student', got {member!r}.")
    inner = getattr(model, member, None)
    if isinstance(inner, nn.Module) and getattr(model, 'student', None) is not None:
        inner.dataset_meta = getattr(model, 'dataset_meta', None)
        return inner.eval(), f'the {member} of {type(model).__name__}'
    return model, type(model).__name__


def onnx_preprocessing_meta(model: nn.Module) -> Dict[str, str]:
    """What the caller must do to an image before the graph, and what comes out, as ONNX
    metadata strings: ``mean``, ``std`` (JSON lists), ``bgr_to_rgb``, ``outputs``,
    ``classes``."""
    pre = getattr(model, 'data_preprocessor', None)
    meta = dict(producer='mmseg_ccam', outputs=json.dumps(
        dict(seg='(B, K, h, w) class logits', depth='(B, 1, h, w) depth in metres')))
    if pre is not None and getattr(pre, '_enable_normalize', False):
        meta['mean'] = json.dumps([float(v) for v in pre.mean.flatten()])
        meta['std'] = json.dumps([float(v) for v in pre.std.flatten()])
    if pre is not None:
        meta['bgr_to_rgb'] = json.dumps(bool(getattr(pre, 'channel_conversion', False)))
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes:
        meta['classes'] = json.dumps(list(classes))
    return meta


def export_onnx(model: nn.Module,
                out_file: str,
                shape: Sequence[int],
                dynamic: bool = False,
                opset_version: int = 17,
                batch_size: int = 1) -> List[str]:
    """Export ``model`` (``mode='tensor'``) to ONNX.

    Args:
        model (nn.Module): Segmentor in eval mode (e.g. from ``mmseg_ccam.apis.init_model``;
            SyncBN already turned into BN).
        out_file (str): The ``.onnx`` file to write.
        shape (sequence[int]): ``(H, W)`` of the example input.
        dynamic (bool): Batch size, height and width are dynamic axes of the graph.
        opset_version (int): ONNX opset. Defaults to 17.
        batch_size (int): Batch size of the example input. Defaults to 1.

    Returns:
        list[str]: The output names, in order (``seg`` and/or ``depth``).
    """
    import onnx

    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'shape must be (H, W) with positive sizes, got {tuple(shape)}.')
    if model.training:
        raise ValueError('export_onnx: put the model in eval mode first (model.eval()); '
                         'BatchNorm would otherwise use batch statistics.')
    wrapper = SegDepthTensorWrapper(model).eval()
    dummy = torch.zeros(batch_size, 3, *shape)
    names = list(wrapper.output_names)
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        dynamic_axes.update({n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} for n in names})
    with warnings.catch_warnings():
        # Tracer warnings about Python-side shape checks (e.g. "converting a tensor to a
        # Python boolean") concern asserts that hold for the traced input.
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='.*legacy TorchScript-based ONNX export.*')
        with torch.no_grad():
            torch.onnx.export(wrapper, (dummy, ), out_file, input_names=['input'],
                              output_names=names, dynamic_axes=dynamic_axes,
                              opset_version=opset_version, do_constant_folding=True,
                              dynamo=False)
    graph = onnx.load(out_file)
    onnx.checker.check_model(graph)
    for key, value in onnx_preprocessing_meta(model).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, out_file)
    return names


def check_onnx(model: nn.Module,
               onnx_file: str,
               shapes: Sequence[Sequence[int]],
               batch_size: int = 1,
               seed: int = 0) -> List[Dict[str, float]]:
    """Run the ONNX graph with onnxruntime (CPU) and the PyTorch model on the same inputs.

    Args:
        model (nn.Module): The exported model, in eval mode.
        onnx_file (str): The ``.onnx`` file.
        shapes (sequence[(H, W)]): Input sizes to check (a static graph accepts only the
            export size; a ``dynamic`` one any).
        batch_size (int): Batch size of the inputs. Defaults to 1.
        seed (int): Seed of the random (normalised-scale) inputs. Defaults to 0.

    Returns:
        list[dict]: Per shape: ``shape`` and, per output, ``<name>_max_abs_diff`` and
        ``<name>_max_abs`` (the largest PyTorch value, for scale).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    wrapper = SegDepthTensorWrapper(model).eval()
    names = [o.name for o in session.get_outputs()]
    generator = torch.Generator().manual_seed(seed)
    report = []
    for shape in shapes:
        inputs = torch.randn(batch_size, 3, *shape, generator=generator)
        with torch.no_grad():
            expected = wrapper(inputs)
        got = session.run(names, {session.get_inputs()[0].name: inputs.numpy()})
        row: Dict[str, object] = dict(shape=tuple(int(s) for s in shape))
        for name, ref, out in zip(names, expected, got):
            ref = ref.numpy()
            if ref.shape != out.shape:
                raise RuntimeError(f'ONNX output {name!r} has shape {out.shape}, PyTorch '
                                   f'{ref.shape}, for input {tuple(inputs.shape)}.')
            row[f'{name}_max_abs_diff'] = float(np.abs(ref - out).max())
            row[f'{name}_max_abs'] = float(np.abs(ref).max())
        report.append(row)
    return report


def default_check_shapes(shape: Sequence[int], dynamic: bool) -> List[Tuple[int, int]]:
    """The export size, plus for a dynamic graph a second size (3/2 of the height, 5/4 of the
    width, multiples of 32) far enough from the first that a size baked into the graph (a
    Python number computed from a traced shape) shows up as a difference."""
    h, w = int(shape[0]), int(shape[1])
    shapes = [(h, w)]
    if dynamic:
        shapes.append((max(32, round(1.5 * h / 32) * 32), max(32, round(1.25 * w / 32) * 32)))
    return shapes


def format_check(report: Sequence[Dict[str, float]], tolerance: Optional[float] = None) -> str:
    """A plain-text table of :func:`check_onnx`'s report."""
    lines = []
    for row in report:
        parts = [f'input {row["shape"][0]}x{row["shape"][1]}:']
        for key, value in row.items():
            if key.endswith('_max_abs_diff'):
                name = key[:-len('_max_abs_diff')]
                parts.append(f'{name} max |onnx - torch| = {value:.3g} '
                             f'(max |torch| = {row[name + "_max_abs"]:.3g})')
        lines.append('  '.join(parts))
    return '\n'.join(lines)


def worst_relative_diff(report: Sequence[Dict[str, float]]) -> float:
    """The largest ``max |onnx - torch| / max |torch|`` over the outputs and shapes of a
    :func:`check_onnx` report (relative to each output's scale: logits and metres differ)."""
    worst = 0.0
    for row in report:
        for key, value in row.items():
            if key.endswith('_max_abs_diff'):
                scale = row[key[:-len('_max_abs_diff')] + '_max_abs']
                worst = max(worst, value / max(scale, 1e-12))
    return worst
