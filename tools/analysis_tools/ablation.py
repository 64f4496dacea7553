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
        configs/ccam/noccam_r18_synthcity.py --seeds 0 1 2 --work-dir work_dirs/ablation \
        --cfg-options train_cfg.max_iters=2000
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
    """The checkpoint named in ``<work_dir>/last_checkpoint`` if that file exists."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker, encoding='utf-8') as f:
        path = f.read().strip()
    if path and not osp.isabs(path) and not osp.isfile(path):
        path = osp.join(work_dir, path)
    return path if path and osp.isfile(path) else None


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
    if state == 'done':
        print(f'[ablation] {run.name} seed {run.seed}: metrics exist, skipped')
        return state
    os.makedirs(run.work_dir, exist_ok=True)
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
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
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
        with open(osp.join(work_dir, name, SUMMARY_FILE), 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=2)
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


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Multi-seed ablation: train, test, tabulate')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', required=True, help='root folder of all runs')
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
    markdown = run_ablation(args.configs, args.seeds, args.work_dir, args.cfg_options,
                            args.python, args.train_cmd, args.test_cmd, columns=args.columns,
                            dry_run=args.dry_run)
    if not args.dry_run:
        print(markdown, end='')
    return markdown


if __name__ == '__main__':
    main()
