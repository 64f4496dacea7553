"""The printed tables of a benchmark result (Markdown).

Part of :mod:`mmseg_ccam.analysis.benchmark`."""
from typing import Dict, Optional

from .semi import AUGMENT_RANGES, EMA_RANGE
from .targets import CCAM_OVERHEAD_MAX, PARAMS_RATIO_MAX, SPEEDUP_TOLERANCE

__all__ = [
    'format_flops_breakdown', 'format_ratios', 'format_semi', 'format_variants', 'report'
]


def format_variants(variants: Dict[str, dict]) -> str:
    lines = ['| variant | params M | GFLOPs | latency ms | train step ms | peak mem MB |',
             '| :--- | ---: | ---: | ---: | ---: | ---: |']
    for name, v in variants.items():
        lines.append(f"| {name} | {v['params'] / 1e6:.3f} | {v['flops'] / 1e9:.2f} "
                     f"| {v['latency_ms']:.1f} | {v['train_step_ms']:.1f} "
                     f"| {v['peak_mem_mb']:.0f} |")
    return '\n'.join(lines)


def _met(flag: Optional[bool]) -> str:
    return '-' if flag is None else ('met' if flag else 'NOT met')


def format_ratios(r: dict) -> str:
    """The ratio table: measured value, FLOP-ideal value, target, met / not met."""
    keep = 1 - SPEEDUP_TOLERANCE
    ideal = r['flop_ideal_speedup']
    rows = [
        ('speed-up (seg + depth) / joint, latency', f"{r['latency_speedup']:.3f}",
         f'{ideal:.3f}', f'>= {keep:.2f} x ideal = {keep * ideal:.3f}',
         _met(r['latency_speedup_met'])),
        ('speed-up (seg + depth) / joint, train step', f"{r['train_step_speedup']:.3f}",
         f'{ideal:.3f}', f'>= {keep:.2f} x ideal = {keep * ideal:.3f}',
         _met(r['train_step_speedup_met'])),
        ('params joint / (seg + depth)', f"{r['params_ratio']:.3f}", '-',
         f'<= {PARAMS_RATIO_MAX}', _met(r['params_met'])),
        ('CCAM overhead joint / no_attention - 1, latency',
         f"{r['ccam_latency_overhead']:+.1%}", f"{r['ccam_flop_overhead']:+.1%}",
         f'<= {CCAM_OVERHEAD_MAX:.0%}', _met(r['ccam_overhead_met'])),
        ('CCAM overhead joint / no_attention - 1, train step',
         f"{r['ccam_train_step_overhead']:+.1%}", f"{r['ccam_flop_overhead']:+.1%}",
         '(info)', '-'),
    ]
    if 'flop_ideal_speedup_without_neck' in r:
        no_neck = r['flop_ideal_speedup_without_neck']
        rows.append(('latency speed-up vs no-neck ideal 2(B+H)/(B+2H)',
                     f"{r['latency_speedup']:.3f}", f'{no_neck:.3f}',
                     f'>= {keep:.2f} x {no_neck:.3f} = {keep * no_neck:.3f} (info)',
                     _met(r['latency_speedup_vs_no_neck_met'])))
    lines = ['| ratio | measured | FLOP-ideal | target | met |',
             '| :--- | ---: | ---: | :--- | :--- |']
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def format_flops_breakdown(variants: Dict[str, dict]) -> str:
    parts = (variants.get('joint') or {}).get('flops_by_module') or {}
    if not parts:
        return ''
    items = ', '.join(f'{k} {v / 1e9:.2f}' for k, v in parts.items())
    return f'joint GFLOPs by module: {items}'


def format_semi(semi: dict) -> str:
    lines = [f"semi-supervised step, batch {semi['batch']['labeled']} labeled + "
             f"{semi['batch']['unlabeled']} unlabeled (medians; parts from the record_function "
             f"ranges):",
             '| semi-supervised step part | ms | share of step |', '| :--- | ---: | ---: |']
    step = semi['step_ms']
    rows = [('step_ms', 'whole step (train_step + EMA update)')]
    for name in semi.get('ranges', []):
        part = name.split(':', 1)[1]
        info = '' if name in AUGMENT_RANGES or name == EMA_RANGE else ' (info)'
        rows.append((f'{part}_ms', f'{name}{info}'))
    for key, label in rows:
        lines.append(f'| {label} | {semi[key]:.1f} | {semi[key] / step:.1%} |')
    parts = semi['augment_ms'] + semi['ema_ms']
    lines.append(f'| augmentations + EMA | {parts:.1f} | {semi["share"]:.1%} |')
    lines.append(f"target: augmentations + EMA <= {semi['threshold']:.0%} of a semi-supervised "
                 f"step: {semi['share']:.1%} -> {_met(semi['met'])}")
    return '\n'.join(lines)


def report(result: dict) -> str:
    """The printed tables of a result."""
    m = result['machine']
    head = (f"config {result['config']} | device {result['device']} | shape "
            f"{result['shape'][0]}x{result['shape'][1]} | train batch {result['batch']} | "
            f"warm-up {result['warmup']}, repeat {result['repeat']}, train repeat "
            f"{result['train_repeat']} | amp {result['amp']} | "
            f"channels_last {result['channels_last']}\n"
            f"machine: {m.get('gpu', m['cpu'])}, {m['cores_available']} cores, "
            f"{m['torch_threads']} torch threads, torch {m['torch']}, {m['date']}, "
            f"load average {m.get('loadavg_start')} -> {m.get('loadavg_end')}")
    parts = [head]
    if result['variants']:
        parts += ['', format_variants(result['variants'])]
    breakdown = format_flops_breakdown(result['variants'])
    if breakdown:
        parts += ['', breakdown]
    if 'ratios' in result:
        parts += ['', format_ratios(result['ratios'])]
    if 'semi' in result:
        parts += ['', format_semi(result['semi'])]
    kinds = sorted({v['mem_kind'] for v in result['variants'].values()})
    parts += ['', f"mem_kind: {', '.join(kinds) or '-'}; wall time {result['wall_s']:.0f} s"]
    return '\n'.join(parts)
