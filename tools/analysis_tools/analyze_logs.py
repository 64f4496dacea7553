"""Plot or tabulate training curves from MMEngine's scalar logs.

MMEngine's ``LocalVisBackend`` appends one JSON object per line to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (and the same lines to
``vis_data/<timestamp>.json``): training lines hold ``lr``, ``loss``, ``decode.loss_ce``,
``depth.loss_silog``, ..., ``iter`` and ``step``; validation lines hold the metrics (``mIoU``,
``aAcc``, ``abs_rel``, ..., possibly prefixed like ``depth/abs_rel``) and ``step`` (the
iteration, or the epoch with ``log_metric_by_epoch``). Each key is plotted against ``step``;
a key ``K`` also matches a logged ``prefix/K`` when that is the only such key. A log is given as
its ``scalars.json``, its run folder (``<work_dir>/<timestamp>``) or the work dir (all its runs,
a resumed run's included). A wrong path or a key that is not logged is one line on stderr and
exit status 2.

Example::

    python tools/analysis_tools/analyze_logs.py plot \
        work_dirs/ccam/20240101_000000/vis_data/scalars.json \
        work_dirs/no_ccam/20240101_000000/vis_data/scalars.json \
        --keys loss decode.loss_ce depth.loss_silog mIoU abs_rel --out curves.png

    # the semi-supervised diagnostics of three seeds at four iterations, averaged over the
    # 100 iterations before each (a work dir merges the logs of a resumed run)
    python tools/analysis_tools/analyze_logs.py table work_dirs/evidence/semi/seed{0,1,2} \
        --keys unsup.share_above_tau unsup.pasted_frac --steps 250 500 750 1000 --window 100
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def read_log(path: str) -> List[dict]:
    """All JSON lines of a scalar log (blank lines skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Log {path!r} does not exist; pass '
                                '<work_dir>/<timestamp>/vis_data/scalars.json.')
    records = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                raise ValueError(f'{path}:{number} is not a JSON object ({err}); expected '
                                 'MMEngine scalars.json lines.') from err
            if not isinstance(record, dict):
                raise ValueError(f'{path}:{number} is not a JSON object.')
            records.append(record)
    return records


def resolve_key(records: Sequence[dict], key: str, path: str = 'log') -> Optional[str]:
    """The logged name of ``key``: itself, or the only ``<prefix>/key``; None if absent."""
    names = {k for r in records for k in r}
    if key in names:
        return key
    matches = sorted(k for k in names if k.rsplit('/', 1)[-1] == key)
    if len(matches) > 1:
        raise ValueError(f'{path}: key {key!r} is ambiguous ({matches}); pass the full name.')
    return matches[0] if matches else None


def load_series(path: str, key: str) -> Tuple[np.ndarray, np.ndarray]:
    """Steps and values of one scalar in a log, in file order.

    A resumed run logs in a new timestamp folder; when one file holds a step twice (e.g. a
    restarted run appended to it) the last value wins.

    Args:
        path (str): ``scalars.json`` (or ``<timestamp>.json``) of a run.
        key (str): Scalar name, e.g. 'loss' or 'mIoU'.

    Returns:
        tuple[np.ndarray, np.ndarray]: int64 steps (sorted, unique) and float64 values; both
        empty when the key is not in the log.
    """
    return series_from_records(read_log(path), key, path)


def series_from_records(records: Sequence[dict], key: str,
                        path: str = 'log') -> Tuple[np.ndarray, np.ndarray]:
    """:func:`load_series` on the records of a log already read (``path`` names it in
    errors)."""
    name = resolve_key(records, key, path)
    by_step: Dict[int, float] = {}
    if name is not None:
        for number, r in enumerate(records, 1):
            if name not in r:
                continue
            if 'step' not in r:
                raise ValueError(f'{path}: line {number} has {name!r} but no "step".')
            value = r[name]
            by_step[int(r['step'])] = float('nan') if value is None else float(value)
    steps = np.array(sorted(by_step), dtype=np.int64)
    values = np.array([by_step[s] for s in steps], dtype=np.float64)
    return steps, values


