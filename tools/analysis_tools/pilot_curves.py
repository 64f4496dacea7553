"""Regime-gate pilot (docs/evidence.md, "Regime gate v2"): learning curves from work dirs.

Three steps, each reading only what the one before wrote:

``export``: one small JSON per run from its work dir's MMEngine scalar logs (val mIoU,
per-class IoU, AbsRel and delta1 at every validation; the mean train s/iteration)::

    python tools/analysis_tools/pilot_curves.py export work_dirs/pilot/lite0_full_1k \
        --name lite0_full_1k --config configs/evidence/sup_lite0_ccam.py \
        --note "Lite0, all labels, 1000 it" --out-dir docs/evidence/pilot

``plot``: val mIoU (and AbsRel) against iterations for several runs, plus the per-class IoU
curves of each run named with ``--classes``::

    python tools/analysis_tools/pilot_curves.py plot docs/evidence/pilot/*.json \
        --out docs/images/pilot_miou.png --classes lite0_full_1k

``gate``: G1-G3 of a fully-labeled run and its 1/8 counterpart, printed as a table::

    python tools/analysis_tools/pilot_curves.py gate docs/evidence/pilot/lite0_full_1k.json \
        --eighth docs/evidence/pilot/lite0_1-8_1k.json
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from analyze_logs import load_run_series, read_run  # noqa: E402

from mmseg_ccam.analysis.regime_gate import (  # noqa: E402
    CLASSES,
    G1_IOU,
    PRESENT,
    gate,
    gate_table,
    learned_classes,
)


def _clean(values: np.ndarray) -> List[Optional[float]]:
    return [None if math.isnan(v) else round(float(v), 4) for v in values]


def export_run(work_dir: str, name: str, config: str, note: str = '') -> dict:
    """The val curve and the train speed of one run (all logs of a resumed run merged)."""
    logs = read_run(work_dir)
    steps, miou = load_run_series(work_dir, 'mIoU', logs)
    if not len(steps):
        raise ValueError(f'{work_dir}: no validation logged yet (no mIoU in its scalars.json)')
    curve = {'step': steps.tolist(), 'mIoU': _clean(miou)}
    for key in ('abs_rel', 'd1'):
        s, v = load_run_series(work_dir, key, logs)
        curve[key] = _clean(v) if len(s) == len(steps) else None
    per_class = {}
    for cls in CLASSES:
        s, v = load_run_series(work_dir, f'IoU.{cls}', logs)
        if len(s):
            per_class[cls] = _clean(v)
    # Train lines only: validation lines log their own 'time' under the same step (at every
    # validation iteration) and would overwrite the train value; train lines hold 'loss'.
    by_step = {}
    for records in logs.values():  # oldest first: a resumed run's replayed steps win
        for r in records:
            if 'loss' in r and 'time' in r and 'step' in r:
                by_step[int(r['step'])] = float(r['time'])
    l_steps = np.array(sorted(by_step), dtype=np.int64)
    train_t = [by_step[s] for s in l_steps.tolist()]
    # The first log window holds the warm-up (first batches, lazy init): left out.
    s_per_iter = float(np.mean(train_t[1:])) if len(train_t) > 1 else None
    return {'name': name, 'config': config, 'note': note, 'curve': curve,
            'per_class_iou': per_class, 'last_train_step': int(l_steps.max()) if len(l_steps)
            else None, 's_per_iter': None if s_per_iter is None else round(s_per_iter, 3)}


def plot(runs: Sequence[dict], out: str, classes_of: Sequence[str] = ()) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for run in runs:
        c = run['curve']
        axes[0].plot(c['step'], c['mIoU'], marker='o', ms=3, label=run['name'])
        if c.get('abs_rel'):
            axes[1].plot(c['step'], c['abs_rel'], marker='o', ms=3, label=run['name'])
    axes[0].set(xlabel='iteration', ylabel='val mIoU (%)', title='SynthCity val mIoU')
    axes[1].set(xlabel='iteration', ylabel='val AbsRel', title='SynthCity val AbsRel')
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f'wrote {out}')
    for name in classes_of:
        run = next((r for r in runs if r['name'] == name), None)
        if run is None:
            raise KeyError(f'--classes {name}: no run of that name among the JSON files')
        fig, ax = plt.subplots(figsize=(9, 5))
        cmap = plt.get_cmap('tab20')
        for i, cls in enumerate(PRESENT):
            values = run['per_class_iou'].get(cls)
            if values:
                ax.plot(run['curve']['step'], [np.nan if v is None else v for v in values],
                        color=cmap(i), marker='o', ms=2, label=cls)
        ax.axhline(G1_IOU, color='k', ls='--', lw=0.8)
        ax.set(xlabel='iteration', ylabel='val IoU (%)',
               title=f'{name}: per-class val IoU (dashed: G1 threshold 10)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc='upper left', bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        path = osp.join(osp.dirname(out), f'pilot_classes_{name}.png')
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f'wrote {path}')


def _read(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('export', help='work dir -> <out-dir>/<name>.json')
    p.add_argument('work_dir')
    p.add_argument('--name', required=True)
    p.add_argument('--config', required=True, help='config (and options) the run used')
    p.add_argument('--note', default='')
    p.add_argument('--out-dir', default='docs/evidence/pilot')
    p = sub.add_parser('plot', help='JSON files -> PNG curves')
    p.add_argument('runs', nargs='+')
    p.add_argument('--out', required=True)
    p.add_argument('--classes', nargs='*', default=[], help='runs to plot per-class IoU of')
    p = sub.add_parser('gate', help='G1-G3 of fully-labeled runs (+ the 1/8 run)')
    p.add_argument('full', nargs='+', help='fully-labeled runs, one per seed, seed 0 first')
    p.add_argument('--eighth', help='the 1/8 run of seed 0')
    args = parser.parse_args(argv)

    if args.cmd == 'export':
        run = export_run(args.work_dir, args.name, args.config, args.note)
        os.makedirs(args.out_dir, exist_ok=True)
        path = osp.join(args.out_dir, f'{args.name}.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(run, f, indent=1)
            f.write('\n')
        print(f"{path}: steps {run['curve']['step']}, mIoU {run['curve']['mIoU']}, "
              f"{len(learned_classes([run]))} classes >= 10 IoU at the end, "
              f"{run['s_per_iter']} s/it")
    elif args.cmd == 'plot':
        plot([_read(path) for path in args.runs], args.out, args.classes)
    else:
        full = [_read(path) for path in args.full]
        print(gate_table(gate(full, _read(args.eighth) if args.eighth else None)))

if __name__ == '__main__':
    main()
