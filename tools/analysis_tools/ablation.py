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
mean ± std per arm, and per comparison the paired difference ± standard error with the decision
(``supported`` when the mean paired difference favours the claim by more than 2 SE,
``contradicted`` when it opposes it by more than 2 SE, else ``not supported``). A comparison
may read its control on another split (``"control_split"``): one arm on a shifted split vs the
same checkpoints on ``test`` is what the shift costs it, paired by seed.
``mIoU_frequent`` is the mean IoU over the classes holding at least ``frequent_class_fraction``
of the labeled test pixels (counts from the generator's summary). ``--readme README.md`` also
replaces the block between ``<!-- evidence-results:begin -->`` and
``<!-- evidence-results:end -->`` there with the summary table.
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_TRAIN_CMD = '{python} {root}/tools/train.py {config} --work-dir {work_dir} {resume} ' \
                    '{cfg_options}'
DEFAULT_TEST_CMD = '{python} {root}/tools/test.py {config} {checkpoint} ' \
                   '--work-dir {work_dir}/test --out {metrics} {cfg_options}'
METRICS_FILE = 'metrics.json'
SUMMARY_FILE = 'summary.json'


def _load_benchmark_table():
    """``benchmark_table.py`` next to this file (tools/ is not a package)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_table.py')
    spec = importlib.util.spec_from_file_location('_ablation_benchmark_table', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bt = _load_benchmark_table()


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
    bt.write_text(osp.join(work_dir, RUN_RECORD), dump_json(options, indent=1) + '\n')


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
        bt.write_text(osp.join(work_dir, name, SUMMARY_FILE), dump_json(summary, indent=2))
        cells = {k: bt.to_stat(v, name, k) for k, v in summary.items()}
        cells['seeds'] = str(len(done))
        rows.append(bt.Row(name, cells))
    metric_columns = bt.pick_columns(rows, columns)
    all_columns = ['seeds'] + metric_columns
    markdown = ('# Ablation\n\n'
                f'Mean ± sample standard deviation (n - 1 denominator) over the seeds '
                f'{" ".join(str(s) for s in seeds)}; `seeds` is the number of runs with '
                'metrics per config.\n\n' + bt.format_markdown(rows, all_columns))
    bt.write_text(osp.join(work_dir, 'ablation.md'), markdown)
    bt.write_text(osp.join(work_dir, 'ablation.csv'), bt.format_csv(rows, all_columns))
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
README_BEGIN = '<!-- evidence-results:begin -->'
README_END = '<!-- evidence-results:end -->'


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
    return proto


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
        bt.write_text(out, dump_json(record, indent=1, sort_keys=True) + '\n')
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
    bt.write_text(out, dump_json(record, indent=1, sort_keys=True) + '\n')
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


def report(proto: dict, evidence_dir: str) -> str:
    """The Markdown tables of the protocol's results (per comparison: per-seed values, mean ±
    std, paired difference ± SE, decision)."""
    frequent = None
    pixels = class_pixels(proto)
    if pixels is not None:
        frequent = frequent_classes(pixels, proto.get('frequent_class_fraction', 0.01))
    ev = load_evidence(evidence_dir, proto, frequent)
    check_evidence(proto, evidence_dir, ev)
    codes = load_codes(evidence_dir, proto)
    lines = ['# Evidence: results', '',
             'Generated by `python tools/analysis_tools/ablation.py --protocol '
             'docs/evidence/protocol.json --report-only` from the per-seed JSON files under '
             '`docs/evidence/runs/`; protocol, budget and decision rule in `docs/evidence.md`.',
             '']
    if frequent is not None:
        lines += [f'`{FREQUENT}`: mean IoU over the {len(frequent)} classes with at least '
                  f'{100 * proto.get("frequent_class_fraction", 0.01):g} % of the labeled test '
                  f'pixels ({", ".join(frequent)}).', '']
    lines += ['## Summary', '',
              'Difference = treatment − control, paired by seed; ± is the standard error of the '
              'mean difference (sample sd / √n). Decision: supported if the difference favours '
              'the claim by more than 2 SE, contradicted if it opposes it by more than 2 SE; '
              'provisional while fewer pairs exist than the protocol gives both arms.',
              '',
              '| comparison | split | metric | n | treatment mean ± std | control mean ± std | '
              'difference ± SE | decision |',
              '| :--- | :--- | :--- | ---: | ---: | ---: | ---: | :--- |']
    details = []
    for comp in proto['comparisons']:
        split, c_split = comp['split'], comp['control_split']
        shown = split if c_split == split else f'{split} vs {c_split}'
        claim = comp.get('claim', f'{comp["treatment"]} better than {comp["control"]}')
        where = f'on `{split}`' if c_split == split else f'on `{split}` vs on `{c_split}`'
        details += [f'### {comp["name"]}', '',
                    f'Claim: {claim} — `{comp["treatment"]}` vs `{comp["control"]}` {where}.',
                    '']
        for metric in comp['metrics']:
            t = {s: v for s in ev.get(comp['treatment'], {})
                 if (v := _value(ev, comp['treatment'], s, split, metric)) is not None}
            c = {s: v for s in ev.get(comp['control'], {})
                 if (v := _value(ev, comp['control'], s, c_split, metric)) is not None}
            res = paired(t, c, lower_is_better(metric))
            if comp.get('secondary'):
                res['decision'] = f'secondary, not a claim: {res["decision"]}'
            # A decision is final only on every seed the protocol gives both arms.
            planned = (set(proto['arms'][comp['treatment']]['seeds'])
                       & set(proto['arms'][comp['control']]['seeds']))
            if res['n'] >= 2 and res['n'] < len(planned):
                res['decision'] += f' (provisional: {res["n"]} of {len(planned)} seeds)'
            # Pairs are only comparable when all their runs used the same code (or versions
            # the protocol declares numerically equivalent for those arms).
            raw = {(comp[side], str(codes.get((comp[side], s)))) for s in res['seeds']
                   for side in ('treatment', 'control')}
            used = sorted({v for _, v in raw})
            if len({canonical_code(proto, arm, v) for arm, v in raw}) == 1 and len(used) > 1:
                details.append(f'Code versions {", ".join(used)} in the pairs of {metric} are '
                               'declared equivalent by the protocol (code_equivalence).')
            elif len(used) > 1:
                res['decision'] += ' (mixed code versions)'
                details.append(f'Mixed code versions in the pairs of {metric}: '
                               f'{", ".join(used)}; rerun from one version before reading.')
            diff = '—' if res['mean'] is None else (
                _fmt(res['mean'], metric, signed=True) +
                ('' if res['se'] is None else f' ± {_fmt(res["se"], metric)}'))
            lines.append(f'| {comp["name"]} | {shown} | {metric} | {res["n"]} | '
                         f'{_mean_std(t, metric)} | {_mean_std(c, metric)} | {diff} | '
                         f'{res["decision"]} |')
            details += [f'{metric} ({"lower" if lower_is_better(metric) else "higher"} is '
                        'better):', '', '| seed | treatment | control | difference |',
                        '| ---: | ---: | ---: | ---: |']
            for s in sorted(set(t) | set(c)):
                d = _fmt(t[s] - c[s], metric, signed=True) if s in t and s in c else '—'
                details.append(f'| {s} | {_fmt(t.get(s), metric)} | {_fmt(c.get(s), metric)} | '
                               f'{d} |')
            details.append('')
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
             'difference ± SE |', '| :--- | ---: | ---: | ---: | :--- | ---: |']
    for cls in sorted(pixels, key=lambda c: -pixels[c]):
        key = f'IoU.{cls}'
        t, c = ({s: v for s in pairs if (v := _value(ev, arm, s, sp, key)) is not None}
                for arm, sp in zip(arms, (split, c_split)))
        res = paired(t, c)
        mean_t = f'{sum(t.values()) / len(t):.2f}' if t else '—'
        mean_c = f'{sum(c.values()) / len(c):.2f}' if c else '—'
        diff = '—' if res['mean'] is None else f'{res["mean"]:+.2f}' + (
            '' if res['se'] is None else f' ± {res["se"]:.2f}')
        lines.append(f'| {cls} | {100 * pixels[cls] / total:.1f} % | {mean_t} | {mean_c} | '
                     f'{" / ".join(f"{d:+.2f}" for d in res["diffs"]) or "—"} | {diff} |')
    return '\n'.join(lines) + '\n'


def summary_block(markdown: str) -> str:
    """The summary table (and its preamble) of a :func:`report`."""
    body = markdown.split('## Summary', 1)[1].split('## Per comparison', 1)[0]
    return body.strip()


def update_readme(readme: str, block: str) -> None:
    """Replace the text between the evidence markers of ``readme`` with ``block``."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f'{readme} has no {README_BEGIN} ... {README_END} block; add the two '
                         'markers where the results table belongs.')
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    bt.write_text(readme, f'{head}{README_BEGIN}\n{block}\n{README_END}{tail}')


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
    bt.write_text(osp.join(evidence_dir, 'results.md'), markdown)
    if readme:
        update_readme(readme, summary_block(markdown))
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
