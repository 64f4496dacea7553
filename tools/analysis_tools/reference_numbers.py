"""The reference numbers of a shipped model, measured by one command.

Runs ``tools/test.py`` on a shipped checkpoint (and with ``--tta``) over the val frames of the
SynthCity that ``make demo`` generates, scores the trivial predictors on the same frames
(``trivial_baselines.py``), and writes, for the config ``configs/ccam/NAME.py`` and its
checkpoint ``checkpoints/NAME.pth`` (by default the demo model, ``ccam_lite0_synthcity_cw``):

- ``docs/reference/NAME.json``: every number, the commands, the checkpoint's sha256, a
  fingerprint of the evaluated frames, the machine and the date;
- ``docs/reference/NAME.md``: the table made from it, which is also the block between
  ``<!-- reference-numbers:NAME:begin -->`` and ``<!-- reference-numbers:NAME:end -->`` in the
  docs that hold one (``README.md`` for the demo model, ``docs/model_zoo.md`` for every shipped
  model; ``tests/test_reference_numbers.py`` checks that they agree with the JSON).

Examples::

    # measure the demo model (about 20 s for tools/test.py and 3 min for --tta on one CPU
    # thread; 5 min for the R18's --tta) and rewrite its files and blocks
    OMP_NUM_THREADS=1 python tools/analysis_tools/reference_numbers.py
    # the from-scratch R18 reference model
    OMP_NUM_THREADS=1 python tools/analysis_tools/reference_numbers.py \\
        --config configs/ccam/ccam_r18_synthcity.py
    # only re-render the Markdown and the doc blocks from the committed JSON
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
from typing import Dict, List, Optional, Sequence, Tuple

from mmseg_ccam.utils import file_sha256

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The demo model (tools/quickstart.sh, ``make demo``): measured when no --config is given.
CONFIG = 'configs/ccam/ccam_lite0_synthcity_cw.py'
DATA_ROOT = 'data/synthcity'
#: Docs searched for a model's block (each holds the blocks of the models it shows).
DOCS = ('README.md', 'docs/model_zoo.md')
#: Table names of the shipped models (another config is named after its file).
MODEL_NAMES = {'ccam_lite0_synthcity_cw': 'CCAM Lite0 cw', 'ccam_r18_synthcity': 'CCAM R18'}
#: Table columns: (JSON key, header, decimals).
COLUMNS = (('mIoU', 'mIoU', 2), ('aAcc', 'aAcc', 2), ('mAcc', 'mAcc', 2),
           ('abs_rel', 'AbsRel', 4), ('sq_rel', 'SqRel', 3), ('rmse', 'RMSE (m)', 2),
           ('rmse_log', 'RMSElog', 3), ('d1', 'δ1', 3), ('d2', 'δ2', 3), ('d3', 'δ3', 3))


def model_name(config: str) -> str:
    """``NAME`` of ``configs/.../NAME.py``: the stem of the checkpoint and reference files."""
    return osp.splitext(osp.basename(config))[0]


def default_checkpoint(config: str) -> str:
    return f'checkpoints/{model_name(config)}.pth'


def reference_paths(config: str) -> Tuple[str, str]:
    """The JSON and Markdown files of ``config``'s reference numbers."""
    stem = f'docs/reference/{model_name(config)}'
    return f'{stem}.json', f'{stem}.md'


