"""Train and test several configs over several seeds; report mean ± std per metric.

For each config and seed, sequentially: ``tools/train.py`` with ``randomness.seed=<seed>`` into
``<work-dir>/<config name>/seed<seed>``, then ``tools/test.py --out`` on the checkpoint named in
that folder's ``last_checkpoint``, writing ``metrics.json`` there. Resumable: a run whose
``metrics.json`` exists is skipped; a run with a checkpoint but no metrics is trained on with
``--resume`` (which returns at once when training had finished) and then tested.

Results: ``<work-dir>/<config name>/summary.json`` (``{metric: {"mean", "std", "n"}}``, readable
by ``benchmark_table.py``) and ``<work-dir>/ablation.md`` / ``.csv``: mean ± sample standard
deviation (n - 1 in the denominator) over the seeds whose metrics exist, with the number of seeds
per config.

Commands are templates (``--train-cmd`` / ``--test-cmd``), split like a shell line; the
placeholders are ``{python} {root} {config} {work_dir} {seed} {checkpoint} {metrics}`` and, as
whole tokens expanding to zero or more arguments, ``{resume}`` (``--resume`` or nothing) and
``{cfg_options}`` (``--cfg-options`` with ``randomness.seed=<seed>`` for training, and the
``--cfg-options`` given here for both commands).

Example::

    python tools/analysis_tools/ablation.py configs/ccam/ccam_r18_synthcity.py \
        configs/ccam/ccam_r18_synthcity_no-ccam.py --seeds 0 1 2 --work-dir work_dirs/ablation \
        --cfg-options train_cfg.max_iters=2000

Protocol mode (``--protocol docs/evidence/protocol.json``): the arms (config, options, seeds),
the evaluation splits and the paired comparisons of a pre-registered protocol. Runs go
seed-major (every arm of seed 0, then seed 1, ...) so that pairs complete early; each finished
run leaves one small JSON, ``<evidence-dir>/runs/<arm>/seed<k>.json``, with its metrics per
evaluation split (skipped when present, resumed from the last checkpoint when interrupted).
``--report-only`` turns those JSON files into ``<evidence-dir>/results.md``: per-seed values,
mean ± std per arm, and per comparison the paired difference ± standard error, its 95 %
interval and the decision of the protocol's ``rule``: ``"2se"`` (v1, the default:
``supported`` when the mean paired difference favours the claim by more than 2 SE,
``contradicted`` when it opposes it by more than 2 SE, else ``not supported``; an ``"audit"``
adds the Holm-t re-reading as a separate, post-hoc column) or ``"holm-t"`` (v2: a paired t-test
per comparison's ``primary`` metric, one-sided in its ``direction``, Holm's step-down across all
primary comparisons at family-wise ``alpha``: ``supported`` / ``contradicted`` / ``not
decided``; statistics in :mod:`mmseg_ccam.analysis.statistics`). ``--power`` prints the seeds
each primary comparison needs for 80 % power from a paired SD (``--paired-sd mIoU=1.1``, or the
runs' own) and its smallest effect of interest (``"sesoi"`` or ``--effect``). A comparison
may read its control on another split (``"control_split"``): one arm on a shifted split vs the
same checkpoints on ``test`` is what the shift costs it, paired by seed.
``mIoU_frequent`` is the mean IoU over the classes holding at least ``frequent_class_fraction``
of the labeled test pixels (counts from the generator's summary). ``--readme README.md`` also
replaces the block between ``<!-- evidence-results:begin -->`` and
``<!-- evidence-results:end -->`` there with a short table, one row per claim
(:mod:`mmseg_ccam.analysis.evidence_readme`); the full tables stay in ``results.md``.
"""
import argparse
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from mmseg_ccam.analysis import statistics as stats
from mmseg_ccam.analysis.evidence_readme import (  # noqa: F401  (summary_block: tests)
    README_BEGIN,
    README_END,
    readme_block,
    summary_block,
)
from mmseg_ccam.evaluation import results_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_TRAIN_CMD = '{python} {root}/tools/train.py {config} --work-dir {work_dir} {resume} ' \
                    '{cfg_options}'
DEFAULT_TEST_CMD = '{python} {root}/tools/test.py {config} {checkpoint} ' \
                   '--work-dir {work_dir}/test --out {metrics} {cfg_options}'
METRICS_FILE = 'metrics.json'
SUMMARY_FILE = 'summary.json'


@dataclass
class Run:
    """One (config, seed) pair and its folder."""
    config: str
    name: str
    seed: int
    work_dir: str

    @property
    def metrics(self) -> str:
        return osp.join(self.work_dir, METRICS_FILE)


RUN_RECORD = 'run_options.json'


def strict_json(obj):
    """``obj`` with every non-finite float replaced by None (JSON null), for
    ``json.dumps(..., allow_nan=False)``: a bare ``NaN`` token is not JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def dump_json(obj, **kwargs) -> str:
    """Strict JSON text of ``obj`` (NaN/inf -> null; ``allow_nan=False``)."""
    return json.dumps(strict_json(obj), allow_nan=False, **kwargs)


def read_json(path: str, what: str = 'JSON file'):
    """``json.load`` naming the file when it is not valid JSON (e.g. truncated)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f'{path}: not valid JSON ({err}); the {what} is truncated or was '
                         'edited by hand. Restore it (git checkout) or delete it to rerun '
                         'what wrote it.') from None


