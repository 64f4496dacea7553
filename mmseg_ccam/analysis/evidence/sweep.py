"""Seed sweeps of several configs (``ablation.py CONFIG... --seeds``): plan, run, and
mean ± std per metric into ``summary.json`` and ``ablation.md`` / ``.csv``.
"""
import math
import os.path as osp
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence

from mmseg_ccam.evaluation import results_table

from .runs import (
    DEFAULT_TEST_CMD,
    DEFAULT_TRAIN_CMD,
    Run,
    dump_json,
    read_metrics,
    run_one,
    run_state,
)

__all__ = ['SUMMARY_FILE', 'config_name', 'plan_runs', 'aggregate', 'summarize', 'run_ablation']

SUMMARY_FILE = 'summary.json'


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