def markers(name: str) -> Tuple[str, str]:
    """The comments around the block of model ``name`` in a doc."""
    return f'<!-- reference-numbers:{name}:begin -->', f'<!-- reference-numbers:{name}:end -->'


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
        digest.update(file_sha256(path).encode())
    images = sorted(p for p in files if p.endswith('_leftImg8bit.png'))
    return dict(files=len(files), frames=len(images), sha256=digest.hexdigest(),
                first_frame=osp.basename(images[0])[:-len('_leftImg8bit.png')] if images else None,
                first_image_sha256=file_sha256(images[0]) if images else None)


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
                   sha256=file_sha256(osp.join(ROOT, checkpoint))),
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
    config = ref['model']['config']
    json_path = reference_paths(config)[0]
    command = 'python tools/analysis_tools/reference_numbers.py' + (
        '' if config == CONFIG else f' --config {config}')
    lines = [
        f"Measured by `{command}` on "
        f"{ref['measured']['date']} (commit `{ref['measured']['git_commit']}`; "
        f"{ref['measured']['machine']}): `{ref['model']['checkpoint']}` (sha256 "
        f"`{ref['model']['sha256'][:12]}…`) with `{ref['model']['config']}` on the "
        f"{val['frames']} val frames (256×512) of `{ref['data']['generate']}` (what `make demo` "
        f"generates; val fingerprint `{val['sha256'][:12]}…`). Numbers: "
        f"[{json_path}]({json_path}).",
        '',
        '| predictor | command | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
        '|---|---|' + '---:|' * len(COLUMNS),
    ]
    name = MODEL_NAMES.get(model_name(config), model_name(config))
    names = {'test': f'{name} (shipped)', 'tta': f'{name} (shipped), `--tta`'}
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


def doc_block(markdown: str, doc: str, name: str) -> str:
    """The block of model ``name`` for ``doc`` (README.md, docs/model_zoo.md), links relative
    to it."""
    begin, end = markers(name)
    return f'{begin}\n{relink(markdown, doc)}{end}'


def replace_block(text: str, block: str, doc: str, name: str) -> str:
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f'{doc} must hold one {begin} ... {end} block.')
    return text[:text.index(begin)] + block + text[text.index(end) + len(end):]


def docs_with_block(name: str, docs: Sequence[str] = DOCS) -> List[str]:
    """The docs among ``docs`` that hold a block of model ``name``."""
    found = []
    for doc in docs:
        with open(osp.join(ROOT, doc), encoding='utf-8') as f:
            if markers(name)[0] in f.read():
                found.append(doc)
    return found


def write_outputs(ref: dict, json_out: str, md_out: str, docs: Sequence[str]) -> List[str]:
    markdown = render_markdown(ref)
    name = model_name(ref['model']['config'])
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
            f.write(replace_block(text, doc_block(markdown, doc, name), doc, name))
        written.append(doc)
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG,
                        help=f'the shipped model\'s config (default: the demo model, {CONFIG})')
    parser.add_argument('--checkpoint',
                        help='default: checkpoints/NAME.pth of configs/.../NAME.py')
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument('--no-tta', action='store_true', help='skip the --tta evaluation')
    parser.add_argument('--render-only', action='store_true',
                        help='re-render the Markdown and the doc blocks from the JSON')
    parser.add_argument('--json', help='default: docs/reference/NAME.json')
    parser.add_argument('--md', help='default: docs/reference/NAME.md')
    parser.add_argument('--docs', nargs='*',
                        help='files whose block of this model is rewritten (default: those of '
                        f'{", ".join(DOCS)} that hold one)')
    args = parser.parse_args(argv)
    json_out, md_out = reference_paths(args.config)
    json_out, md_out = args.json or json_out, args.md or md_out
    name = model_name(args.config)
    docs = docs_with_block(name) if args.docs is None else args.docs
    if args.docs is None and not docs:
        begin, end = markers(name)
        raise SystemExit(f'none of {", ".join(DOCS)} holds a {begin} ... {end} block; add one '
                         'where the numbers belong, or give --docs (none: --docs with no file).')
    if args.render_only:
        with open(osp.join(ROOT, json_out), encoding='utf-8') as f:
            ref = json.load(f)
    else:
        ref = measure(args.config, args.checkpoint or default_checkpoint(args.config),
                      args.data_root, tta=not args.no_tta)
    for path in write_outputs(ref, json_out, md_out, docs):
        print(f'written: {path}')
    print(render_markdown(ref))


if __name__ == '__main__':
    main()
