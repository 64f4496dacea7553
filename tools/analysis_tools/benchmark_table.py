"""Combine the metrics JSONs of several configs (and their benchmarks) into one table.

What the files may hold and how cells are formatted: :mod:`mmseg_ccam.evaluation.results_table`.

Example::

    python tools/analysis_tools/benchmark_table.py work_dirs/ccam.json work_dirs/no_ccam.json \
        --names CCAM "no CCAM" --benchmark work_dirs/benchmark.json \
        --out-md table.md --out-csv table.csv
"""
import argparse
from typing import Optional, Sequence

from mmseg_ccam.evaluation.results_table import (
    build_rows,
    default_names,
    format_csv,
    format_markdown,
    load_benchmarks,
    load_metrics,
    pick_columns,
    write_text,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='One comparison table from metrics JSONs')
    parser.add_argument('metrics', nargs='+', help='metrics JSON files (tools/test.py --out)')
    parser.add_argument('--names', nargs='+', help='row names, one per metrics file')
    parser.add_argument('--benchmark', nargs='+', default=[], help='benchmark JSON files')
    parser.add_argument('--benchmark-variant', nargs='+',
                        help='benchmark entry per row (one name for all rows, or one per row)')
    parser.add_argument('--columns', nargs='+', help='metric keys to show, in order')
    parser.add_argument('--per-class', action='store_true', help='add the IoU.<class> columns')
    parser.add_argument('--out-md', help='write the Markdown table here')
    parser.add_argument('--out-csv', help='write the CSV table here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    names = args.names or default_names(args.metrics)
    if len(names) != len(args.metrics):
        raise SystemExit(f'--names has {len(names)} entries for {len(args.metrics)} files.')
    variants = args.benchmark_variant
    if variants and len(variants) == 1:
        variants = variants * len(names)
    if variants and len(variants) != len(names):
        raise SystemExit(f'--benchmark-variant has {len(variants)} entries for {len(names)} rows.')
    rows = build_rows(names, [load_metrics(p) for p in args.metrics],
                      load_benchmarks(args.benchmark), variants)
    columns = pick_columns(rows, args.columns, args.per_class)
    markdown = format_markdown(rows, columns)
    print(markdown, end='')
    if args.out_md:
        write_text(args.out_md, markdown)
    if args.out_csv:
        write_text(args.out_csv, format_csv(rows, columns))
    return markdown


if __name__ == '__main__':
    main()