def config_digest(config: str) -> Optional[str]:
    """SHA-256 of a config file's bytes (None if it cannot be read)."""
    import hashlib
    try:
        with open(config, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def run_options(config: str, cfg_options: Sequence[str]) -> dict:
    """What makes two runs of one folder the same run: config, its digest, the options."""
    return dict(config=osp.abspath(config), config_sha256=config_digest(config),
                cfg_options=list(cfg_options))


def check_run_record(work_dir: str, options: dict, what: str) -> None:
    """Refuse to reuse a run folder whose recorded options differ from this call's.

    A folder without a record (written before records existed) is reused as before.

    Raises:
        ValueError: naming the folder and each differing entry.
    """
    path = osp.join(work_dir, RUN_RECORD)
    if not osp.isfile(path):
        return
    old = read_json(path, 'run record')
    diff = [f'{k}: recorded {old.get(k)!r}, now {v!r}' for k, v in options.items()
            if k in old and old.get(k) != v]
    if diff:
        raise ValueError(
            f'{what}: {work_dir} holds a run made with other options ({"; ".join(diff)}), so '
            'its metrics/checkpoint would be reused for a different experiment. Give another '
            f'--work-dir, or delete {work_dir} to rerun it with these options.')


def write_run_record(work_dir: str, options: dict) -> None:
    os.makedirs(work_dir, exist_ok=True)
    results_table.write_text(osp.join(work_dir, RUN_RECORD), dump_json(options, indent=1) + '\n')


def config_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def plan_runs(configs: Sequence[str], seeds: Sequence[int], work_dir: str) -> List[Run]:
    """All runs, config-major, with their folders ``<work_dir>/<config name>/seed<seed>``."""
    names = [config_name(c) for c in configs]
    for name in set(names):
        if names.count(name) > 1:
            clash = [c for c, n in zip(configs, names) if n == name]
            raise ValueError(f'Configs {clash} share the name {name!r} and would share a work '
                             'folder; rename one.')
    if len(set(seeds)) != len(seeds):
        raise ValueError(f'--seeds has repeated values: {list(seeds)}.')
    return [Run(c, n, int(s), osp.join(work_dir, n, f'seed{s}'))
            for c, n in zip(configs, names) for s in seeds]


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``<work_dir>/last_checkpoint``, taken from this work dir (a
    copied or moved work dir uses its own file, never the original's through the absolute
    path MMEngine writes; see :func:`mmseg_ccam.utils.work_dir.resolve_last_checkpoint`), or
    None when there is none."""
    from mmseg_ccam.utils.work_dir import NothingToResumeError, resolve_last_checkpoint
    try:
        return resolve_last_checkpoint(work_dir)
    except NothingToResumeError:
        return None


def run_state(run: Run) -> str:
    """'done' (metrics exist), 'resume' (a checkpoint exists) or 'new'."""
    if osp.isfile(run.metrics):
        return 'done'
    return 'resume' if last_checkpoint(run.work_dir) is not None else 'new'


def expand(template: str, values: Dict[str, str], lists: Dict[str, List[str]]) -> List[str]:
    """Split ``template`` like a shell line, then fill it: a token that is exactly ``{name}``
    of ``lists`` becomes those arguments; other tokens are ``str.format``-ed with ``values``."""
    out: List[str] = []
    for token in shlex.split(template):
        key = token[1:-1] if token.startswith('{') and token.endswith('}') else None
        if key in lists:
            out.extend(lists[key])
            continue
        try:
            out.append(token.format(**values))
        except KeyError as err:
            raise ValueError(f'Unknown placeholder {err} in command template {template!r}; '
                             f'known: {sorted(values) + sorted(lists)}.') from err
    return out


def run_one(run: Run, train_cmd: str, test_cmd: str, python: str,
            cfg_options: Sequence[str], execute: Callable[[List[str]], int]) -> str:
    """Train (or resume) and test one run unless its metrics exist; returns its state."""
    state = run_state(run)
    record = run_options(run.config, cfg_options)
    check_run_record(run.work_dir, record, f'{run.name} seed {run.seed}')
    if state == 'done':
        print(f'[ablation] {run.name} seed {run.seed}: metrics exist (same config and '
              'options), skipped')
        return state
    write_run_record(run.work_dir, record)
    values = dict(python=python, root=ROOT, config=run.config, work_dir=run.work_dir,
                  seed=str(run.seed), metrics=run.metrics, checkpoint='')
    train_options = [f'randomness.seed={run.seed}'] + list(cfg_options)
    cmd = expand(train_cmd, values, dict(resume=['--resume'] if state == 'resume' else [],
                                         cfg_options=['--cfg-options'] + train_options))
    print(f'[ablation] {run.name} seed {run.seed}: {state}: {shlex.join(cmd)}', flush=True)
    code = execute(cmd)
    if code != 0:
        raise RuntimeError(f'Training {run.config} (seed {run.seed}) failed with exit code '
                           f'{code}; see the log in {run.work_dir}. Rerun to resume.')
    checkpoint = last_checkpoint(run.work_dir)
    if checkpoint is None:
        raise RuntimeError(f'Training {run.config} (seed {run.seed}) left no checkpoint named in '
                           f'{osp.join(run.work_dir, "last_checkpoint")}.')
    values['checkpoint'] = checkpoint
    test_options = ['--cfg-options'] + list(cfg_options) if cfg_options else []
    cmd = expand(test_cmd, values, dict(resume=[], cfg_options=test_options))
    print(f'[ablation] {run.name} seed {run.seed}: test: {shlex.join(cmd)}', flush=True)
    code = execute(cmd)
    if code != 0 or not osp.isfile(run.metrics):
        raise RuntimeError(f'Testing {checkpoint} (seed {run.seed}) failed (exit code {code}) or '
                           f'wrote no {run.metrics}.')
    return state


def aggregate(metrics: Sequence[Dict[str, Optional[float]]]) -> Dict[str, Dict[str, object]]:
    """Mean, sample standard deviation (ddof = 1; None for one value) and count per metric,
    over the runs where the metric is not null; keys in first-seen order."""
    keys: List[str] = []
    for m in metrics:
        keys += [k for k in m if k not in keys]
    out: Dict[str, Dict[str, object]] = {}
    for key in keys:
        values = [float(m[key]) for m in metrics
                  if m.get(key) is not None and not math.isnan(float(m[key]))]
        if not values:
            out[key] = dict(mean=None, std=None, n=0)
            continue
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        out[key] = dict(mean=mean, std=std, n=n)
    return out


def read_metrics(path: str) -> Dict[str, Optional[float]]:
    data = read_json(path, 'metrics file')
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected the flat metrics object of tools/test.py --out.')
    return data


def summarize(runs: Sequence[Run], work_dir: str, seeds: Sequence[int],
              columns: Optional[Sequence[str]] = None) -> str:
    """Write ``summary.json`` per config and ``ablation.md`` / ``.csv``; returns the Markdown."""
    rows = []
    for name in dict.fromkeys(r.name for r in runs):
        done = [r for r in runs if r.name == name and osp.isfile(r.metrics)]
        summary = aggregate([read_metrics(r.metrics) for r in done])
        results_table.write_text(osp.join(work_dir, name, SUMMARY_FILE),
                                 dump_json(summary, indent=2))
        cells = {k: results_table.to_stat(v, name, k) for k, v in summary.items()}
        cells['seeds'] = str(len(done))
        rows.append(results_table.Row(name, cells))
    metric_columns = results_table.pick_columns(rows, columns)
    all_columns = ['seeds'] + metric_columns
    markdown = ('# Ablation\n\n'
                f'Mean ± sample standard deviation (n - 1 denominator) over the seeds '
                f'{" ".join(str(s) for s in seeds)}; `seeds` is the number of runs with '
                'metrics per config.\n\n' + results_table.format_markdown(rows, all_columns))
    results_table.write_text(osp.join(work_dir, 'ablation.md'), markdown)
    results_table.write_text(osp.join(work_dir, 'ablation.csv'),
                             results_table.format_csv(rows, all_columns))
    return markdown


def run_ablation(configs: Sequence[str], seeds: Sequence[int], work_dir: str,
                 cfg_options: Sequence[str] = (), python: str = sys.executable,
                 train_cmd: str = DEFAULT_TRAIN_CMD, test_cmd: str = DEFAULT_TEST_CMD,
                 execute: Optional[Callable[[List[str]], int]] = None,
                 columns: Optional[Sequence[str]] = None, dry_run: bool = False) -> str:
    """Run every (config, seed) not done yet, then write the tables; returns the Markdown.

    Args:
        execute (callable, optional): Runs one argument list, returns its exit code
            (default: ``subprocess.run``).
    """
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config {config!r} does not exist.')
    runs = plan_runs(configs, seeds, work_dir)
    if dry_run:
        lines = [f'{r.name} seed {r.seed}: {run_state(r)} ({r.work_dir})' for r in runs]
        print('\n'.join(lines))
        return '\n'.join(lines)
    if execute is None:
        def execute(cmd: List[str]) -> int:
            return subprocess.run(cmd, check=False).returncode
    for run in runs:
        run_one(run, train_cmd, test_cmd, python, cfg_options, execute)
    return summarize(runs, work_dir, seeds, columns)


# ------------------------------------------------------------------------- protocol mode
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


def _abs(path: str) -> str:
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
    return [Run(_abs(proto['arms'][a]['config']), a, s, osp.join(work_dir, a, f'seed{s}'))
            for s in seeds for a in names if s in proto['arms'][a]['seeds']]


def run_protocol_one(run: Run, proto: dict, evidence_dir: str, train_cmd: str, test_cmd: str,
                     python: str, execute: Callable[[List[str]], int]) -> str:
    """Train (or resume) one arm/seed, test it on every evaluation split, write its JSON.

    A finished run whose JSON lacks an evaluation split of the protocol (a split added after
    it ran) is tested on that split from its last checkpoint; the JSON then records the code
    of that evaluation under ``eval_code``.

    Returns 'done' (JSON complete), 'backfill', 'resume' or 'new'."""
    out = evidence_path(evidence_dir, run.name, run.seed)
    arm = proto['arms'][run.name]
    options = list(proto['cfg_options']) + list(arm['cfg_options'])
    if osp.isfile(out):
        record = read_json(out, 'per-seed record')
        recorded = dict(cfg_options=record.get('cfg_options'), config=record.get('config'))
        now = dict(cfg_options=options, config=osp.relpath(run.config, ROOT))
        diff = [f'{k}: recorded {recorded[k]!r}, protocol now {now[k]!r}' for k in now
                if recorded[k] is not None and recorded[k] != now[k]]
        if record.get('config_sha256') and record['config_sha256'] != config_digest(run.config):
            diff.append(f'{now["config"]} changed since the run (SHA-256)')
        if diff:
            raise ValueError(
                f'{out}: made with other settings than the protocol now gives arm '
                f'{run.name!r} ({"; ".join(diff)}); reusing it would tabulate another '
                'experiment. Delete the file (and its work dir) to rerun the arm, or give the '
                'changed arm a new name in the protocol.')
        missing = [s for s in arm_splits(proto, run.name) if s not in record.get('metrics', {})]
        if not missing:
            print(f'[ablation] {run.name} seed {run.seed}: {out} exists, skipped')
            return 'done'
        backfill_splits(run, proto, record, missing, options, test_cmd, python, execute)
        results_table.write_text(out, dump_json(record, indent=1, sort_keys=True) + '\n')
        return 'backfill'
    state = 'resume' if last_checkpoint(run.work_dir) is not None else 'new'
    work_record = run_options(run.config, options)
    check_run_record(run.work_dir, work_record, f'arm {run.name} seed {run.seed}')
    metrics_files = {split: osp.join(run.work_dir, f'metrics_{split}.json')
                     for split in arm_splits(proto, run.name)}
    if not all(osp.isfile(m) for m in metrics_files.values()):
        write_run_record(run.work_dir, work_record)
        values = dict(python=python, root=ROOT, config=run.config, work_dir=run.work_dir,
                      seed=str(run.seed), metrics='', checkpoint='')
        cmd = expand(train_cmd, values, dict(
            resume=['--resume'] if state == 'resume' else [],
            cfg_options=['--cfg-options', f'randomness.seed={run.seed}'] + options))
        print(f'[ablation] {run.name} seed {run.seed}: {state}: {shlex.join(cmd)}', flush=True)
        code = execute(cmd)
        if code != 0:
            raise RuntimeError(f'Training arm {run.name} ({run.config}, seed {run.seed}) failed '
                               f'with exit code {code}; see the log in {run.work_dir}. Rerun '
                               'to resume.')
        checkpoint = last_checkpoint(run.work_dir)
        if checkpoint is None:
            raise RuntimeError(f'Training arm {run.name} (seed {run.seed}) left no checkpoint '
                               f'named in {osp.join(run.work_dir, "last_checkpoint")}.')
        for split, split_options in arm_splits(proto, run.name).items():
            if osp.isfile(metrics_files[split]):
                continue
            values.update(checkpoint=checkpoint, metrics=metrics_files[split])
            test_options = options + list(split_options)
            cmd = expand(test_cmd, values, dict(
                resume=[], cfg_options=['--cfg-options'] + test_options if test_options else []))
            print(f'[ablation] {run.name} seed {run.seed}: test on {split}: {shlex.join(cmd)}',
                  flush=True)
            code = execute(cmd)
            if code != 0 or not osp.isfile(metrics_files[split]):
                raise RuntimeError(f'Testing arm {run.name} (seed {run.seed}) on {split} failed '
                                   f'(exit code {code}) or wrote no {metrics_files[split]}.')
    record = dict(arm=run.name, config=osp.relpath(run.config, ROOT), seed=run.seed,
                  cfg_options=options, code=code_version(),
                  config_sha256=config_digest(run.config),
                  metrics={split: read_metrics(m) for split, m in metrics_files.items()})
    results_table.write_text(out, dump_json(record, indent=1, sort_keys=True) + '\n')
    return state


def backfill_splits(run: Run, proto: dict, record: dict, splits: Sequence[str],
                    options: Sequence[str], test_cmd: str, python: str,
                    execute: Callable[[List[str]], int]) -> None:
    """Test a finished run's last checkpoint on ``splits`` and add them to ``record``."""
    checkpoint = last_checkpoint(run.work_dir)
    if checkpoint is None:
        raise RuntimeError(
            f'{run.name} seed {run.seed}: its JSON lacks the evaluation split(s) {list(splits)} '
            f'of the protocol, and {run.work_dir} holds no checkpoint to test. Restore the '
            'checkpoint, or delete the JSON to rerun the arm.')
    for split in splits:
        metrics = osp.join(run.work_dir, f'metrics_{split}.json')
        values = dict(python=python, root=ROOT, config=run.config, work_dir=run.work_dir,
                      seed=str(run.seed), metrics=metrics, checkpoint=checkpoint)
        test_options = list(options) + arm_splits(proto, run.name)[split]
        cmd = expand(test_cmd, values, dict(
            resume=[], cfg_options=['--cfg-options'] + test_options if test_options else []))
        print(f'[ablation] {run.name} seed {run.seed}: backfill {split}: {shlex.join(cmd)}',
              flush=True)
        code = execute(cmd)
        if code != 0 or not osp.isfile(metrics):
            raise RuntimeError(f'Testing arm {run.name} (seed {run.seed}) on {split} failed '
                               f'(exit code {code}) or wrote no {metrics}.')
        record['metrics'][split] = read_metrics(metrics)
        record.setdefault('eval_code', {})[split] = code_version()


def code_version(root: str = ROOT) -> Optional[str]:
    """The code the runs used: ``git describe --always --dirty`` of ``root``, or the first line
    of ``root/COMMIT`` (written into exported snapshots), else None."""
    try:
        out = subprocess.run(['git', '-C', root, 'describe', '--always', '--dirty'],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    marker = osp.join(root, 'COMMIT')
    if osp.isfile(marker):
        with open(marker, encoding='utf-8') as f:
            return f.readline().strip() or None
    return None


def frequent_classes(class_pixels: Dict[str, int], fraction: float) -> List[str]:
    """Classes holding at least ``fraction`` of the labeled pixels, in the given order."""
    total = sum(class_pixels.values())
    if total <= 0:
        raise ValueError('class pixel counts are all zero: cannot pick frequent classes.')
    return [c for c, n in class_pixels.items() if n / total >= fraction]


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


def _value(evidence, arm, seed, split, metric) -> Optional[float]:
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


def _fmt(v: Optional[float], metric: str, signed: bool = False) -> str:
    if v is None:
        return '—'
    digits = 4 if metric in LOWER_IS_BETTER or metric.startswith('d') else 2
    return f'{v:+.{digits}f}' if signed else f'{v:.{digits}f}'


def _mean_std(values: Dict[int, float], metric: str) -> str:
    """``mean ± std (n=k)`` of per-seed values (std: n - 1 denominator)."""
    if not values:
        return '—'
    stat = aggregate([{'m': v} for v in values.values()])['m']
    sd = '—' if stat['std'] is None else _fmt(stat['std'], metric)
    return f'{_fmt(stat["mean"], metric)} ± {sd} (n={stat["n"]})'


def class_pixels(proto: dict) -> Optional[Dict[str, int]]:
    """``{class: labeled pixels}`` of the protocol's ``class_pixels`` file and split, in the
    file's order; None when the protocol names none."""
    cp = proto.get('class_pixels')
    if not cp:
        return None
    return read_json(_abs(cp['file']), 'class pixel summary')[cp.get('split', 'test')][
        'class_pixels']


def _alternative(direction: str, metric: str) -> str:
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
                 if (v := _value(ev, comp['treatment'], s, split, metric)) is not None}
            c = {s: v for s in ev.get(comp['control'], {})
                 if (v := _value(ev, comp['control'], s, c_split, metric)) is not None}
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
    alts = [_alternative(rows[i].comp.get('direction', default_direction or 'two-sided'),
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


def _interval(test: Optional[stats.PairedT], metric: str) -> str:
    if test is None:
        return '—'
    return f'[{_fmt(test.ci_low, metric, signed=True)}, {_fmt(test.ci_high, metric, signed=True)}]'


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


def _table_head(columns: Sequence[str]) -> List[str]:
    """Header and alignment rows; the numeric columns (n to the interval) right-aligned."""
    align = [':---'] * 3 + ['---:'] * 5 + [':---'] * (len(columns) - 8)
    return ['| ' + ' | '.join(columns) + ' |', '| ' + ' | '.join(align) + ' |']


def report(proto: dict, evidence_dir: str) -> str:
    """The Markdown tables of the protocol's results (per comparison: per-seed values, mean ±
    std, paired difference ± SE and its 95 % interval, the decision of the protocol's rule and,
    when the protocol has an ``audit``, the post-hoc Holm-t re-reading beside it)."""
    frequent = None
    pixels = class_pixels(proto)
    if pixels is not None:
        frequent = frequent_classes(pixels, proto.get('frequent_class_fraction', 0.01))
    ev = load_evidence(evidence_dir, proto, frequent)
    check_evidence(proto, evidence_dir, ev)
    codes = load_codes(evidence_dir, proto)
    rows = report_rows(proto, ev)
    rule, audit = proto['rule'], proto.get('audit')
    if rule == 'holm-t':
        decided = holm_t_decisions(rows, proto['alpha'])
        audited = {}
    else:
        decided = {}
        audited = holm_t_decisions(rows, audit['alpha'], audit['direction']) if audit else {}
    lines = ['# Evidence: results', '',
             'Generated by `python tools/analysis_tools/ablation.py --protocol '
             'docs/evidence/protocol.json --report-only` from the per-seed JSON files under '
             '`docs/evidence/runs/`; protocol, budget and decision rule in `docs/evidence.md`.',
             '']
    if frequent is not None:
        lines += [f'`{FREQUENT}`: mean IoU over the {len(frequent)} classes with at least '
                  f'{100 * proto.get("frequent_class_fraction", 0.01):g} % of the labeled test '
                  f'pixels ({", ".join(frequent)}).', '']
    summary = ['Difference = treatment − control, paired by seed; ± is the standard error of '
               'the mean difference (sample sd / √n); 95 % interval = difference ± '
               't(0.975, n − 1) · SE.']
    if rule == 'holm-t':
        summary.append(
            f'Decision (rule `holm-t`): per comparison its primary metric, a paired t-test, '
            f'one-sided in the stated direction (two-sided where none is stated), Holm\'s '
            f'step-down across all {sum(r.family for r in rows)} primary comparisons at '
            f'family-wise α = {proto["alpha"]:g}: supported when rejected, contradicted when '
            'the test of the opposite direction is rejected in the same family, otherwise not '
            'decided; other metrics are secondary (interval only); provisional while fewer '
            'pairs exist than the protocol gives both arms.')
    else:
        summary.append(
            'Decision (the pre-registered 2-SE rule): supported if the difference favours the '
            'claim by more than 2 SE, contradicted if it opposes it by more than 2 SE; '
            'provisional while fewer pairs exist than the protocol gives both arms; "at 5 '
            'seeds (3 were pre-registered)" where seeds were added after a reading, with the '
            'decision at the pre-registered seeds beside it.')
        if audit:
            summary.append(
                f'Last column: a post-hoc audit, never the decision ({audit["note"]}): the '
                f'Holm-t rule of protocol v2 applied to these runs — per row a paired t-test, '
                f'one-sided in the claim\'s direction, and Holm\'s step-down across the '
                f'{sum(r.family for r in rows)} rows of this table at family-wise '
                f'α = {audit["alpha"]:g}; "not decided" where it is not met.')
    if frequent is not None and (red := frequent_redundancy(ev, frequent)):
        summary.append(
            f'`{FREQUENT}` carries no information beyond mIoU here: in all {red["runs"]} runs '
            f'with segmentation ({red["evaluations"]} evaluations) the '
            f'{red["present"] - red["frequent"]} classes present outside the frequent ones '
            f'score exactly 0 IoU, so `{FREQUENT}` = mIoU × {red["present"]}/{red["frequent"]} '
            f'in every one (largest gap {red["largest_gap"]:.3f}, from the two-decimal '
            'rounding of the reported IoUs); its rows are kept because they were '
            'pre-registered.')
    status = arm_status(proto, ev)
    never = [a for a in status if a['enabled'] and not a['done']]
    if never:
        summary.append('Enabled in the protocol but never run: ' + '; '.join(
            f'`{a["arm"]}` (0 of {len(a["seeds"])} seeds; ' +
            ('in no comparison' if not a['comparisons'] else
             'used by ' + ', '.join(a['comparisons'])) + ')' for a in never) + '.')
    columns = ['comparison', 'split', 'metric', 'n', 'treatment mean ± std',
               'control mean ± std', 'difference ± SE', '95 % interval']
    columns += (['test', 'decision'] if rule == 'holm-t' else
                ['decision (2-SE rule)'] + (['post-hoc audit: Holm-t'] if audit else []))
    summary.append('Secondary comparisons and per-seed values: `docs/evidence/results.md`.')
    primary_lines, secondary_lines, details = [], [], []
    last = None
    for i, row in enumerate(rows):
        comp, metric, res = row.comp, row.metric, row.res
        split, c_split = comp['split'], comp['control_split']
        if comp is not last:
            last = comp
            claim = comp.get('claim', f'{comp["treatment"]} better than {comp["control"]}')
            where = f'on `{split}`' if c_split == split else f'on `{split}` vs on `{c_split}`'
            details += [f'### {comp["name"]}', '',
                        f'Claim: {claim} — `{comp["treatment"]}` vs `{comp["control"]}` '
                        f'{where}.', '']
            if rule == 'holm-t' and not comp.get('secondary'):
                details += [f'Primary metric `{comp["primary"]}`, direction '
                            f'{comp["direction"]}' + (f', smallest effect of interest '
                                                      f'{comp["sesoi"]:g}'
                                                      if 'sesoi' in comp else '') + '.', '']
        if rule == 'holm-t':
            decision, test_text = decided.get(i, (None, '—'))
            if decision is None:
                decision = ('secondary, not a claim (interval only)' if comp.get('secondary')
                            else 'secondary metric (interval only)')
        else:
            decision, test_text = res['decision'], None
            if len(row.preregistered) < res['n'] and res['n'] >= 2:
                k = len(row.preregistered)
                pre = paired({s: row.treatment[s] for s in row.preregistered},
                             {s: row.control[s] for s in row.preregistered},
                             lower_is_better(metric))['decision']
                decision += (f' at {res["n"]} seeds ({k} were pre-registered; at those {k}: '
                             f'{pre})')
            if comp.get('secondary'):
                decision = f'secondary, not a claim: {decision}'
        if rule == 'holm-t' and len(row.preregistered) < res['n'] and res['n'] >= 2:
            decision += (f' at {res["n"]} seeds ({len(row.preregistered)} were '
                         'pre-registered)')
        # A decision is final only on every seed the protocol gives both arms.
        if 2 <= res['n'] < row.planned:
            decision += f' (provisional: {res["n"]} of {row.planned} seeds)'
        # Pairs are only comparable when all their runs used the same code (or versions
        # the protocol declares numerically equivalent for those arms).
        raw = {(comp[side], str(codes.get((comp[side], s)))) for s in res['seeds']
               for side in ('treatment', 'control')}
        used = sorted({v for _, v in raw})
        if len({canonical_code(proto, arm, v) for arm, v in raw}) == 1 and len(used) > 1:
            details.append(f'Code versions {", ".join(used)} in the pairs of {metric} are '
                           'declared equivalent by the protocol (code_equivalence).')
        elif len(used) > 1:
            decision += ' (mixed code versions)'
            details.append(f'Mixed code versions in the pairs of {metric}: '
                           f'{", ".join(used)}; rerun from one version before reading.')
        diff = '—' if res['mean'] is None else (
            _fmt(res['mean'], metric, signed=True) +
            ('' if res['se'] is None else f' ± {_fmt(res["se"], metric)}'))
        shown = split if c_split == split else f'{split} vs {c_split}'
        cells = [comp['name'], shown, metric, str(res['n']), _mean_std(row.treatment, metric),
                 _mean_std(row.control, metric), diff, _interval(row.test, metric)]
        if rule == 'holm-t':
            cells += [test_text, decision]
        else:
            cells.append(decision)
            if audit and not comp.get('secondary'):  # descriptive rows are not audited
                step = audited.get(i)
                cells.append(f'{step[0]} ({step[1]})' if step else '—')
        (secondary_lines if comp.get('secondary') else primary_lines).append(
            '| ' + ' | '.join(cells) + ' |')
        details += [f'{metric} ({"lower" if lower_is_better(metric) else "higher"} is '
                    'better):', '', '| seed | treatment | control | difference |',
                    '| ---: | ---: | ---: | ---: |']
        for s in sorted(set(row.treatment) | set(row.control)):
            t, c = row.treatment.get(s), row.control.get(s)
            d = _fmt(t - c, metric, signed=True) if t is not None and c is not None else '—'
            details.append(f'| {s} | {_fmt(t, metric)} | {_fmt(c, metric)} | {d} |')
        details.append('')
    lines += ['## Summary', '', ' '.join(summary), ''] + _table_head(columns) + \
        primary_lines + ['']
    if secondary_lines:
        lines += ['## Secondary comparisons', '',
                  'Descriptive: reported, never used to decide a claim.', ''] + \
            _table_head(columns[:-1] if audit and rule != 'holm-t' else columns) + \
            secondary_lines + ['']
    lines += ['## Arms', '', '| arm | enabled | seeds | runs with a JSON | comparisons |',
              '| :--- | :--- | :--- | :--- | ---: |']
    for a in status:
        state = ('never run' if not a['done'] else
                 'complete' if set(a['seeds']) <= set(a['done']) else
                 f'{len(a["done"])} of {len(a["seeds"])}')
        lines.append(f'| `{a["arm"]}` | {"yes" if a["enabled"] else "no"} | '
                     f'{" ".join(map(str, a["seeds"]))} | '
                     f'{" ".join(map(str, a["done"])) or "—"} ({state}) | '
                     f'{len(a["comparisons"])} |')
    lines += ['', '## Per comparison, per seed', ''] + details
    return '\n'.join(lines).rstrip() + '\n'


def per_class_report(proto: dict, evidence_dir: str, comparison: str,
                     split: Optional[str] = None) -> str:
    """Per-class IoU of one comparison: per-seed paired differences and their mean ± SE, one
    row per class of the protocol's ``class_pixels`` (largest share of test pixels first).

    Descriptive: where a segmentation difference sits (19 tests at 2 SE would find a
    "significant" class by chance), never a decision of the protocol.
    """
    names = [c['name'] for c in proto['comparisons']]
    if comparison not in names:
        raise ValueError(f'No comparison {comparison!r} in the protocol; it has {names}.')
    comp = proto['comparisons'][names.index(comparison)]
    # --split reads both sides there; otherwise each side on its own split of the comparison.
    c_split = split or comp['control_split']
    split = split or comp['split']
    if split not in proto['eval_splits']:
        raise ValueError(f'--split {split!r} is not an evaluation split of the protocol '
                         f'({sorted(proto["eval_splits"])}).')
    pixels = class_pixels(proto)
    if pixels is None:
        raise ValueError('The protocol has no "class_pixels" (file and split of the per-class '
                         'pixel counts); per-class tables need the class list.')
    total = sum(pixels.values()) or 1
    ev = load_evidence(evidence_dir, proto)
    arms = (comp['treatment'], comp['control'])
    pairs = sorted(set(ev.get(arms[0], {})) & set(ev.get(arms[1], {})))
    where = f'`{split}`' if c_split == split else f'`{split}` vs `{c_split}`'
    lines = [f'Per-class IoU, `{arms[0]}` − `{arms[1]}` on {where}, paired by seed '
             f'({", ".join(map(str, pairs)) or "no pairs yet"}); descriptive, not a claim.', '',
             '| class | test pixels | treatment mean | control mean | per-seed difference | '
             'difference ± SE | 95 % interval |',
             '| :--- | ---: | ---: | ---: | :--- | ---: | ---: |']
    for cls in sorted(pixels, key=lambda c: -pixels[c]):
        key = f'IoU.{cls}'
        t, c = ({s: v for s in pairs if (v := _value(ev, arm, s, sp, key)) is not None}
                for arm, sp in zip(arms, (split, c_split)))
        res = paired(t, c)
        mean_t = f'{sum(t.values()) / len(t):.2f}' if t else '—'
        mean_c = f'{sum(c.values()) / len(c):.2f}' if c else '—'
        diff = '—' if res['mean'] is None else f'{res["mean"]:+.2f}' + (
            '' if res['se'] is None else f' ± {res["se"]:.2f}')
        interval = '—'
        if res['n'] >= 2:
            test = stats.paired_t(res['diffs'])
            interval = f'[{test.ci_low:+.2f}, {test.ci_high:+.2f}]'
        lines.append(f'| {cls} | {100 * pixels[cls] / total:.1f} % | {mean_t} | {mean_c} | '
                     f'{" / ".join(f"{d:+.2f}" for d in res["diffs"]) or "—"} | {diff} | '
                     f'{interval} |')
    return '\n'.join(lines) + '\n'


def _keyed(values: Optional[Sequence[str]], flag: str) -> Dict[str, float]:
    """``['mIoU=1.2', 'semi vs EMA-only=0.8']`` -> ``{key: value}`` (the last ``=`` splits)."""
    out = {}
    for item in values or []:
        key, sep, value = item.rpartition('=')
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not key or not math.isfinite(number) or number <= 0:
            raise ValueError(f'{flag} {item!r}: expected KEY=VALUE with a positive number, KEY a '
                             'metric (mIoU, abs_rel, ...) or a comparison name of the protocol.')
        out[key] = number
    return out


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
        alternative = _alternative(direction, metric)
        effect_signed = effect if alternative != 'less' else -effect
        if not sd > 0:
            raise ValueError(f'Comparison {name!r} ({metric}): paired SD {sd} from {source}; '
                             'a power calculation needs a positive SD (give --paired-sd).')
        n = stats.seeds_for_power(sd, effect_signed, level, power, alternative)
        achieved = None if n is None else stats.paired_power(n, sd, effect, level, alternative)
        for arm in (comp['treatment'], comp['control']):
            need[arm] = max(need.get(arm, 0), n if n is not None else 10 ** 9)
        test = 'two-sided' if alternative == 'two-sided' else f'one-sided ({direction})'
        lines.append(f'| {name} | {metric} | {test} | {_fmt(effect, metric)} | '
                     f'{_fmt(sd, metric)} | {source} | {n if n is not None else "> 10000"} | '
                     f'{"—" if achieved is None else f"{achieved:.3f}"} |')
    lines += ['', 'Seeds per arm (the largest count over its primary comparisons): ' + ', '.join(
        f'`{a}` {n if n < 10 ** 9 else "> 10000"}' for a, n in need.items()) + '.']
    return '\n'.join(lines) + '\n'


def update_readme(readme: str, block: str) -> None:
    """Replace the text between the evidence markers of ``readme`` with ``block``."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f'{readme} has no {README_BEGIN} ... {README_END} block; add the two '
                         'markers where the results table belongs.')
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    results_table.write_text(readme, f'{head}{README_BEGIN}\n{block}\n{README_END}{tail}')


def run_protocol(protocol: str, evidence_dir: Optional[str] = None,
                 work_dir: str = osp.join(ROOT, 'work_dirs', 'evidence'),
                 arms: Optional[Sequence[str]] = None, python: str = sys.executable,
                 train_cmd: str = DEFAULT_TRAIN_CMD, test_cmd: str = DEFAULT_TEST_CMD,
                 execute: Optional[Callable[[List[str]], int]] = None,
                 report_only: bool = False, dry_run: bool = False,
                 readme: Optional[str] = None,
                 seeds: Optional[Sequence[int]] = None) -> str:
    """Run the protocol's missing runs (unless ``report_only``), then write ``results.md``.
    ``seeds`` restricts the runs (not the report) to these seeds of the protocol."""
    proto = load_protocol(protocol)
    evidence_dir = evidence_dir or osp.dirname(osp.abspath(protocol))
    if proto.get('draft') and not report_only:
        raise ValueError(f'{protocol} is a draft ("draft": true: seed counts and configs '
                         'pending); nothing of it may run. Fix its seeds from the power '
                         'calculation (--power) and its configs, then remove "draft".')
    runs = protocol_runs(proto, work_dir, arms, seeds)
    if dry_run:
        lines = []
        for r in runs:
            path = evidence_path(evidence_dir, r.name, r.seed)
            if osp.isfile(path):
                have = read_json(path, 'per-seed record').get('metrics', {})
                missing = [s for s in arm_splits(proto, r.name) if s not in have]
                state = f'backfill {" ".join(missing)}' if missing else 'done'
            else:
                state = 'resume' if last_checkpoint(r.work_dir) else 'new'

            lines.append(f'{r.name} seed {r.seed}: {state} ({r.config})')
        print('\n'.join(lines))
        return '\n'.join(lines)
    if not report_only:
        for r in runs:
            if not osp.isfile(r.config):
                raise FileNotFoundError(f'Arm {r.name}: config {r.config!r} does not exist.')
        if execute is None:
            def execute(cmd: List[str]) -> int:
                return subprocess.run(cmd, check=False).returncode
        for r in runs:
            run_protocol_one(r, proto, evidence_dir, train_cmd, test_cmd, python, execute)
    markdown = report(proto, evidence_dir)
    results_table.write_text(osp.join(evidence_dir, 'results.md'), markdown)
    if readme:
        update_readme(readme, readme_block(proto, markdown))
    return markdown


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Multi-seed ablation: train, test, tabulate')
    parser.add_argument('configs', nargs='*', help='config files (not with --protocol)')
    parser.add_argument('--protocol', help='protocol JSON (arms, eval splits, comparisons)')
    parser.add_argument('--evidence-dir', help='per-seed JSON and results.md (protocol mode; '
                        'default: the protocol file\'s folder)')
    parser.add_argument('--arms', nargs='+', help='protocol mode: run only these arms')
    parser.add_argument('--report-only', action='store_true',
                        help='protocol mode: only turn the per-seed JSON into tables')
    parser.add_argument('--readme', help='protocol mode: also rewrite the results block of this '
                        'README')
    parser.add_argument('--per-class', metavar='COMPARISON',
                        help='protocol mode: print the per-class IoU differences of this '
                        'comparison (by name) and exit; nothing is run or written')
    parser.add_argument('--split', help='with --per-class: evaluation split (default: the '
                        "comparison's)")
    parser.add_argument('--power', action='store_true',
                        help='protocol mode: print the seeds each primary comparison needs for '
                        '--power-target power under the Holm-t rule and exit; nothing is run '
                        'or written')
    parser.add_argument('--paired-sd', nargs='+', metavar='KEY=SD',
                        help='with --power: SD of the paired differences, per metric (mIoU=1.1) '
                        'or per comparison name; default: estimated from the runs')
    parser.add_argument('--effect', nargs='+', metavar='KEY=VALUE',
                        help='with --power: smallest effect of interest per metric or '
                        'comparison (default: the comparison\'s "sesoi")')
    parser.add_argument('--power-target', type=float, default=0.8,
                        help='with --power: the power to reach (default 0.8)')
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='seeds to run (default 0 1 2; protocol mode: a subset of the '
                        "protocol's seeds, default all)")
    parser.add_argument('--work-dir', help='root folder of all runs (protocol mode default: '
                        'work_dirs/evidence)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value overrides passed to train and test')
    parser.add_argument('--python', default=sys.executable, help='Python interpreter')
    parser.add_argument('--train-cmd', default=DEFAULT_TRAIN_CMD, help='train command template')
    parser.add_argument('--test-cmd', default=DEFAULT_TEST_CMD, help='test command template')
    parser.add_argument('--columns', nargs='+', help='metric keys of the table')
    parser.add_argument('--dry-run', action='store_true', help='print the plan only')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if args.seeds and min(args.seeds) < 0:
        raise SystemExit(f'--seeds {args.seeds}: seeds are integers >= 0 (randomness.seed).')
    if args.protocol:
        if args.configs:
            raise SystemExit('Give either config files or --protocol, not both.')
        if args.split and not args.per_class:
            raise SystemExit('--split only goes with --per-class.')
        if (args.paired_sd or args.effect) and not args.power:
            raise SystemExit('--paired-sd and --effect only go with --power.')
        if args.power:
            proto = load_protocol(args.protocol)
            markdown = power_report(
                proto, args.evidence_dir or osp.dirname(osp.abspath(args.protocol)),
                _keyed(args.paired_sd, '--paired-sd'), _keyed(args.effect, '--effect'),
                args.power_target)
            print(markdown, end='')
            return markdown
        if args.per_class:
            proto = load_protocol(args.protocol)
            markdown = per_class_report(
                proto, args.evidence_dir or osp.dirname(osp.abspath(args.protocol)),
                args.per_class, args.split)
            print(markdown, end='')
            return markdown
        markdown = run_protocol(
            args.protocol, args.evidence_dir,
            args.work_dir or osp.join(ROOT, 'work_dirs', 'evidence'), args.arms, args.python,
            args.train_cmd, args.test_cmd, report_only=args.report_only, dry_run=args.dry_run,
            readme=args.readme, seeds=args.seeds)
        if not args.dry_run:
            print(markdown, end='')
        return markdown
    if not args.configs or not args.work_dir:
        raise SystemExit('Give config files and --work-dir (or --protocol).')
    markdown = run_ablation(args.configs, args.seeds or [0, 1, 2], args.work_dir,
                            args.cfg_options,
                            args.python, args.train_cmd, args.test_cmd, columns=args.columns,
                            dry_run=args.dry_run)
    if not args.dry_run:
        print(markdown, end='')
    return markdown


if __name__ == '__main__':
    main()