def run_logs(path: str) -> List[str]:
    """The scalar logs of ``path``: itself if a file; the ``scalars.json`` of a run folder
    (``<work_dir>/<timestamp>`` or its ``vis_data``); else every
    ``<path>/<timestamp>/vis_data/scalars.json`` of a work dir, oldest first (a resumed run
    writes a new timestamp folder)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path!r} is neither a scalars.json, a run folder nor a work '
                                'dir.')
    for inner in (osp.join(path, 'vis_data', 'scalars.json'), osp.join(path, 'scalars.json')):
        if osp.isfile(inner):  # one run folder: its log only
            return [inner]
    logs = sorted(osp.join(path, d, 'vis_data', 'scalars.json') for d in os.listdir(path)
                  if osp.isfile(osp.join(path, d, 'vis_data', 'scalars.json')))
    if not logs:
        raise FileNotFoundError(f'No <timestamp>/vis_data/scalars.json under work dir {path!r}; '
                                'pass the scalars.json of the run instead.')
    return logs


def read_run(path: str) -> Dict[str, List[dict]]:
    """``{log: records}`` of every log of a run (see :func:`run_logs`), oldest first."""
    return {log: read_log(log) for log in run_logs(path)}


def load_run_series(path: str, key: str,
                    logs: Optional[Dict[str, List[dict]]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`load_series` over all logs of a run (see :func:`run_logs`); a step logged by
    several of them (a resumed run replays from its checkpoint) takes the newest value.
    ``logs``: the run's logs as :func:`read_run` returns them, to read each file once when
    several keys are wanted."""
    by_step: Dict[int, float] = {}
    for log, records in (read_run(path) if logs is None else logs).items():
        steps, values = series_from_records(records, key, log)
        by_step.update(zip(steps.tolist(), values.tolist()))
    steps = np.array(sorted(by_step), dtype=np.int64)
    return steps, np.array([by_step[s] for s in steps], dtype=np.float64)


def last_step(logs: Dict[str, List[dict]]) -> Optional[int]:
    """The last step any line of a run's logs has (how far the run got); None if none has
    one."""
    steps = [int(r['step']) for records in logs.values() for r in records if 'step' in r]
    return max(steps) if steps else None


def value_at(steps: np.ndarray, values: np.ndarray, step: int, window: int = 0) -> float:
    """The mean of the values logged in ``(step - window, step]``; with ``window=0`` the last
    value logged at or before ``step``. NaN when nothing was logged there."""
    if window > 0:
        chosen = values[(steps > step - window) & (steps <= step)]
        return float(np.nanmean(chosen)) if np.isfinite(chosen).any() else float('nan')
    before = np.flatnonzero(steps <= step)
    return float(values[before[-1]]) if before.size else float('nan')


def summary_table(paths: Sequence[str], keys: Sequence[str], steps: Sequence[int],
                  window: int = 0, labels: Optional[Sequence[str]] = None) -> str:
    """A Markdown table: one row per key and step, one column per run, and the mean over the
    runs (NaN entries left out) when there are several.

    A step after the last step a run logged (the run stopped, or has not got there yet) is
    '–' for that run, and a note under the table says so: the run's last value is not that
    step's."""
    labels = list(labels) if labels else [
        default_label(p) if osp.isfile(p) else osp.basename(osp.normpath(p)) for p in paths]
    if len(labels) != len(paths):
        raise ValueError(f'{len(labels)} labels for {len(paths)} runs.')
    runs = [read_run(p) for p in paths]  # each file read once, whatever the number of keys
    series = {}
    for key in keys:
        found = [load_run_series(p, key, logs) for p, logs in zip(paths, runs)]
        if all(s.size == 0 for s, _ in found):
            known = sorted({k for logs in runs for records in logs.values() for r in records
                            for k in r})
            raise KeyError(f'Key {key!r} is in none of the logs; logged keys: {known}.')
        series[key] = found
    head = ['key', 'iter'] + labels + (['mean'] if len(paths) > 1 else [])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * 2 + '---:|' * (len(head) - 2)]
    ends = [last_step(logs) for logs in runs]
    notes = []
    for label, end in zip(labels, ends):
        beyond = [step for step in steps if end is not None and step > end]
        if beyond:
            notes.append(f'{label}: logged up to iteration {end}; '
                         f'{", ".join(map(str, beyond))} left blank (–).')
    for key in keys:
        for step in steps:
            row = [value_at(s, v, step, window) if end is None or step <= end else float('nan')
                   for (s, v), end in zip(series[key], ends)]
            if len(paths) > 1:
                finite = [x for x in row if np.isfinite(x)]
                row.append(float(np.mean(finite)) if finite else float('nan'))
            cells = ['–' if not np.isfinite(x) else f'{x:.4g}' for x in row]
            lines.append(f'| {key} | {step} | ' + ' | '.join(cells) + ' |')
    if notes:
        lines += [''] + [f'Note: {note}' for note in notes]
    return '\n'.join(lines)


