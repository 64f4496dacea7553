"""The per-seed JSON records of a protocol (``<evidence-dir>/runs/<arm>/seed<k>.json``):
loading and checking them, their code versions, and the paired difference of two arms.
"""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .protocol import FREQUENT, evidence_path
from .runs import read_json

__all__ = [
    'mean_iou_over', 'load_evidence', 'KNOWN_METRICS', 'check_evidence', 'canonical_code',
    'load_codes', 'metric_value', 'paired', 'frequent_redundancy', 'arm_status'
]

def mean_iou_over(metrics: Dict[str, Optional[float]], classes: Sequence[str]) -> Optional[float]:
    """Mean of ``IoU.<class>`` over ``classes``; None when the run has no per-class IoU.

    A class whose IoU is NaN/null (absent from labels and predictions) is skipped; frequent
    classes are present in the labels, so this happens only for a seg-less model."""
    values = []
    for c in classes:
        v = metrics.get(f'IoU.{c}')
        if v is not None and not math.isnan(float(v)):
            values.append(float(v))
    return sum(values) / len(values) if values else None


def load_evidence(evidence_dir: str, proto: dict,
                  frequent: Optional[Sequence[str]] = None) -> Dict[str, Dict[int, dict]]:
    """``{arm: {seed: {split: metrics}}}`` of the runs whose JSON exists, with
    ``mIoU_frequent`` added when ``frequent`` classes are given."""
    out: Dict[str, Dict[int, dict]] = {}
    for arm, spec in proto['arms'].items():
        for seed in spec['seeds']:
            path = evidence_path(evidence_dir, arm, int(seed))
            if not osp.isfile(path):
                continue
            record = read_json(path, 'per-seed record')
            metrics = record.get('metrics') if isinstance(record, dict) else None
            if not isinstance(metrics, dict):
                raise ValueError(f'{path}: no "metrics" object; rerun the arm or delete the file.')
            for m in metrics.values():
                if frequent is not None and FREQUENT not in m:
                    m[FREQUENT] = mean_iou_over(m, frequent)
            out.setdefault(arm, {})[int(seed)] = metrics
    return out


#: Metric names ``tools/test.py --out`` writes besides ``IoU.<class>`` / ``Acc.<class>``.
KNOWN_METRICS = ('mIoU', 'aAcc', 'mAcc', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'silog',
                 'log10', 'd1', 'd2', 'd3', FREQUENT)


def check_evidence(proto: dict, evidence_dir: str, ev: Dict[str, Dict[int, dict]]) -> None:
    """Refuse a report that would rest on nothing, or on a metric no run has.

    Without any per-seed JSON (an empty, missing or wrong ``--evidence-dir``) every row would
    read "insufficient (n < 2)" and overwrite the published tables; a comparison metric that no
    run reports and that ``tools/test.py`` never writes (``"miou"`` for ``mIoU``) would do the
    same for its rows.

    Raises:
        FileNotFoundError: no per-seed JSON under ``<evidence_dir>/runs/``, naming the folder.
        ValueError: an unknown metric, naming the comparison and the closest known name.
    """
    if not any(ev.values()):
        arm = next(iter(proto['arms']))
        seed = proto['arms'][arm]['seeds'][0] if proto['arms'][arm]['seeds'] else 0
        where = osp.join(evidence_dir, 'runs')
        state = ('does not exist' if not osp.isdir(evidence_dir) else
                 'has no runs/ folder' if not osp.isdir(where) else
                 'holds no per-seed JSON of the protocol\'s arms')
        raise FileNotFoundError(
            f'--evidence-dir {evidence_dir!r} {state}: expected the per-seed records '
            f'{where}/<arm>/seed<k>.json (e.g. {evidence_path(evidence_dir, arm, seed)}). '
            'Nothing was written (a report from no runs would replace every result with '
            '"insufficient"); give the folder that holds runs/ (default: the protocol\'s '
            'folder).')
    seen = set(KNOWN_METRICS)
    for seeds in ev.values():
        for splits in seeds.values():
            for metrics in splits.values():
                seen |= set(metrics)
    for comp in proto['comparisons']:
        for metric in comp['metrics']:
            if metric in seen or metric.startswith(('IoU.', 'Acc.')):
                continue
            import difflib
            close = difflib.get_close_matches(metric, sorted(seen), n=1, cutoff=0.5) or \
                [m for m in sorted(seen) if m.lower() == metric.lower()][:1]
            hint = f' Did you mean {close[0]!r}?' if close else ''
            raise ValueError(
                f'Protocol comparison {comp["name"]!r} names the metric {metric!r}, which no '
                f'run reports and tools/test.py does not write.{hint} Known: '
                f'{sorted(m for m in seen if not m.startswith(("IoU.", "Acc.")))} and '
                'IoU.<class>.')


