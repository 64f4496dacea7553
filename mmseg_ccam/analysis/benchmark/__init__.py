"""Cost of the joint CCAM model next to its ablations and single-task baselines, side by side.

The variants are config files, measured in one run so that their ratios are not distorted by a
machine whose load changes between runs:

- ``joint``: ``CONFIG`` (backbone -> CCAM neck -> segmentation + depth heads);
- ``no_attention``: ``--no-attention`` (default: ``<CONFIG stem>_no-ccam.py`` next to it, e.g.
  ``configs/ccam/ccam_r50_cityscapes_no-ccam.py``: adapters kept, no exchange);
- ``seg_only`` / ``depth_only``: ``--seg-only`` / ``--depth-only`` (default
  ``<stem>_seg-only.py`` / ``<stem>_depth-only.py``: one head, no neck).

Each variant file is checked to be what its name says (e.g. ``seg_only`` has a ``decode_head``
and no ``depth_head``). For a ``MeanTeacherSegDepth`` config the ``joint`` variant is its student
(``model.segmentor``); variants without a config file are left out (the ratios need all four).

Per variant: ``params`` (count), ``flops`` (MMEngine's :class:`~mmengine.analysis.FlopAnalyzer`
on the ``mode='tensor'`` forward at ``--shape``, batch 1; like fvcore it counts one multiply-add
as one flop), ``latency_ms`` (median of ``--repeat`` inference forwards ``model(x,
mode='tensor')``, eval mode, ``torch.no_grad``), ``train_step_ms`` (median of ``--train-repeat``
full ``model.train_step`` calls: forward with losses, backward and optimizer step through an
``OptimWrapper`` built from the variant's ``optim_wrapper``, on a synthetic batch of ``--batch``
samples with ``gt_sem_seg`` and ``gt_depth_map``) and ``peak_mem_mb``
(:class:`mmseg_ccam.utils.benchmarking.PeakMemory`; the JSON says which kind in ``mem_kind``).
Pretrained weights are never loaded (``init_weights`` is not called) and SyncBN is converted to
BN (single process).

Order of work: each variant is built, its FLOPs counted, its ``--warmup`` forwards and
``max(--warmup, 1)`` train steps run while its peak memory is recorded; then all variants are
timed round-robin (one call of each per round; ``--repeat`` rounds of forwards, then
``--train-repeat`` rounds of train steps), so that a change of the machine's load hits all four
alike. CUDA is synchronised around every timed call.

Then the cost targets of the joint design (``docs/benchmarks.md``), each next to the ideal the
measured FLOPs allow:

- speed-up of the joint model over running both single-task models,
  ``(t_seg + t_depth) / t_joint``, for latency and train step; target: within 5 % of the
  FLOP-ideal speed-up ``(F_seg + F_depth) / F_joint``;
- parameters ``P_joint / (P_seg + P_depth)``; target <= 0.72;
- CCAM overhead ``t_joint / t_no_attention - 1`` (latency); target <= 3 %.

For a ``MeanTeacherSegDepth`` config (or any config with ``--semi``) it also profiles
semi-supervised steps (``train_step`` + the ``MeanTeacherHook`` EMA update) and reads the time
of each part from the ``torch.profiler.record_function`` ranges the model and hook mark
(``ccam:teacher``, ``ccam:affine_mix``, ``ccam:strong_aug``, ``ccam:color_aug``,
``ccam:student``, ``ccam:ema``);
target: augmentations + EMA <= 5 % of the step.

The command line is ``tools/analysis_tools/benchmark.py`` (see ``docs/benchmarks.md``);
:func:`run_benchmark` returns what it writes as JSON and :func:`report` what it prints.

Modules, one job each: :mod:`.variants` (which config is which variant, checked),
:mod:`.measure` (parameters, FLOPs, memory, timed callables), :mod:`.targets` (the cost targets
and ratios), :mod:`.semi` (the profiled semi-supervised step), :mod:`.run` (one run),
:mod:`.report` (the printed tables).
"""
from .measure import (
    DEFAULT_COUNTS,
    IGNORE_INDEX,
    autocast,
    count_flops,
    count_params,
    latency_call,
    make_optim_wrapper,
    prepare_variant,
    synthetic_batch,
    train_step_call,
)
from .report import (
    format_flops_breakdown,
    format_ratios,
    format_semi,
    format_variants,
    report,
)
from .run import (
    FIELDS,
    run_benchmark,
)
from .semi import (
    AUGMENT_RANGES,
    EMA_RANGE,
    semi_breakdown,
)
from .targets import (
    CCAM_OVERHEAD_MAX,
    PARAMS_RATIO_MAX,
    SEMI_SHARE_MAX,
    SPEEDUP_TOLERANCE,
    compute_ratios,
)
from .variants import (
    VARIANT_SUFFIXES,
    VARIANTS,
    build_model,
    check_variant,
    fixed_input_size,
    is_mean_teacher,
    load_config,
    segmentor_cfg,
    variant_model_cfg,
    variant_paths,
    without_pretrained,
)

__all__ = [
    'AUGMENT_RANGES', 'CCAM_OVERHEAD_MAX', 'DEFAULT_COUNTS', 'EMA_RANGE', 'FIELDS', 'IGNORE_INDEX',
    'PARAMS_RATIO_MAX', 'SEMI_SHARE_MAX', 'SPEEDUP_TOLERANCE', 'VARIANTS', 'VARIANT_SUFFIXES',
    'autocast', 'build_model', 'check_variant', 'compute_ratios', 'count_flops', 'count_params',
    'fixed_input_size', 'format_flops_breakdown', 'format_ratios', 'format_semi',
    'format_variants', 'is_mean_teacher', 'latency_call', 'load_config', 'make_optim_wrapper',
    'prepare_variant', 'report', 'run_benchmark', 'segmentor_cfg', 'semi_breakdown',
    'synthetic_batch', 'train_step_call', 'variant_model_cfg', 'variant_paths',
    'without_pretrained'
]
