"""Seeds each primary comparison needs under the Holm-t rule (``ablation.py --power``).
"""
import os.path as osp
from typing import Dict, Optional

from mmseg_ccam.analysis import statistics as stats

from .decisions import report_rows, scipy_alternative
from .protocol import class_pixels, frequent_classes
from .report import format_value
from .results import load_evidence

__all__ = ['power_report']

def power_report(proto: dict, evidence_dir: Optional[str] = None,
                 paired_sd: Optional[Dict[str, float]] = None,
                 effects: Optional[Dict[str, float]] = None, power: float = 0.8) -> str:
    """Seeds per primary comparison for ``power`` under the protocol's Holm-t rule.

    Each primary comparison (its ``primary`` metric; every metric where it names none) is sized
    as one test at ``alpha / m`` — m the number of primary comparisons, i.e. the threshold of
    the strictest (first) step of Holm's procedure — so it keeps the power whatever its rank;
    one-sided where the comparison (or the protocol's ``audit``) states a direction. The paired
    SD comes from ``paired_sd`` (keyed by comparison name, else by metric) or, when that has no
    entry, from the runs under ``evidence_dir`` (the sample SD of the per-seed differences);
    the smallest effect of interest from ``effects`` (same keys), else the comparison's
    ``sesoi``.

    Returns:
        str: a Markdown table per comparison and the seed count each arm needs (the largest
        over its comparisons, since a pair needs both arms).
    """
    paired_sd, effects = paired_sd or {}, effects or {}
    alpha = proto['alpha'] if proto['rule'] == 'holm-t' else proto.get('audit', {}).get(
        'alpha', proto['alpha'])
    default = None if proto['rule'] == 'holm-t' else proto.get('audit', {}).get('direction')
    family = [(comp, m) for comp in proto['comparisons'] if not comp.get('secondary')
              for m in comp['metrics'] if m == comp.get('primary', m)]
    if not family:
        raise ValueError('The protocol has no primary comparison (every one is "secondary").')
    observed = {}
    if any(comp['name'] not in paired_sd and m not in paired_sd for comp, m in family):
        if evidence_dir is None or not osp.isdir(osp.join(evidence_dir, 'runs')):
            raise ValueError('--paired-sd gives no SD for some primary comparisons and there are '
                             'no runs to estimate it from; give --paired-sd METRIC=SD (e.g. '
                             'mIoU=1.1 abs_rel=0.03) or COMPARISON NAME=SD.')
        pixels = class_pixels(proto)
        frequent = frequent_classes(pixels, proto.get('frequent_class_fraction', 0.01)) \
            if pixels is not None else None
        rows = report_rows(proto, load_evidence(evidence_dir, proto, frequent))
        observed = {(r.comp['name'], r.metric): r.res['sd'] for r in rows}
    m = len(family)
    level = alpha / m
    lines = [f'Seeds for {100 * power:g} % power: paired t-test per primary comparison at '
             f'α = {alpha:g} / {m} = {level:.5f} (the first, strictest step of Holm\'s '
             f'procedure over the {m} primary comparisons, so the power holds at any rank).', '',
             '| comparison | primary metric | test | smallest effect | paired SD | SD from | '
             'seeds | power at that count |',
             '| :--- | :--- | :--- | ---: | ---: | :--- | ---: | ---: |']
    need: Dict[str, int] = {}
    for comp, metric in family:
        name = comp['name']
        effect = effects.get(name, effects.get(metric, comp.get('sesoi')))
        if effect is None:
            raise ValueError(f'Comparison {name!r}: no smallest effect of interest; give '
                             f'--effect {metric}=VALUE or a "sesoi" in the protocol.')
        sd, source = paired_sd.get(name, paired_sd.get(metric)), '--paired-sd'
        if sd is None:
            sd, source = observed.get((name, metric)), 'runs'
            if sd is None:
                raise ValueError(f'Comparison {name!r} ({metric}): fewer than 2 pairs in '
                                 f'{evidence_dir}; give --paired-sd "{name}=SD" or '
                                 f'{metric}=SD.')
        direction = comp.get('direction', default or 'two-sided')
        alternative = scipy_alternative(direction, metric)
        effect_signed = effect if alternative != 'less' else -effect
        if not sd > 0:
            raise ValueError(f'Comparison {name!r} ({metric}): paired SD {sd} from {source}; '
                             'a power calculation needs a positive SD (give --paired-sd).')
        n = stats.seeds_for_power(sd, effect_signed, level, power, alternative)
        achieved = None if n is None else stats.paired_power(n, sd, effect, level, alternative)
        for arm in (comp['treatment'], comp['control']):
            need[arm] = max(need.get(arm, 0), n if n is not None else 10 ** 9)
        test = 'two-sided' if alternative == 'two-sided' else f'one-sided ({direction})'
        lines.append(f'| {name} | {metric} | {test} | {format_value(effect, metric)} | '
                     f'{format_value(sd, metric)} | {source} | '
                     f'{n if n is not None else "> 10000"} | '
                     f'{"—" if achieved is None else f"{achieved:.3f}"} |')
    lines += ['', 'Seeds per arm (the largest count over its primary comparisons): ' + ', '.join(
        f'`{a}` {n if n < 10 ** 9 else "> 10000"}' for a, n in need.items()) + '.']
    return '\n'.join(lines) + '\n'
