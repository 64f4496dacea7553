"""The reference numbers of the shipped model, measured by one command.

Runs ``tools/test.py`` on the shipped checkpoint (and with ``--tta``) over the val frames of the
SynthCity that ``make demo`` generates, scores the trivial predictors on the same frames
(``trivial_baselines.py``), and writes

- ``docs/reference/ccam_r18_synthcity.json``: every number, the commands, the checkpoint's
  sha256, a fingerprint of the evaluated frames, the machine and the date;
- ``docs/reference/ccam_r18_synthcity.md``: the table made from it, which is also the block
  between ``<!-- reference-numbers:begin -->`` and ``<!-- reference-numbers:end -->`` in
  ``README.md`` and ``docs/model_zoo.md`` (``tests/test_reference_numbers.py`` checks that they
  agree with the JSON).

Examples::

    # measure (about 20 s for tools/test.py and 4 min for --tta on one CPU thread) and rewrite
    OMP_NUM_THREADS=1 python tools/analysis_tools/reference_numbers.py
    # only re-render the Markdown and the two doc blocks from the committed JSON
    python tools/analysis_tools/reference_numbers.py --render-only
"""
import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import os.path as osp
import platform
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/ccam/ccam_r18_synthcity.py'
CHECKPOINT = 'checkpoints/ccam_r18_synthcity.pth'
DATA_ROOT = 'data/synthcity'
JSON_OUT = 'docs/reference/ccam_r18_synthcity.json'
MD_OUT = 'docs/reference/ccam_r18_synthcity.md'
DOCS = ('README.md', 'docs/model_zoo.md')
BEGIN = '<!-- reference-numbers:begin -->'
END = '<!-- reference-numbers:end -->'
#: Table columns: (JSON key, header, decimals).
COLUMNS = (('mIoU', 'mIoU', 2), ('aAcc', 'aAcc', 2), ('mAcc', 'mAcc', 2),
           ('abs_rel', 'AbsRel', 4), ('sq_rel', 'SqRel', 3), ('rmse', 'RMSE (m)', 2),
           ('rmse_log', 'RMSElog', 3), ('d1', 'δ1', 3), ('d2', 'δ2', 3), ('d3', 'δ3', 3))


def sha256_file(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def split_fingerprint(data_root: str, split: str) -> Dict[str, object]:
    """sha256 over the names and bytes of every file of ``split`` (images, labels, disparity,
    camera), and the sha256 of its first image: the same generator and seed give the same
    fingerprint."""
    digest = hashlib.sha256()
    files = []
    for folder in ('leftImg8bit', 'gtFine', 'disparity', 'camera'):
        top = osp.join(data_root, folder, split)
        for d, _, names in os.walk(top):
            files += [osp.join(d, n) for n in names]
    files.sort(key=lambda p: osp.relpath(p, data_root))
    for path in files:
        digest.update(osp.relpath(path, data_root).encode())
        digest.update(sha256_file(path).encode())
    images = sorted(p for p in files if p.endswith('_leftImg8bit.png'))
    return dict(files=len(files), frames=len(images), sha256=digest.hexdigest(),
                first_frame=osp.basename(images[0])[:-len('_leftImg8bit.png')] if images else None,
                first_image_sha256=sha256_file(images[0]) if images else None)


def run_test(config: str, checkpoint: str, data_root: str, tta: bool) -> dict:
    """``tools/test.py`` in a child process (the numbers a user gets from that command)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'metrics.json')
        command = ['python', 'tools/test.py', config, checkpoint] + (['--tta'] if tta else [])
        shown = ' '.join(command + ['--out', 'metrics.json'])
        args = [sys.executable] + command[1:] + [
            '--out', out, '--work-dir', osp.join(tmp, 'work'), '--cfg-options',
            f'test_dataloader.dataset.data_root={data_root}']
        start = time.time()
        # PYTHONPATH: this checkout's package, whatever is installed in the environment.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
        proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.time() - start
        if proc.returncode != 0:
            raise SystemExit(f'{shown} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}')
        with open(out, encoding='utf-8') as f:
            metrics = json.load(f)
    return dict(command=shown, wall_s=round(wall, 1), metrics=metrics)


def load_trivial_baselines():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'trivial_baselines.py')
    spec = importlib.util.spec_from_file_location('trivial_baselines', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.trivial_baselines


def cpu_name() -> str:
    """The CPU's ``model name`` (Linux), else what ``platform`` knows."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f'{cpu_name()} ({platform.machine()}), {os.cpu_count()} CPU cores, '
            f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}, '
            f'load average {load:.1f} at the end')


def git_commit() -> Optional[str]:
    try:
        return subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def measure(config: str, checkpoint: str, data_root: str, tta: bool) -> dict:
    """Every number of the reference file (see the module docstring)."""
    import torch
    for split in ('train', 'val'):
        folder = osp.join(data_root, 'leftImg8bit', split)
        if not osp.isdir(osp.join(ROOT, folder) if not osp.isabs(folder) else folder):
            from mmseg_ccam.utils.data_roots import missing_data_message
            raise SystemExit(missing_data_message(data_root, folder))
    absolute_root = data_root if osp.isabs(data_root) else osp.join(ROOT, data_root)
    runs = {'test': run_test(config, checkpoint, data_root, tta=False)}
    if tta:
        runs['tta'] = run_test(config, checkpoint, data_root, tta=True)
    info, flat = load_trivial_baselines()(absolute_root)
    from mmseg_ccam.utils.data_roots import GENERATE_COMMAND
    return dict(
        model=dict(config=config, checkpoint=checkpoint,
                   sha256=sha256_file(osp.join(ROOT, checkpoint))),
        data=dict(root=data_root, generate=GENERATE_COMMAND, split='val',
                  val=split_fingerprint(absolute_root, 'val')),
        runs=runs,
        trivial_baselines=dict(
            command=f'python tools/analysis_tools/trivial_baselines.py {data_root}', **info,
            metrics=flat),
        measured=dict(date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'), git_commit=git_commit(), machine=machine(),
            torch=torch.__version__))


