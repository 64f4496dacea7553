"""CCAM neck: per-task adapters and cross-channel attention on selected backbone levels."""
from typing import Dict, List, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor

# Module-level defaults (copied before use) instead of dict literals in the
# signature: ``attention=None`` must stay available to mean "no exchange".
DEFAULT_NORM_CFG = dict(type='BN')
DEFAULT_ACT_CFG = dict(type='ReLU')
DEFAULT_ATTENTION = dict(type='CrossChannelAttention')


def _normalise_levels(levels: Sequence[int], num_levels: int) -> Tuple[int, ...]:
    """Turn ``levels`` (negative indices allowed) into sorted unique indices."""
    out = []
    for level in levels:
        if not isinstance(level, int) or not -num_levels <= level < num_levels:
            raise ValueError(f'CCAMNeck: level {level!r} in `levels` is not an index into '
                             f'`in_channels` (which has {num_levels} levels).')
        out.append(level % num_levels)
    if len(set(out)) != len(out):
        raise ValueError(f'CCAMNeck: `levels` {tuple(levels)} names a level twice.')
    return tuple(sorted(out))


@MODELS.register_module()
class CCAMNeck(BaseModule):
    """Split shared backbone features into a segmentation and a depth branch.

    At every level in ``levels`` each task gets its own adapter
    (``ConvModule``: conv ``kernel_size`` x ``kernel_size`` + norm + act) and the
    two adapted maps exchange information through ``attention`` (by default a
    :class:`CrossChannelAttention`, two scalars per level). All other levels
    pass through unchanged and shared: the *same* tensor object appears in
    both output tuples. With ``attention=None`` the neck is the no-CCAM
    baseline: same adapters, no exchange, exactly ``2 * len(levels)`` fewer
    parameters.

    Because each output is a tuple shaped like the backbone's, any
    MMSegmentation decode head can read either branch; set the heads'
    ``in_channels`` from :attr:`out_channels`.

    Args:
        in_channels (Sequence[int]): Channels of each backbone level.
        levels (Sequence[int]): Indices of the levels where the tasks are
            split and exchange information. Negative indices count from the
            end. Defaults to (0, 3) (low-level and deep features of a ResNet).
        adapter_channels (int | Sequence[int] | None): Output channels of the
            adapters: one int for all exchange levels, a sequence with one
            entry per element of ``levels`` (in the order given), or None to
            keep each level's input channels. Defaults to None.
        kernel_size (int): Kernel size of the adapter convs. Defaults to 3.
        depthwise (bool): Make the adapters depthwise convs (``groups`` = channels): a light
            per-channel filter whose cost does not grow with C^2, so a 2048-channel level costs
            ~2 * 9 * 2048 parameters instead of ~2 * 9 * 2048^2. Needs the adapters to keep the
            input channels (``adapter_channels`` None or equal). Defaults to False.
        conv_cfg (dict | None): Conv config of the adapters. Defaults to None.
        norm_cfg (dict | None): Norm config of the adapters.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict | None): Activation config of the adapters.
            Defaults to ``dict(type='ReLU')``.
        attention (dict | None): Config of the exchange module, called as
            ``attention(x_s, x_d) -> (y_s, y_d)``; None disables the exchange.
            Defaults to ``dict(type='CrossChannelAttention')``.
        init_cfg (dict | list[dict] | None): Initialization config.

    Attributes:
        out_channels (list[int]): Output channels per level, identical for the
            segmentation and the depth tuple: ``adapter_channels`` at exchange
            levels, ``in_channels`` elsewhere.
        task_split (bool): Always True; tells :class:`SegDepthEncoderDecoder`
            that ``forward`` returns ``(seg_feats, depth_feats)``.

    Shapes:
        - inputs: tuple of L tensors (B, in_channels[i], H_i, W_i).
        - outputs: ``(seg_feats, depth_feats)``, two tuples of L tensors
          (B, out_channels[i], H_i, W_i).
    """

    task_split = True

    def __init__(self,
                 in_channels: Sequence[int],
                 levels: Sequence[int] = (0, 3),
                 adapter_channels: Union[int, Sequence[int], None] = None,
                 kernel_size: int = 3,
                 depthwise: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = DEFAULT_NORM_CFG,
                 act_cfg: OptConfigType = DEFAULT_ACT_CFG,
                 attention: OptConfigType = DEFAULT_ATTENTION,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int) or len(in_channels) == 0:
            raise ValueError('CCAMNeck: `in_channels` must be a non-empty list with the channels '
                             f'of every backbone level, got {in_channels!r}.')
        self.in_channels = list(in_channels)
        self.levels = _normalise_levels(levels, len(self.in_channels))
        given_levels = [lv % len(self.in_channels) for lv in levels]

        if adapter_channels is None:
            per_level = {lv: self.in_channels[lv] for lv in self.levels}
        elif isinstance(adapter_channels, int):
            per_level = {lv: adapter_channels for lv in self.levels}
        else:
            if len(adapter_channels) != len(given_levels):
                raise ValueError(
                    f'CCAMNeck: `adapter_channels` has {len(adapter_channels)} entries but '
                    f'`levels` has {len(given_levels)}; give one entry per exchange level, one '
                    'int for all, or None to keep the input channels.')
            per_level = dict(zip(given_levels, adapter_channels))

        self.out_channels: List[int] = [
            per_level.get(i, c) for i, c in enumerate(self.in_channels)
        ]
        if depthwise:
            changed = [lv for lv in self.levels if self.out_channels[lv] != self.in_channels[lv]]
            if changed:
                raise ValueError(
                    f'CCAMNeck: depthwise adapters keep the channels, but `adapter_channels` '
                    f'changes them at level(s) {changed}; set adapter_channels=None or '
                    'depthwise=False.')
        self.depthwise = depthwise
        self.seg_adapters = nn.ModuleList()
        self.depth_adapters = nn.ModuleList()
        self.attentions = nn.ModuleList() if attention is not None else None
        for lv in self.levels:
            for adapters in (self.seg_adapters, self.depth_adapters):
                adapters.append(
                    ConvModule(
                        self.in_channels[lv],
                        self.out_channels[lv],
                        kernel_size,
                        padding=kernel_size // 2,
                        groups=self.in_channels[lv] if depthwise else 1,
                        conv_cfg=conv_cfg,
                        norm_cfg=dict(norm_cfg) if norm_cfg is not None else None,
                        act_cfg=dict(act_cfg) if act_cfg is not None else None))
            if self.attentions is not None:
                self.attentions.append(MODELS.build(dict(attention)))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """Return ``(seg_feats, depth_feats)`` for the backbone features."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'CCAMNeck was built for {len(self.in_channels)} backbone levels '
                             f'(in_channels={self.in_channels}) but got {len(inputs)}; check the '
                             "backbone's out_indices.")
        seg_feats = list(inputs)
        depth_feats = list(inputs)
        for k, lv in enumerate(self.levels):
            x = inputs[lv]
            if x.shape[1] != self.in_channels[lv]:
                raise ValueError(f'CCAMNeck: level {lv} has {x.shape[1]} channels, expected '
                                 f'in_channels[{lv}] = {self.in_channels[lv]}.')
            x_s = self.seg_adapters[k](x)
            x_d = self.depth_adapters[k](x)
            if self.attentions is not None:
                x_s, x_d = self.attentions[k](x_s, x_d)
            seg_feats[lv] = x_s
            depth_feats[lv] = x_d
        return tuple(seg_feats), tuple(depth_feats)

    def diagnostics(self) -> Dict[str, Tensor]:
        """``{name}.l{level}`` scalars of every exchange level's attention (its
        ``diagnostics()``: gammas and the attention row entropies of the last training
        forward), for logging; empty without attention (an attention module without a
        ``diagnostics`` method adds nothing)."""
        if self.attentions is None:
            return {}
        out = {}
        for level, att in zip(self.levels, self.attentions):
            if hasattr(att, 'diagnostics'):
                out.update({f'{name}.l{level}': v for name, v in att.diagnostics().items()})
        return out
