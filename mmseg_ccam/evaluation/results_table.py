"""Combine the metrics JSONs of several configs (and their benchmarks) into one table.

Each metrics file is the flat JSON written by ``tools/test.py --out`` (values are numbers or
null), or a summary with ``{"mean": m, "std": s, "n": k}`` per metric (as written by
``ablation.py``). Benchmark files hold ``params`` and ``flops`` (raw counts, shown in millions
and billions), ``latency_ms``, ``train_step_ms`` and ``peak_mem_mb`` per model variant, as a
list of objects with a ``name`` (or ``variant`` / ``config``), as a dict ``{variant: {...}}`` or
as one object (named after its file), or as ``benchmark.py --json`` writes it (the dict under
``"variants"``: ``joint``, ``no_attention``, ``seg_only``, ``depth_only``). A row takes the
entry named by ``--benchmark-variant`` or, by default, by the row name.

The best value of each column is bold: highest for mIoU, aAcc, mAcc, IoU.* and d1-d3, lowest for
the errors, parameters, FLOPs, time and memory (compared as displayed, so ties are all bold;
a column with a single value has no bold).

The command line is ``tools/analysis_tools/benchmark_table.py``;
``tools/analysis_tools/ablation.py`` formats its summaries with the same functions.
"""
import csv
import io
import json
import math
import os
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

SEG_COLUMNS = ('mIoU', 'aAcc', 'mAcc')
DEPTH_COLUMNS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'silog', 'log10', 'd1', 'd2', 'd3')
BENCH_COLUMNS = ('params', 'flops', 'latency_ms', 'train_step_ms', 'peak_mem_mb')
HIGHER_IS_BETTER = frozenset(SEG_COLUMNS + ('d1', 'd2', 'd3'))
# Column -> (header, scale applied before display, decimals).
DISPLAY = {
    'mIoU': ('mIoU', 1.0, 2), 'aAcc': ('aAcc', 1.0, 2), 'mAcc': ('mAcc', 1.0, 2),
    'abs_rel': ('AbsRel', 1.0, 4), 'sq_rel': ('SqRel', 1.0, 4), 'rmse': ('RMSE', 1.0, 3),
    'rmse_log': ('RMSElog', 1.0, 4), 'silog': ('SILog', 1.0, 3), 'log10': ('log10', 1.0, 4),
    'd1': ('d1', 1.0, 4), 'd2': ('d2', 1.0, 4), 'd3': ('d3', 1.0, 4),
    'params': ('params (M)', 1e-6, 2), 'flops': ('FLOPs (G)', 1e-9, 2),
    'latency_ms': ('latency (ms)', 1.0, 2), 'train_step_ms': ('train step (ms)', 1.0, 1),
    'peak_mem_mb': ('peak mem (MB)', 1.0, 0),
}
CLASS_PREFIX = 'IoU.'
NAME_KEYS = ('name', 'variant', 'config')


@dataclass(frozen=True)
class Stat:
    """One cell: a value, or the mean and sample std over ``n`` runs."""
    mean: float
    std: Optional[float] = None
    n: Optional[int] = None


Cell = Union[Stat, str, None]


@dataclass
class Row:
    """A table row: its name and a cell per column key."""
    name: str
    cells: Dict[str, Cell]


def higher_is_better(column: str) -> bool:
    return column in HIGHER_IS_BETTER or column.startswith(CLASS_PREFIX)


def display_spec(column: str):
    if column in DISPLAY:
        return DISPLAY[column]
    if column.startswith(CLASS_PREFIX):
        return column, 1.0, 2
    return column, 1.0, 4


def to_stat(value, source: str, key: str) -> Optional[Stat]:
    """A JSON value (number, null, or ``{"mean", "std", "n"}``) as a :class:`Stat`."""
    if value is None:
        return None
    if isinstance(value, dict):
        if 'mean' not in value:
            raise ValueError(f'{source}: "{key}" is an object without "mean"; expected a number '
                             'or {"mean": m, "std": s, "n": k}.')
        mean = value['mean']
        if mean is None:
            return None
        std = value.get('std')
        n = value.get('n')
        return Stat(float(mean), None if std is None else float(std),
                    None if n is None else int(n))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{source}: "{key}" = {value!r} is not a number.')
    if math.isnan(value):
        return None
    return Stat(float(value))


def load_json(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} does not exist.')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except ValueError as err:
            raise ValueError(f'{path} is not valid JSON ({err}).') from err


