"""The protocol file of an evidence study (``docs/evidence/protocol.json``): reading and
checking it, its arms' runs, evaluation splits and class-pixel counts.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .runs import ROOT, Run, read_json

__all__ = [
    'LOWER_IS_BETTER', 'FREQUENT', 'lower_is_better', 'load_protocol', 'RULES', 'DIRECTIONS',
    'arm_splits', 'repo_path', 'evidence_path', 'protocol_runs', 'frequent_classes',
    'class_pixels'
]

#: Metrics where a smaller value is better (depth errors); all others: larger is better.
LOWER_IS_BETTER = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog')
FREQUENT = 'mIoU_frequent'


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def load_protocol(path: str) -> dict:
    """Read and check a protocol JSON; config and class-pixel paths are made absolute from the
    repository root when relative."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Protocol {path!r} does not exist.')
    proto = read_json(path, 'protocol')
    if not isinstance(proto, dict):
        raise ValueError(f'{path}: a protocol is a JSON object (see docs/evidence.md).')
    for key in ('arms', 'comparisons'):
        if key not in proto:
            raise ValueError(f'{path}: missing "{key}" (see docs/evidence.md for the format).')
    proto.setdefault('cfg_options', [])
    proto.setdefault('eval_splits', {'test': []})
    proto.setdefault('seeds', [0, 1, 2])
    for name, arm in proto['arms'].items():
        if 'config' not in arm:
            raise ValueError(f'{path}: arm {name!r} has no "config".')
        arm.setdefault('cfg_options', [])
        arm.setdefault('seeds', proto['seeds'])
    for split, spec in list(proto['eval_splits'].items()):
        # A list: the split's test options, for every arm. A dict: "options" plus
        # "arm_options" {arm: options, or null to skip the split for that arm} (arms whose
        # evaluators differ, e.g. a single-task model without a depth metric).
        spec = {'options': spec} if isinstance(spec, list) else dict(spec)
        if not isinstance(spec.get('options', []), list):
            raise ValueError(f'{path}: eval_splits.{split}.options must be a list.')
        spec.setdefault('options', [])
        spec.setdefault('arm_options', {})
        unknown = sorted(set(spec['arm_options']) - set(proto['arms']))
        if unknown:
            raise ValueError(f'{path}: eval_splits.{split}.arm_options names unknown arms '
                             f'{unknown}.')
        proto['eval_splits'][split] = spec
    for group in proto.setdefault('code_equivalence', []):
        if len(group.get('versions', [])) < 2 or not group.get('evidence'):
            raise ValueError(f'{path}: each code_equivalence group needs two or more '
                             f'"versions" and the "evidence" that they train identically.')
        unknown = sorted(set(group.get('arms', [])) - set(proto['arms']))
        if unknown:
            raise ValueError(f'{path}: code_equivalence names unknown arms {unknown}.')
    for comp in proto['comparisons']:
        for key in ('name', 'treatment', 'control', 'metrics'):
            if key not in comp:
                raise ValueError(f'{path}: comparison {comp} has no "{key}".')
        for side in ('treatment', 'control'):
            if comp[side] not in proto['arms']:
                raise ValueError(f'{path}: comparison {comp["name"]!r}: {side} '
                                 f'{comp[side]!r} is not an arm ({sorted(proto["arms"])}).')
        comp.setdefault('split', 'test')
        # ``control_split``: the control is read on another split (e.g. one arm on test_shift
        # vs the same arm on test: what a distribution shift costs it, paired by seed).
        comp.setdefault('control_split', comp['split'])
        for key in ('split', 'control_split'):
            if comp[key] not in proto['eval_splits']:
                raise ValueError(f'{path}: comparison {comp["name"]!r}: {key} {comp[key]!r} '
                                 f'is not in eval_splits ({sorted(proto["eval_splits"])}).')
        if comp['treatment'] == comp['control'] and comp['split'] == comp['control_split']:
            raise ValueError(f'{path}: comparison {comp["name"]!r} compares arm '
                             f'{comp["treatment"]!r} on {comp["split"]!r} with itself; give '
                             'another control arm or a "control_split".')
    _check_decision_fields(path, proto)
    return proto


#: Decision rules of a protocol: v1's 2-SE rule, v2's paired t-tests with Holm's correction.
RULES = ('2se', 'holm-t')


#: ``direction`` of a comparison: the treatment better / worse on its primary metric
#: (one-sided), or any difference (two-sided).
DIRECTIONS = ('better', 'worse', 'two-sided')


def _check_alpha(path: str, where: str, alpha) -> None:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise ValueError(f'{path}: {where} "alpha" is {alpha!r}; give the family-wise error '
                         'rate as a number in (0, 1), e.g. 0.05.')


