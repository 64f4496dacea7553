"""Compare the tensors of two checkpoints exactly (``torch.equal``), for refactors that must not
change behaviour.

Every tensor of the ``state_dict`` (and, with ``--optimizer``, of the optimizer state) is
compared by key; the table lists the tensors that differ, with their largest absolute
difference, and the keys present in one file only. Exit status 0 when every tensor is
bit-identical and both files hold the same keys, 1 otherwise.

Examples::

    python tools/analysis_tools/compare_weights.py before/iter_20.pth after/iter_20.pth
    python tools/analysis_tools/compare_weights.py a.pth b.pth --optimizer
"""
import argparse
import sys
from typing import Dict, List, Optional

import torch


def flatten_tensors(obj, prefix: str = '') -> Dict[str, torch.Tensor]:
    """Every tensor inside nested dicts / lists / tuples, keyed by its dotted path."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten_tensors(v, f'{prefix}.{k}' if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten_tensors(v, f'{prefix}.{i}' if prefix else str(i)))
    return out


def compare(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> List[tuple]:
    """Rows ``(key, status, max_abs_diff)`` for the keys that are not bit-identical."""
    rows = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            rows.append((key, 'only in A', None))
        elif key not in a:
            rows.append((key, 'only in B', None))
        elif a[key].shape != b[key].shape or a[key].dtype != b[key].dtype:
            rows.append((key, f'shape/dtype {tuple(a[key].shape)} {a[key].dtype} vs '
                         f'{tuple(b[key].shape)} {b[key].dtype}', None))
        elif not torch.equal(a[key], b[key]):
            diff = (a[key].double() - b[key].double()).abs().max().item() \
                if a[key].is_floating_point() else None
            rows.append((key, 'differs', diff))
    return rows


def load_parts(path: str, optimizer: bool) -> Dict[str, torch.Tensor]:
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    parts = {'state_dict': ckpt.get('state_dict', ckpt)}
    if optimizer and 'optimizer' in ckpt:
        parts['optimizer'] = ckpt['optimizer']
    return flatten_tensors(parts)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('a', help='first checkpoint (.pth)')
    parser.add_argument('b', help='second checkpoint (.pth)')
    parser.add_argument('--optimizer', action='store_true',
                        help='also compare the optimizer state (moments, steps)')
    args = parser.parse_args(argv)
    a, b = load_parts(args.a, args.optimizer), load_parts(args.b, args.optimizer)
    rows = compare(a, b)
    n_common = len(set(a) & set(b))
    if rows:
        print('| tensor | status | max abs diff |')
        print('|---|---|---|')
        for key, status, diff in rows:
            print(f'| {key} | {status} | {"" if diff is None else f"{diff:.3g}"} |')
    identical = n_common - sum(1 for r in rows if r[1] != 'only in A' and r[1] != 'only in B')
    print(f'{identical}/{n_common} common tensors bit-identical, '
          f'{sum(r[1].startswith("only") for r in rows)} key(s) in one file only: '
          f'{"IDENTICAL" if not rows else "DIFFERENT"}')
    return 0 if not rows else 1


if __name__ == '__main__':
    sys.exit(main())