def canonical_code(proto: dict, arm: str, version: str) -> str:
    """``version``, or the first version of a ``code_equivalence`` group that holds it and
    applies to ``arm`` (a group without ``arms`` applies to every arm)."""
    for group in proto.get('code_equivalence', []):
        if version in group['versions'] and arm in group.get('arms', proto['arms']):
            return group['versions'][0]
    return version


def load_codes(evidence_dir: str, proto: dict) -> Dict[tuple, Optional[str]]:
    """``{(arm, seed): code version}`` of the runs whose JSON exists."""
    out = {}
    for arm, spec in proto['arms'].items():
        for seed in spec['seeds']:
            path = evidence_path(evidence_dir, arm, int(seed))
            if osp.isfile(path):
                out[(arm, int(seed))] = read_json(path, 'per-seed record').get('code')
    return out


def metric_value(evidence, arm, seed, split, metric) -> Optional[float]:
    v = evidence.get(arm, {}).get(seed, {}).get(split, {}).get(metric)
    return None if v is None or math.isnan(float(v)) else float(v)


def paired(treatment: Dict[int, float], control: Dict[int, float],
           lower_better: bool = False) -> dict:
    """Paired difference (treatment - control) over the seeds both have.

    Returns ``n``, ``seeds``, ``diffs``, ``mean``, ``sd`` (sample, n - 1), ``se`` (sd / sqrt n)
    and ``decision``: 'supported' when the difference favours the treatment by more than
    2 SE (for a lower-is-better metric: is below -2 SE), 'contradicted' when it favours the
    control by more than 2 SE, 'not supported' otherwise, 'insufficient (n < 2)' without two
    pairs."""
    seeds = sorted(set(treatment) & set(control))
    diffs = [treatment[s] - control[s] for s in seeds]
    n = len(diffs)
    res = dict(n=n, seeds=seeds, diffs=diffs, mean=None, sd=None, se=None,
               decision='insufficient (n < 2)')
    if n == 0:
        return res
    mean = sum(diffs) / n
    res['mean'] = mean
    if n < 2:
        return res
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    gain = -mean if lower_better else mean
    decision = 'supported' if gain > 2 * se else 'contradicted' if -gain > 2 * se else \
        'not supported'
    res.update(sd=sd, se=se, decision=decision)
    return res


def frequent_redundancy(ev: Dict[str, Dict[int, dict]],
                        frequent: Sequence[str]) -> Optional[dict]:
    """Whether ``mIoU_frequent`` is a fixed multiple of mIoU in every run.

    It is when, in every evaluation with per-class IoU, the same classes are present (IoU not
    null) and every present class outside ``frequent`` scores exactly 0: then the sum of the
    IoUs over the present classes is the sum over the frequent ones, and mIoU_frequent =
    mIoU × present / frequent.

    Returns:
        dict or None: ``runs`` (arm/seed pairs with segmentation), ``evaluations`` (splits
        of those), ``present``, ``frequent``, ``largest_gap`` (largest
        |mIoU_frequent − mIoU × present / frequent|, the rounding of the reported mIoU); None
        when some evaluation breaks the rule or there is none.
    """
    runs, evaluations, shapes, gap = set(), 0, set(), 0.0
    for arm, seeds in ev.items():
        for seed, splits in seeds.items():
            for metrics in splits.values():
                present = {k[4:]: float(v) for k, v in metrics.items()
                           if k.startswith('IoU.') and v is not None and
                           not math.isnan(float(v))}
                if not present or metrics.get('mIoU') is None:
                    continue
                rare = [c for c in present if c not in frequent]
                if any(present[c] != 0 for c in rare):
                    return None
                shapes.add((len(present), len(present) - len(rare)))
                runs.add((arm, seed))
                evaluations += 1
                n, f = len(present), len(present) - len(rare)
                if metrics.get(FREQUENT) is not None:
                    gap = max(gap, abs(metrics[FREQUENT] - metrics['mIoU'] * n / f))
    if len(shapes) != 1:
        return None
    (present, freq), = shapes
    return dict(runs=len(runs), evaluations=evaluations, present=present, frequent=freq,
                largest_gap=gap)


def arm_status(proto: dict, ev: Dict[str, Dict[int, dict]]) -> List[dict]:
    """Per arm: enabled or not, planned seeds, seeds with a JSON, comparisons that use it."""
    out = []
    for arm, spec in proto['arms'].items():
        used = [c['name'] for c in proto['comparisons'] if arm in (c['treatment'], c['control'])]
        out.append(dict(arm=arm, enabled=spec.get('enabled', True), seeds=list(spec['seeds']),
                        done=sorted(ev.get(arm, {})), comparisons=used))
    return out
