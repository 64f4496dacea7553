"""Running a protocol: the missing runs seed-major, back-filled evaluation splits, then the
report (and the README block).
"""
import os.path as osp
import shlex
import subprocess
import sys
from typing import Callable, List, Optional, Sequence

from mmseg_ccam.evaluation import results_table

from .protocol import arm_splits, evidence_path, load_protocol, protocol_runs
from .readme import readme_block, update_readme
from .report import report
from .runs import (
    DEFAULT_TEST_CMD,
    DEFAULT_TRAIN_CMD,
    ROOT,
    Run,
    check_run_record,
    code_version,
    config_digest,
    dump_json,
    expand,
    last_checkpoint,
    read_json,
    read_metrics,
    run_options,
    write_run_record,
)

__all__ = ['run_protocol_one', 'backfill_splits', 'run_protocol']

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