def _check_decision_fields(path: str, proto: dict) -> None:
    """Check (and default) the fields of the decision rule; v1 files have none of them.

    Top level: ``rule`` (``'2se'``, the default, or ``'holm-t'``), ``alpha`` (family-wise,
    default 0.05), ``audit`` (a post-hoc re-reading under ``holm-t``, shown beside a 2-SE
    decision, never replacing it) and ``draft`` (seed counts pending: nothing may run).
    Per comparison: ``primary`` (the metric that decides it), ``direction`` and ``sesoi``
    (smallest effect of interest, in the primary metric's unit). Per arm:
    ``preregistered_seeds`` when seeds were added after a reading.
    """
    proto.setdefault('rule', '2se')
    if proto['rule'] not in RULES:
        raise ValueError(f'{path}: "rule" is {proto["rule"]!r}; expected one of {RULES} '
                         '(docs/evidence.md, "Decision rule" and "Protocol v2").')
    proto.setdefault('alpha', 0.05)
    _check_alpha(path, 'top-level', proto['alpha'])
    audit = proto.get('audit')
    if audit is not None:
        if not isinstance(audit, dict) or audit.get('rule') != 'holm-t' or \
                not audit.get('note'):
            raise ValueError(f'{path}: "audit" must be an object with "rule": "holm-t" and a '
                             '"note" saying when and why it was added (it is a post-hoc '
                             're-reading, never the decision).')
        audit.setdefault('alpha', 0.05)
        _check_alpha(path, 'audit', audit['alpha'])
        audit.setdefault('direction', 'better')
        if audit['direction'] not in DIRECTIONS:
            raise ValueError(f'{path}: audit "direction" {audit["direction"]!r}; expected '
                             f'one of {DIRECTIONS}.')
    for name, arm in proto['arms'].items():
        pre = arm.get('preregistered_seeds')
        if pre is not None and not set(pre) <= set(arm['seeds']):
            raise ValueError(f'{path}: arm {name!r}: "preregistered_seeds" {pre} are not all '
                             f'among its "seeds" {arm["seeds"]}.')
    for comp in proto['comparisons']:
        where = f'{path}: comparison {comp["name"]!r}'
        if 'primary' in comp and comp['primary'] not in comp['metrics']:
            raise ValueError(f'{where}: "primary" {comp["primary"]!r} is not one of its '
                             f'"metrics" {comp["metrics"]}.')
        if 'direction' in comp and comp['direction'] not in DIRECTIONS:
            raise ValueError(f'{where}: "direction" {comp["direction"]!r}; expected one of '
                             f'{DIRECTIONS}.')
        sesoi = comp.get('sesoi')
        if sesoi is not None and (not isinstance(sesoi, (int, float)) or
                                  isinstance(sesoi, bool) or not sesoi > 0):
            raise ValueError(f'{where}: "sesoi" {sesoi!r}; give the smallest effect of '
                             'interest as a positive number in the primary metric\'s unit.')
        if proto['rule'] == 'holm-t' and not comp.get('secondary'):
            missing = [k for k in ('primary', 'direction') if k not in comp]
            if missing:
                raise ValueError(f'{where}: the "holm-t" rule needs {missing} on every '
                                 'comparison that is not "secondary" (one primary metric per '
                                 'claim, and the direction of its test).')


def arm_splits(proto: dict, arm: str) -> Dict[str, List[str]]:
    """The evaluation splits of one arm and their test options (a split whose
    ``arm_options`` maps the arm to null is left out)."""
    out = {}
    for split, spec in proto['eval_splits'].items():
        options = spec['arm_options'].get(arm, spec['options'])
        if options is not None:
            out[split] = list(options)
    return out


def repo_path(path: str) -> str:
    return path if osp.isabs(path) else osp.join(ROOT, path)


def evidence_path(evidence_dir: str, arm: str, seed: int) -> str:
    return osp.join(evidence_dir, 'runs', arm, f'seed{seed}.json')


def protocol_runs(proto: dict, work_dir: str, arms: Optional[Sequence[str]] = None,
                  only_seeds: Optional[Sequence[int]] = None) -> List[Run]:
    """Runs of the protocol, seed-major; ``Run.name`` is the arm name. Without ``arms``: every
    arm not marked ``"enabled": false``. ``only_seeds`` keeps the runs of those seeds (each
    must be a seed of at least one of the arms: the protocol, not the command line, says which
    seeds an arm has)."""
    names = list(arms) if arms else [a for a, spec in proto['arms'].items()
                                     if spec.get('enabled', True)]
    unknown = [a for a in names if a not in proto['arms']]
    if unknown:
        raise ValueError(f'Unknown arms {unknown}; the protocol has {sorted(proto["arms"])}.')
    seeds = sorted({int(s) for a in names for s in proto['arms'][a]['seeds']})
    if only_seeds is not None:
        foreign = sorted(set(only_seeds) - set(seeds))
        if foreign:
            raise ValueError(f'--seeds {foreign}: no arm of {names} has these seeds in the '
                             f'protocol (their seeds: {seeds}); add them to the protocol first.')
        seeds = [s for s in seeds if s in set(only_seeds)]
    return [Run(repo_path(proto['arms'][a]['config']), a, s, osp.join(work_dir, a, f'seed{s}'))
            for s in seeds for a in names if s in proto['arms'][a]['seeds']]


def frequent_classes(class_pixels: Dict[str, int], fraction: float) -> List[str]:
    """Classes holding at least ``fraction`` of the labeled pixels, in the given order."""
    total = sum(class_pixels.values())
    if total <= 0:
        raise ValueError('class pixel counts are all zero: cannot pick frequent classes.')
    return [c for c, n in class_pixels.items() if n / total >= fraction]


def class_pixels(proto: dict) -> Optional[Dict[str, int]]:
    """``{class: labeled pixels}`` of the protocol's ``class_pixels`` file and split, in the
    file's order; None when the protocol names none."""
    cp = proto.get('class_pixels')
    if not cp:
        return None
    return read_json(repo_path(cp['file']), 'class pixel summary')[cp.get('split', 'test')][
        'class_pixels']
