"""Run regime-pilot trainings side by side, resume the interrupted ones, export their curves.

Each run is ``NAME=CONFIG[:SEED]``; it trains with ``tools/train.py`` into
``<work-root>/NAME`` (``--resume`` when a checkpoint is there), logs to ``<work-root>/NAME.log``
and, when it ends, its curve is exported to ``<export-dir>/NAME.json`` (``pilot_curves.py
export``). A run whose JSON exists is skipped, so the same command finishes a pilot across
sessions. ``--parallel`` runs go at once: on CPU each gets one thread (two runs on two cores
beat one two-thread run); on a GPU machine several small runs share the card::

    python tools/analysis_tools/pilot_runs.py \\
        cw_1-8_1600=configs/evidence/sup-1-8_lite0_cw_1600it.py \\
        cw_full_1600_s1=configs/evidence/sup_lite0_ccam_cw_1600it.py:1 --parallel 2

Prints a table: run, exit status, final val mIoU, classes with IoU >= 10, minutes.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from pilot_curves import export_run  # noqa: E402

from mmseg_ccam.analysis.regime_gate import learned_classes  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_run(spec: str) -> Dict[str, object]:
    """``NAME=CONFIG[:SEED]`` -> ``{'name', 'config', 'seed'}`` (seed 0 when not given)."""
    name, sep, rest = spec.partition('=')
    if not sep or not name or not rest:
        raise ValueError(f'run {spec!r}: expected NAME=CONFIG[:SEED], e.g. '
                         'cw_full=configs/evidence/sup_lite0_ccam_cw_1600it.py:1')
    config, _, seed = rest.partition(':')
    if not osp.isfile(config):
        raise FileNotFoundError(f'run {name!r}: config {config!r} does not exist')
    if seed and not seed.isdigit():
        raise ValueError(f'run {name!r}: seed {seed!r} is not a non-negative integer')
    return {'name': name, 'config': config, 'seed': int(seed or 0)}


def train_command(run: dict, work_root: str, options: Sequence[str] = (),
                  train_script: str = osp.join(ROOT, 'tools', 'train.py')) -> List[str]:
    """The ``tools/train.py`` command of ``run``: its seed, one loader worker, ``options``
    (``key=value`` config overrides) and ``--resume`` when its work dir holds a checkpoint."""
    work_dir = osp.join(work_root, run['name'])
    cmd = [sys.executable, train_script, run['config'], '--work-dir', work_dir,
           '--cfg-options', f"randomness.seed={run['seed']}", 'train_dataloader.num_workers=1',
           *options]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
    return cmd


def code_version(root: str = ROOT) -> str:
    """``git rev-parse --short HEAD`` of ``root`` (``-dirty`` with uncommitted changes), or
    'unknown' outside a checkout: recorded with each exported curve."""
    try:
        head = subprocess.run(['git', '-C', root, 'rev-parse', '--short=12', 'HEAD'],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return head + ('-dirty' if dirty else '')


def run_all(runs: Sequence[dict], work_root: str, export_dir: str, parallel: int,
            threads: Optional[int], options: Sequence[str] = (),
            train_script: str = osp.join(ROOT, 'tools', 'train.py')) -> List[dict]:
    """Train the runs whose export JSON does not exist, ``parallel`` at a time; export each
    that exits 0. Returns one row per run (``status`` 'exported', 'skipped' or 'failed')."""
    rows, queue, active, code = [], [], {}, code_version()
    for run in runs:
        if osp.isfile(osp.join(export_dir, f"{run['name']}.json")):
            rows.append(dict(run, status='skipped'))
        else:
            queue.append(run)
    os.makedirs(work_root, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
    while queue or active:
        while queue and len(active) < parallel:
            run = queue.pop(0)
            log = open(osp.join(work_root, f"{run['name']}.log"), 'a', encoding='utf-8')
            cmd = train_command(run, work_root, options, train_script)
            log.write(' '.join(cmd) + '\n')
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            active[proc] = (run, log, time.time())
        time.sleep(0.2)
        for proc in [p for p in active if p.poll() is not None]:
            run, log, start = active.pop(proc)
            log.close()
            row = dict(run, rc=proc.returncode, minutes=round((time.time() - start) / 60, 1))
            if proc.returncode == 0:
                exported = export_run(osp.join(work_root, run['name']), run['name'],
                                      run['config'], note=f"seed {run['seed']}, code {code}")
                os.makedirs(export_dir, exist_ok=True)
                with open(osp.join(export_dir, f"{run['name']}.json"), 'w',
                          encoding='utf-8') as f:
                    json.dump(exported, f, indent=1)
                    f.write('\n')
                row.update(status='exported', mIoU=exported['curve']['mIoU'][-1],
                           classes=len(learned_classes([exported])))
            else:
                row.update(status='failed')
            rows.append(row)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='NAME=CONFIG[:SEED]')
    parser.add_argument('--parallel', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per run (default 1; 0: leave the environment)')
    parser.add_argument('--work-root', default='work_dirs/pilot')
    parser.add_argument('--export-dir', default='docs/evidence/pilot')
    parser.add_argument('--options', nargs='*', default=[],
                        help='extra key=value config overrides for every run')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    args = parser.parse_args(argv)
    if args.parallel < 1:
        parser.error('--parallel must be >= 1')
    try:
        runs = [parse_run(s) for s in args.runs]
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.dry_run:
        for run in runs:
            print(' '.join(train_command(run, args.work_root, args.options)))
        return 0
    rows = run_all(runs, args.work_root, args.export_dir, args.parallel, args.threads or None,
                   args.options)
    print('| run | seed | status | val mIoU | classes IoU >= 10 | minutes |')
    print('| --- | ---: | --- | ---: | ---: | ---: |')
    for r in rows:
        print(f"| {r['name']} | {r['seed']} | {r['status']} (rc {r.get('rc', '-')}) | "
              f"{r.get('mIoU', '-')} | {r.get('classes', '-')} | {r.get('minutes', '-')} |")
    return 1 if any(r['status'] == 'failed' for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