def default_label(path: str) -> str:
    """``<work_dir>/<timestamp>`` for ``.../<work_dir>/<timestamp>/vis_data/x.json``."""
    parts = osp.normpath(osp.abspath(path)).split(os.sep)
    if len(parts) >= 4 and parts[-2] == 'vis_data':
        return f'{parts[-4]}/{parts[-3]}'
    return osp.splitext(osp.basename(path))[0]


def plot_curves(paths: Sequence[str], keys: Sequence[str], out: str,
                labels: Optional[Sequence[str]] = None, title: Optional[str] = None) -> str:
    """One panel per key, one line per log; writes ``out`` (format from its extension)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = list(labels) if labels else [
        default_label(p) if osp.isfile(p) else osp.basename(osp.normpath(p)) for p in paths]
    if len(labels) != len(paths):
        raise ValueError(f'{len(labels)} legend labels for {len(paths)} logs.')
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.8 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        plotted, missing = 0, []
        for path, label in zip(paths, labels):
            steps, values = load_run_series(path, key)
            if len(steps) == 0:
                missing.append(path)
                continue
            marker = 'o' if len(steps) < 30 else None
            ax.plot(steps, values, label=label, marker=marker, markersize=3)
            plotted += 1
        if plotted == 0:
            plt.close(fig)
            known = sorted({k for p in paths for log in run_logs(p) for r in read_log(log)
                            for k in r})
            raise KeyError(f'Key {key!r} is in none of the logs; logged keys: {known}.')
        for path in missing:
            print(f'analyze_logs.py: {key!r} is not in {path}', file=sys.stderr)
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small')
    axes[-1, 0].set_xlabel('iteration')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyse MMEngine scalar logs')
    sub = parser.add_subparsers(dest='command', required=True)
    plot = sub.add_parser('plot', help='plot scalars against the iteration')
    plot.add_argument('logs', nargs='+',
                      help='vis_data/scalars.json files, run folders or work dirs')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='scalars to plot')
    plot.add_argument('--legend', nargs='+', help='one label per log')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', required=True, help='output image, e.g. curves.png')
    table = sub.add_parser('table', help='Markdown table of scalars at chosen iterations')
    table.add_argument('runs', nargs='+', help='work dirs (all their logs) or scalars.json files')
    table.add_argument('--keys', nargs='+', required=True, help='scalars to tabulate')
    table.add_argument('--steps', nargs='+', type=int, required=True, help='iterations')
    table.add_argument('--window', type=int, default=0,
                       help='average over (step - window, step]; 0: last value at or before')
    table.add_argument('--labels', nargs='+', help='one column label per run')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, KeyError, ValueError) as err:
        # A path or key the user gave is wrong: one line that says which, no traceback.
        message = err.args[0] if err.args else repr(err)
        print(f'analyze_logs.py: {message}', file=sys.stderr)
        sys.exit(2)


def run(args: argparse.Namespace) -> None:
    if args.command == 'plot':
        out = plot_curves(args.logs, args.keys, args.out, args.legend, args.title)
        print(f'curves written to {out}')
    elif args.command == 'table':
        print(summary_table(args.runs, args.keys, args.steps, args.window, args.labels))


if __name__ == '__main__':
    main()
