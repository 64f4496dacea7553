"""Dump every config under ``configs/`` resolved, or compare against a dump.

A config refactor (moving blocks into ``_base_`` files) must not change what
any config resolves to. ``dump`` writes ``Config.fromfile(path).to_dict()`` of
each config as sorted JSON; ``compare`` re-resolves them and prints one line
per config (``same`` / ``DIFF`` with the differing top-level keys / load error).

Usage::

    python tools/analysis_tools/compare_configs.py dump /tmp/cfg_before
    python tools/analysis_tools/compare_configs.py compare /tmp/cfg_before
"""
import argparse
import json
import sys
from pathlib import Path

from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]


def resolve(path: Path) -> str:
    """Return the config at ``path`` resolved as sorted JSON text."""
    return json.dumps(Config.fromfile(str(path)).to_dict(), sort_keys=True,
                      default=str, indent=1)


def public_configs(root: Path) -> list:
    """Every config under ``configs/`` except the ``_base_`` fragments."""
    return sorted(p for p in (root / 'configs').rglob('*.py')
                  if '_base_' not in p.parts)


def name_of(path: Path, root: Path) -> str:
    return str(path.relative_to(root / 'configs')).replace('/', '__')[:-3]


def load_or_error(path: Path) -> str:
    try:
        return resolve(path)
    except Exception as exc:  # a config that fails must fail identically
        return f'LOAD ERROR: {type(exc).__name__}: {str(exc)[:100]}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('mode', choices=['dump', 'compare'])
    parser.add_argument('dir', type=Path, help='folder of <name>.json dumps')
    args = parser.parse_args()
    configs = public_configs(ROOT)
    if args.mode == 'dump':
        args.dir.mkdir(parents=True, exist_ok=True)
        for path in configs:
            (args.dir / f'{name_of(path, ROOT)}.json').write_text(
                load_or_error(path))
        print(f'dumped {len(configs)} configs to {args.dir}')
        return 0
    n_diff = 0
    for path in configs:
        name = name_of(path, ROOT)
        ref_file = args.dir / f'{name}.json'
        if not ref_file.exists():
            print(f'{name:55s} NEW (no dump)')
            n_diff += 1
            continue
        before, after = ref_file.read_text(), load_or_error(path)
        if before == after:
            tag = 'same (both fail to load)' if before.startswith(
                'LOAD ERROR') else 'same'
            print(f'{name:55s} {tag}')
            continue
        n_diff += 1
        if before.startswith('LOAD ERROR') or after.startswith('LOAD ERROR'):
            print(f'{name:55s} DIFF: before={before[:80]!r} after={after[:80]!r}')
            continue
        b, a = json.loads(before), json.loads(after)
        keys = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
        print(f'{name:55s} DIFF in keys: {", ".join(keys)}')
    print(f'{len(configs)} configs, {n_diff} differ')
    return 1 if n_diff else 0


if __name__ == '__main__':
    sys.exit(main())
