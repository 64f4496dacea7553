"""The decisions on the comparisons: one row per comparison and metric, and the Holm-t
rule (protocol v2, or the post-hoc audit of v1) across them.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from mmseg_ccam.analysis import statistics as stats

from .protocol import lower_is_better
from .results import metric_value, paired

__all__ = ['scipy_alternative', 'ReportRow', 'report_rows', 'holm_t_decisions']

def scipy_alternative(direction: str, metric: str) -> str:
    """SciPy's ``alternative`` (on treatment − control) of a ``direction`` on ``metric``."""
    if direction == 'two-sided':
        return 'two-sided'
    rises = not lower_is_better(metric)  # a better treatment raises this metric
    return 'greater' if rises == (direction == 'better') else 'less'


def _mirror(alternative: str) -> str:
    return {'greater': 'less', 'less': 'greater'}.get(alternative, alternative)


def _p(p: float) -> str:
    return '< 0.0001' if p < 1e-4 else f'{p:.4f}'


def _t(t: float) -> str:
    return ('+∞' if t > 0 else '−∞') if math.isinf(t) else 'nan' if math.isnan(t) else f'{t:.2f}'


@dataclass
class ReportRow:
    """One (comparison, metric) row of the report and everything its decision needs."""
    comp: dict
    metric: str
    treatment: Dict[int, float]
    control: Dict[int, float]
    res: dict  # paired(): mean, se and the 2-SE decision
    test: Optional[stats.PairedT]  # two-sided paired t (None with fewer than 2 pairs)
    preregistered: List[int]  # the pairs among both arms' pre-registered seeds
    planned: int  # seeds the protocol gives both arms

    @property
    def family(self) -> bool:
        """In the family of primary comparisons: not secondary, and the comparison's
        ``primary`` metric (every metric where the comparison names none, as in v1)."""
        return not self.comp.get('secondary') and \
            self.metric == self.comp.get('primary', self.metric)


def report_rows(proto: dict, ev: Dict[str, Dict[int, dict]]) -> List[ReportRow]:
    """The rows of every comparison and metric, in protocol order."""
    rows = []
    for comp in proto['comparisons']:
        split, c_split = comp['split'], comp['control_split']
        arms = proto['arms']
        pre = (set(arms[comp['treatment']].get('preregistered_seeds',
                                               arms[comp['treatment']]['seeds'])) &
               set(arms[comp['control']].get('preregistered_seeds',
                                             arms[comp['control']]['seeds'])))
        planned = set(arms[comp['treatment']]['seeds']) & set(arms[comp['control']]['seeds'])
        for metric in comp['metrics']:
            t = {s: v for s in ev.get(comp['treatment'], {})
                 if (v := metric_value(ev, comp['treatment'], s, split, metric)) is not None}
            c = {s: v for s in ev.get(comp['control'], {})
                 if (v := metric_value(ev, comp['control'], s, c_split, metric)) is not None}
            res = paired(t, c, lower_is_better(metric))
            test = stats.paired_t(res['diffs']) if res['n'] >= 2 else None
            rows.append(ReportRow(comp, metric, t, c, res, test,
                                  [s for s in res['seeds'] if s in pre], len(planned)))
    return rows


def holm_t_decisions(rows: Sequence[ReportRow], alpha: float,
                     default_direction: Optional[str] = None) -> Dict[int, tuple]:
    """Decisions of the Holm-t rule for the rows in the family of primary comparisons.

    Each such row's paired t-test is one-sided in its comparison's ``direction`` (two-sided
    for ``'two-sided'``); Holm's step-down runs over all of them at family-wise ``alpha``, a
    row without two pairs entering with p = 1 (so a missing run never loosens the others'
    thresholds). ``supported``: rejected. ``contradicted``: the one-sided test of the opposite
    direction is rejected in the same family (the mirrored family; at most one of the two can
    be rejected for a row). Otherwise ``not decided``.

    Returns:
        dict: ``{index in rows: (decision, test text)}`` for the rows of the family.
    """
    index = [i for i, r in enumerate(rows) if r.family]
    alts = [scipy_alternative(rows[i].comp.get('direction', default_direction or 'two-sided'),
                              rows[i].metric) for i in index]
    ps = [rows[i].test.p_of(a) if rows[i].test else 1.0 for i, a in zip(index, alts)]
    mirrored = [rows[i].test.p_of(_mirror(a)) if rows[i].test and a != 'two-sided' else 1.0
                for i, a in zip(index, alts)]
    steps, steps_mirrored = stats.holm(ps, alpha), stats.holm(mirrored, alpha)
    out = {}
    for i, a, step, back in zip(index, alts, steps, steps_mirrored):
        test = rows[i].test
        if test is None:
            out[i] = ('insufficient (n < 2)', '—')
            continue
        text = (f't = {_t(test.t)}, df {test.df}, {"two-sided " if a == "two-sided" else ""}'
                f'p = {_p(step.p)}, Holm p = {_p(step.adjusted)}')
        if step.rejected:
            decision = 'supported'
            if a == 'two-sided':
                better = (test.mean < 0) == lower_is_better(rows[i].metric)
                decision += f' (treatment {"better" if better else "worse"})'
        elif back.rejected:
            decision = 'contradicted'
            text += f'; opposite direction: p = {_p(back.p)}, Holm p = {_p(back.adjusted)}'
        else:
            decision = 'not decided'
        out[i] = (decision, text)
    return out
