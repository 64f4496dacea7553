"""Turn the metrics dict of ``runner.test()`` into the flat JSON and the printed table."""
import json
import math
from typing import Dict, List, Optional

import numpy as np

SEG_KEYS = ('mIoU', 'aAcc', 'mAcc')
DEPTH_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'silog', 'log10', 'd1', 'd2', 'd3')
# Keys every ``tools/test.py --out`` JSON carries (null when the model lacks that task).
REQUIRED_KEYS = ('mIoU', 'aAcc', 'mAcc', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'silog', 'd1',
                 'd2', 'd3')
CLASS_PREFIX = 'IoU.'


def flatten_metrics(metrics: Dict[str, float]) -> Dict[str, Optional[float]]:
    """Strip evaluator prefixes (``depth/abs_rel`` -> ``abs_rel``) and fill missing keys.

    MMEngine prefixes metric names with a metric's ``prefix``; the JSON written by
    ``tools/test.py`` uses bare names so that files from different configs line up.
    """
    flat: Dict[str, Optional[float]] = {}
    for key, value in metrics.items():
        name = key.split('/', 1)[-1]
        if name in flat:
            raise ValueError(f'Metric {name!r} is reported twice ({key!r}); give the metrics '
                             'distinct names or prefixes.')
        if isinstance(value, np.float32):
            # str() gives the shortest repr of the float32 (60.0, not 59.99999847...).
            value = float(str(value))
        flat[name] = float(value) if value is not None else None
    for key in REQUIRED_KEYS:
        flat.setdefault(key, None)
    return flat


def json_ready(flat: Dict[str, Optional[float]]) -> Dict[str, Optional[float]]:
    """``flat`` with NaN and infinities replaced by ``None`` (JSON ``null``).

    A class absent from the evaluated images has IoU ``NaN``; Python's ``json`` would write the
    bare token ``NaN``, which strict JSON parsers (``jq``, JavaScript, Go, ``json.loads`` with
    ``parse_constant``) reject. ``null`` means "not defined on this set".
    """
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in flat.items()}


def check_output_file(path: str, option: str = '--out') -> None:
    """Refuse an output file that cannot be written, before the long work that fills it.

    Raises:
        IsADirectoryError: ``path`` is a directory.
        PermissionError: its folder (created if missing) is not writable, or the file is not.
    """
    import os
    import os.path as osp
    if osp.isdir(path):
        raise IsADirectoryError(f'{option} {path!r} is a directory; give a file name, e.g. '
                                f'{osp.join(path, "metrics.json")}.')
    folder = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise PermissionError(f'{option} {path!r}: cannot create its folder {folder!r} '
                              f'({err.strerror}); give a writable path (checked before the '
                              'evaluation, so nothing was lost).') from None
    existed = osp.exists(path)
    try:  # a real open: os.access says yes to root on read-only mounts
        with open(path, 'a', encoding='utf-8'):
            pass
    except OSError as err:
        raise PermissionError(f'{option} {path!r} is not writable ({err.strerror}); give a '
                              'writable path (checked before the evaluation, so nothing was '
                              'lost).') from None
    if not existed:
        # Every rank of `dist_test.sh` probes the same path: another rank may have removed
        # the probe already, which is no error (only rank 0 writes the file later).
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def write_metrics_json(flat: Dict[str, Optional[float]], path: str) -> None:
    """Write :func:`json_ready` ``(flat)`` as strict JSON (``allow_nan=False``)."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(json_ready(flat), f, indent=2, allow_nan=False)


def _fmt(value: Optional[float], digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def _table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def row(cells: List[str]) -> str:
        return '| ' + ' | '.join(c.rjust(w) for c, w in zip(cells, widths)) + ' |'

    return '\n'.join([line, row(header), line] + [row(r) for r in rows] + [line])


def format_metrics_table(flat: Dict[str, Optional[float]]) -> str:
    """One text table with both tasks: summary rows, then per-class IoU.

    Args:
        flat (dict): Output of :func:`flatten_metrics`.
    """
    rows = [['segmentation', key, _fmt(flat.get(key), 2)] for key in SEG_KEYS]
    rows += [['depth', key, _fmt(flat.get(key))] for key in DEPTH_KEYS if key in flat]
    rows += [['IoU', key[len(CLASS_PREFIX):], _fmt(value, 2)]
             for key, value in flat.items() if key.startswith(CLASS_PREFIX)]
    return _table(['task', 'metric', 'value'], rows)