def load_metrics(path: str) -> Dict[str, Optional[Stat]]:
    """Read a metrics JSON (flat from ``tools/test.py`` or mean/std summary)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics (tools/test.py --out).')
    return {key: to_stat(value, path, key) for key, value in data.items()}


def load_benchmarks(paths: Sequence[str]) -> Dict[str, Dict[str, Optional[Stat]]]:
    """All benchmark entries of ``paths`` by variant name (see the module docstring)."""
    entries: Dict[str, Dict[str, Optional[Stat]]] = {}

    def add(name: str, entry, path: str) -> None:
        if not isinstance(entry, dict):
            raise ValueError(f'{path}: benchmark entry {name!r} is not an object.')
        if name in entries:
            raise ValueError(f'{path}: benchmark variant {name!r} appears twice.')
        entries[name] = {key: to_stat(entry[key], path, key) for key in BENCH_COLUMNS
                         if key in entry}

    for path in paths:
        data = load_json(path)
        if isinstance(data, dict) and isinstance(data.get('variants'), dict):
            data = data['variants']  # the --json file of benchmark.py: run info + variants
        if isinstance(data, list):
            for i, entry in enumerate(data):
                name = next((entry[k] for k in NAME_KEYS
                             if isinstance(entry, dict) and k in entry), None)
                if name is None:
                    raise ValueError(f'{path}: entry {i} has none of {NAME_KEYS} to name it.')
                add(str(name), entry, path)
        elif isinstance(data, dict) and any(k in data for k in BENCH_COLUMNS):
            name = next((data[k] for k in NAME_KEYS if k in data),
                        osp.splitext(osp.basename(path))[0])
            add(str(name), data, path)
        elif isinstance(data, dict):
            for name, entry in data.items():
                add(str(name), entry, path)
        else:
            raise ValueError(f'{path}: expected a list or an object of benchmark entries.')
    return entries


def default_names(paths: Sequence[str]) -> List[str]:
    """Row names from file names; files with the same name get their folder as prefix."""
    stems = [osp.splitext(osp.basename(p))[0] for p in paths]
    return [
        f'{osp.basename(osp.dirname(osp.abspath(p)))}/{s}' if stems.count(s) > 1 else s
        for p, s in zip(paths, stems)
    ]


def build_rows(names: Sequence[str],
               metrics: Sequence[Dict[str, Optional[Stat]]],
               benchmarks: Optional[Dict[str, Dict[str, Optional[Stat]]]] = None,
               variants: Optional[Sequence[Optional[str]]] = None) -> List[Row]:
    """One row per config: its metrics and the benchmark entry of its variant."""
    if len(names) != len(metrics):
        raise ValueError(f'{len(names)} names for {len(metrics)} metrics files.')
    rows = []
    for i, (name, values) in enumerate(zip(names, metrics)):
        cells: Dict[str, Cell] = dict(values)
        if benchmarks:
            variant = (variants[i] if variants else None) or name
            if variant in benchmarks:
                cells.update(benchmarks[variant])
            else:
                warnings.warn(f'benchmark_table: no benchmark entry named {variant!r} for row '
                              f'{name!r} (entries: {sorted(benchmarks)})', stacklevel=2)
        rows.append(Row(name, cells))
    return rows


def pick_columns(rows: Sequence[Row], columns: Optional[Sequence[str]] = None,
                 per_class: bool = False) -> List[str]:
    """Requested columns, or the standard ones that have a value in some row.

    Raises:
        ValueError: a requested column that no row has (a typo would print a column of '-').
    """
    if columns:
        known = set(SEG_COLUMNS + DEPTH_COLUMNS + BENCH_COLUMNS)
        for row in rows:
            known |= set(row.cells)
        unknown = [c for c in columns if c not in known]
        if unknown:
            import difflib
            hints = [f'{c!r}' + (f' (did you mean {close[0]!r}?)' if (
                close := difflib.get_close_matches(c, sorted(known), n=1)) else '')
                for c in unknown]
            raise ValueError(f'--columns: unknown column(s) {", ".join(hints)}; the files '
                             f'have {sorted(k for k in known if not k.startswith("IoU."))} '
                             'and IoU.<class>.')
        return list(columns)
    keys = list(SEG_COLUMNS + DEPTH_COLUMNS + BENCH_COLUMNS)
    if per_class:
        for row in rows:
            keys += [k for k in row.cells if k.startswith(CLASS_PREFIX) and k not in keys]
    return [k for k in keys if any(row.cells.get(k) is not None for row in rows)]


def _fmt(x: float, column: str) -> str:
    _, scale, digits = display_spec(column)
    return f'{x * scale:.{digits}f}'


def format_cell(cell: Cell, column: str) -> str:
    if cell is None:
        return '-'
    if isinstance(cell, str):
        return cell
    text = _fmt(cell.mean, column)
    if cell.std is not None:
        text += f' ± {_fmt(cell.std, column)}'
    return text


def best_rows(rows: Sequence[Row], column: str) -> List[int]:
    """Indices of the rows with the best displayed value of ``column`` (none if < 2 values)."""
    shown = [(i, float(_fmt(r.cells[column].mean, column))) for i, r in enumerate(rows)
             if isinstance(r.cells.get(column), Stat)]
    if len(shown) < 2:
        return []
    pick = max if higher_is_better(column) else min
    best = pick(v for _, v in shown)
    return [i for i, v in shown if v == best]


def format_markdown(rows: Sequence[Row], columns: Sequence[str],
                    name_header: str = 'config') -> str:
    """Markdown table with the best value per column in bold."""
    bold = {c: set(best_rows(rows, c)) for c in columns}
    header = [name_header] + [display_spec(c)[0] for c in columns]
    lines = ['| ' + ' | '.join(header) + ' |',
             '| ' + ' | '.join([':---'] + ['---:'] * len(columns)) + ' |']
    for i, row in enumerate(rows):
        cells = [row.name]
        for c in columns:
            text = format_cell(row.cells.get(c), c)
            cells.append(f'**{text}**' if i in bold[c] else text)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def format_csv(rows: Sequence[Row], columns: Sequence[str], name_header: str = 'config') -> str:
    """CSV with raw values (no scaling, no rounding); ``<col>_std`` after a column that has a
    standard deviation in some row."""
    with_std = {c for c in columns
                if any(isinstance(r.cells.get(c), Stat) and r.cells[c].std is not None
                       for r in rows)}
    header = [name_header]
    for c in columns:
        header += [c] + ([f'{c}_std'] if c in with_std else [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(header)
    for row in rows:
        out = [row.name]
        for c in columns:
            cell = row.cells.get(c)
            if isinstance(cell, str):
                out.append(cell)
            else:
                out.append('' if cell is None else repr(cell.mean))
            if c in with_std:
                std = cell.std if isinstance(cell, Stat) else None
                out.append('' if std is None else repr(std))
        writer.writerow(out)
    return buf.getvalue()


def write_text(path: str, text: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
