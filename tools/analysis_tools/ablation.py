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
(:mod:`mmseg_ccam.analysis.evidence.readme`); the full tables stay in ``results.md``.
"""

import argparse
import math
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

# The logic lives in mmseg_ccam.analysis.evidence; the names the tests and hostile_cases.py
# reach through this tool are re-exported.
from mmseg_ccam.analysis.evidence.power import power_report
from mmseg_ccam.analysis.evidence.protocol import (  # noqa: F401
    arm_splits,
    frequent_classes,
    load_protocol,
    protocol_runs,
)
from mmseg_ccam.analysis.evidence.readme import (  # noqa: F401
    README_BEGIN,
    README_END,
    readme_block,
    summary_block,
    update_readme,
)
from mmseg_ccam.analysis.evidence.report import per_class_report, report  # noqa: F401
from mmseg_ccam.analysis.evidence.results import (  # noqa: F401
    frequent_redundancy,
    mean_iou_over,
    paired,
)
from mmseg_ccam.analysis.evidence.runner import run_protocol
from mmseg_ccam.analysis.evidence.runs import (  # noqa: F401
    DEFAULT_TEST_CMD,
    DEFAULT_TRAIN_CMD,
    ROOT,
    dump_json,
    expand,
    last_checkpoint,
    run_state,
)
from mmseg_ccam.analysis.evidence.sweep import plan_runs, run_ablation  # noqa: F401


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