def _cell(value, decimals: int) -> str:
    return '–' if value is None else f'{value:.{decimals}f}'


def render_markdown(ref: dict) -> str:
    """The reference table (the Markdown file and the doc blocks) from the JSON."""
    val = ref['data']['val']
    lines = [
        f"Measured by `python tools/analysis_tools/reference_numbers.py` on "
        f"{ref['measured']['date']} (commit `{ref['measured']['git_commit']}`; "
        f"{ref['measured']['machine']}): `{ref['model']['checkpoint']}` (sha256 "
        f"`{ref['model']['sha256'][:12]}…`) with `{ref['model']['config']}` on the "
        f"{val['frames']} val frames (256×512) of `{ref['data']['generate']}` (what `make demo` "
        f"generates; val fingerprint `{val['sha256'][:12]}…`). Numbers: "
        f"[docs/reference/ccam_r18_synthcity.json](docs/reference/ccam_r18_synthcity.json).",
        '',
        '| predictor | command | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
        '|---|---|' + '---:|' * len(COLUMNS),
    ]
    names = {'test': 'CCAM R18 (shipped)', 'tta': 'CCAM R18 (shipped), `--tta`'}
    for key, run in ref['runs'].items():
        m = run['metrics']
        cells = [_cell(m.get(k), d) for k, _, d in COLUMNS]
        lines.append(f"| {names.get(key, key)} | `{run['command']}` | " + ' | '.join(cells)
                     + ' |')
    tb = ref['trivial_baselines']
    cells = [_cell(tb['metrics'].get(k), d) for k, _, d in COLUMNS]
    lines.append(f"| constant `{tb['constant_class']}`, mean train depth "
                 f"{tb['mean_depth_m']:.2f} m | `{tb['command']}` | " + ' | '.join(cells) + ' |')
    per_class = sorted(((k[4:], v) for k, v in ref['runs']['test']['metrics'].items()
                        if k.startswith('IoU.') and v is not None), key=lambda kv: -kv[1])
    absent = [k[4:] for k, v in ref['runs']['test']['metrics'].items()
              if k.startswith('IoU.') and v is None]
    lines += ['', 'Per-class IoU (`tools/test.py`): '
              + ', '.join(f'{name} {value:.1f}' for name, value in per_class)
              + (f" ({', '.join(absent)}: not in the val frames)." if absent else '.')]
    times = ', '.join(f"{'`--tta`' if k == 'tta' else 'tools/test.py'} {r['wall_s']:.0f} s"
                      for k, r in ref['runs'].items())
    lines += ['', f'Wall time on that machine (model loading included): {times}.']
    return '\n'.join(lines) + '\n'


def relink(markdown: str, path: str) -> str:
    """``markdown`` with its links to ``docs/...`` made relative to the folder of ``path``
    (a file of the repository)."""
    def repl(match):
        return '](' + osp.relpath(match.group(1), osp.dirname(path) or '.') + ')'
    return re.sub(r'\]\((docs/[^)]+)\)', repl, markdown)


def doc_block(markdown: str, doc: str) -> str:
    """The block for ``doc`` (README.md, docs/model_zoo.md), links relative to it."""
    return f'{BEGIN}\n{relink(markdown, doc)}{END}'


def replace_block(text: str, block: str, doc: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f'{doc} must hold one {BEGIN} ... {END} block.')
    return text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]


def write_outputs(ref: dict, json_out: str, md_out: str, docs: Sequence[str]) -> List[str]:
    markdown = render_markdown(ref)
    written = []
    for path, content in ((json_out, json.dumps(ref, indent=2) + '\n'),
                          (md_out, relink(markdown, md_out))):
        full = osp.join(ROOT, path)
        os.makedirs(osp.dirname(full), exist_ok=True)
        with open(full, 'w', encoding='utf-8') as f:
            f.write(content)
        written.append(path)
    for doc in docs:
        full = osp.join(ROOT, doc)
        with open(full, encoding='utf-8') as f:
            text = f.read()
        with open(full, 'w', encoding='utf-8') as f:
            f.write(replace_block(text, doc_block(markdown, doc), doc))
        written.append(doc)
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--checkpoint', default=CHECKPOINT)
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument('--no-tta', action='store_true', help='skip the --tta evaluation')
    parser.add_argument('--render-only', action='store_true',
                        help='re-render the Markdown and the doc blocks from the JSON')
    parser.add_argument('--json', default=JSON_OUT)
    parser.add_argument('--md', default=MD_OUT)
    parser.add_argument('--docs', nargs='*', default=list(DOCS),
                        help='files whose reference-numbers block is rewritten')
    args = parser.parse_args(argv)
    if args.render_only:
        with open(osp.join(ROOT, args.json), encoding='utf-8') as f:
            ref = json.load(f)
    else:
        ref = measure(args.config, args.checkpoint, args.data_root, tta=not args.no_tta)
    for path in write_outputs(ref, args.json, args.md, args.docs):
        print(f'written: {path}')
    print(render_markdown(ref))


if __name__ == '__main__':
    main()
