"""One run of an evidence study: train, then test into its folder, with the record of its
settings (a rerun with other settings is refused) and strict JSON helpers.
"""
import json
import math
import os
import os.path as osp
import shlex
import subprocess
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from mmseg_ccam.evaluation import results_table

__all__ = [
    'ROOT', 'DEFAULT_TRAIN_CMD', 'DEFAULT_TEST_CMD', 'METRICS_FILE', 'Run', 'RUN_RECORD',
    'strict_json', 'dump_json', 'read_json', 'config_digest', 'run_options', 'check_run_record',
    'write_run_record', 'last_checkpoint', 'run_state', 'expand', 'run_one', 'read_metrics',
    'code_version'
]

# The repository root: tools/ and the configs' relative paths are found from it.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
DEFAULT_TRAIN_CMD = '{python} {root}/tools/train.py {config} --work-dir {work_dir} {resume} ' \
                    '{cfg_options}'
DEFAULT_TEST_CMD = '{python} {root}/tools/test.py {config} {checkpoint} ' \
                   '--work-dir {work_dir}/test --out {metrics} {cfg_options}'
METRICS_FILE = 'metrics.json'


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
    from mmseg_ccam.utils import file_sha256
    try:
        return file_sha256(config)
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


def read_metrics(path: str) -> Dict[str, Optional[float]]:
    data = read_json(path, 'metrics file')
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected the flat metrics object of tools/test.py --out.')
    return data


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
