"""One-command check for the first CUDA machine: train steps, memory and TTA of the R50 models.

What it does (about 3-5 minutes on one recent GPU; each phase has a timeout):

1. generates SynthCity (the package's Cityscapes-format generator) at 512 x 1024: 8 train and
   20 val frames;
2. trains, each through ``tools/train.py --amp`` (MMEngine's ``AmpOptimWrapper``, float16) for
   ``--iters`` (50) iterations at the same crop (512 x 1024) and the same 4 images per step, no
   pretrained weights (nothing is downloaded), single process (MMEngine turns SyncBN into BN):

   - ``deeplabv3plus_r50``: MMSegmentation's own DeepLabV3+ R50-D8 Cityscapes model
     (``mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py``), the
     single-task reference;
   - ``joint_r50``: ``configs/ccam/ccam_r50_cityscapes.py`` (CCAM neck, segmentation + depth);
   - ``semi_r50``: ``configs/ccam/ccam_r50_cityscapes_semi-1-8.py`` (mean teacher, 2 labeled +
     2 unlabeled frames per step, AffineMix, strong augmentation, ColorAug, EMA);

3. evaluates the joint model's last checkpoint with ``tools/test.py --tta`` (6 scales x 2 flips)
   on the 20 val frames.

A hook added to every run (:class:`GpuCheckTimerHook`) times each train iteration with the
device synchronised: ``step`` from the hooks before the iteration to the hooks after it (model
step, optimizer, EMA update; not the data loading) and ``iter`` (step plus waiting for data), and
reads ``torch.cuda.max_memory_allocated``. It prints one table: s/iteration (mean over the
iterations after ``--warmup``), peak memory, and the ratios semi step / DeepLabV3+ step (goal
<= 1.3) and joint step / DeepLabV3+ step; then the TTA time per frame and its metrics. The same
figures go to ``--json``. Exit status: 0 when every run finished with finite numbers, 1 on any
error (the failing phase and its log are named), 2 for a refused command line (no CUDA).

``--device cpu --tiny`` runs the same logic on the CPU in well under a minute (64 x 128 frames,
the three models at 1/8 width, 2 iterations, no AMP, TTA on 2 frames): the smoke mode of
``tests/test_gpu_check.py``. Its timings mean nothing.

Examples::

    python tools/analysis_tools/gpu_check.py --work-dir work_dirs/gpu_check
    bash tools/analysis_tools/gpu_check.sh --json gpu_check.json
    python tools/analysis_tools/gpu_check.py --device cpu --tiny --work-dir /tmp/gpu_check
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
if ROOT not in sys.path:  # this repository's mmseg_ccam, also when run as a script
    sys.path.insert(0, ROOT)
TIMING_FILE = 'gpu_check_timing.json'
DEEPLABV3PLUS = 'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py'
RUNS = {
    'deeplabv3plus_r50': 'mmseg::' + DEEPLABV3PLUS,
    'joint_r50': osp.join(ROOT, 'configs', 'ccam', 'ccam_r50_cityscapes.py'),
    'semi_r50': osp.join(ROOT, 'configs', 'ccam', 'ccam_r50_cityscapes_semi-1-8.py'),
}
REFERENCE = 'deeplabv3plus_r50'
SEMI_GOAL = 1.3  # semi step / DeepLabV3+ step (docs/distributed.md)
IMAGES_PER_STEP = 4
TINY_WIDTH = 8  # ResNet-50 base channels in --tiny (64 in the configs)


class GpuCheckError(RuntimeError):
    """A phase of the check failed; the message names it and where its log is."""


# ------------------------------------------------------------------------------------ the hook
def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_mib() -> float:
    """CUDA: ``max_memory_allocated``; CPU: the process's peak resident set (``ru_maxrss``)."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


@HOOKS.register_module(force=True)
class GpuCheckTimerHook(Hook):
    """Time every train / test iteration (device synchronised) and keep the peak memory;
    write them to ``out_file`` at the end of training / testing (rank 0).

    Priority ``LOWEST``: its ``after_*_iter`` runs after every other hook (the EMA update of
    ``MeanTeacherHook`` is part of a semi-supervised step). MMEngine's ``LoggerHook`` resets the
    CUDA peak-memory counter on its logging iterations, so the peak is read at every
    ``before_*_iter`` and ``after_*_iter`` and the maximum kept.

    Args:
        out_file (str): JSON written with ``mode`` ('train' / 'test'), ``step_s`` and
            ``iter_s`` (per iteration, seconds), ``peak_mem_mib``, ``mem_kind``, ``device``.
    """

    priority = 'LOWEST'

    def __init__(self, out_file: str) -> None:
        self.out_file = out_file
        self._reset()

    def _reset(self) -> None:
        self.step_s: List[float] = []
        self.iter_s: List[float] = []
        self.peak = 0.0
        self._t0 = self._last = time.perf_counter()

    def _start(self, runner) -> None:
        _sync()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._reset()

    def _tic(self) -> None:
        _sync()
        self.peak = max(self.peak, _peak_mib())
        self._t0 = time.perf_counter()

    def _toc(self) -> None:
        _sync()
        now = time.perf_counter()
        self.step_s.append(now - self._t0)
        self.iter_s.append(now - self._last)
        self._last = now
        self.peak = max(self.peak, _peak_mib())

    def _write(self, runner, mode: str) -> None:
        if runner.rank != 0:
            return
        cuda = torch.cuda.is_available()
        record = dict(mode=mode, step_s=self.step_s, iter_s=self.iter_s, peak_mem_mib=self.peak,
                      mem_kind='cuda_max_memory_allocated' if cuda else 'cpu_peak_rss',
                      device=torch.cuda.get_device_name() if cuda else 'cpu')
        with open(self.out_file, 'w') as f:
            json.dump(record, f)

    def before_train(self, runner) -> None:
        self._start(runner)

    def after_train(self, runner) -> None:
        self._write(runner, 'train')

    def before_test(self, runner) -> None:
        self._start(runner)

    def after_test(self, runner) -> None:
        self._write(runner, 'test')

    # MMEngine's Hook hands before/after_{train,val,test}_iter to these with the mode; the
    # train and test iterations are timed, validation (after the last training iteration) not.
    def _before_iter(self, runner, batch_idx: int, data_batch=None, mode: str = 'train') -> None:
        if mode != 'val':
            self._tic()

    def _after_iter(self, runner, batch_idx: int, data_batch=None, outputs=None,
                    mode: str = 'train') -> None:
        if mode != 'val':
            self._toc()


# --------------------------------------------------------------------------------- the configs
def _datasets(cfg, loader: str) -> list:
    ds = cfg[loader].dataset
    return list(ds.datasets) if 'datasets' in ds else [ds]


def _fit_pipeline(pipeline: Sequence[dict], img_scale: tuple, crop: tuple) -> None:
    """Same resize range (the frame size x 0.5-2.0) and crop in every run; test at frame size."""
    for t in pipeline:
        if t['type'] == 'RandomResize':
            t.update(scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True)
        elif t['type'] == 'RandomCrop':
            t['crop_size'] = crop
        elif t['type'] == 'Resize':
            t['scale'] = img_scale


def _shrink(model: dict) -> None:
    """ResNet-50-V1c at 1/8 width and light heads, for --tiny."""
    chans = [TINY_WIDTH * 4 * 2**i for i in range(4)]
    model['backbone'].update(base_channels=TINY_WIDTH, stem_channels=TINY_WIDTH)
    if model.get('neck'):
        model['neck']['in_channels'] = chans
    for head in ('decode_head', 'depth_head'):
        if model.get(head):
            model[head].update(in_channels=chans[-1], channels=16, c1_in_channels=chans[0],
                               c1_channels=8, dilations=(1, 2))
    if model.get('auxiliary_head'):
        model['auxiliary_head'].update(in_channels=chans[2], channels=8)


def config_path(config: str) -> str:
    """A config file's path; ``mmseg::X`` is X among the configs installed with MMSegmentation."""
    if not config.startswith('mmseg::'):
        return config
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', config[len('mmseg::'):])
    if not osp.isfile(path):
        raise GpuCheckError(f'{config}: not found at {path}; install mmsegmentation 1.x with its '
                            'configs (pip install mmsegmentation).')
    return path


def build_config(name: str, data_root: str, work_dir: str, args) -> str:
    """Dump the config of run ``name`` for the check; return its path. The joint run's config
    is also dumped for the TTA phase (``<work>/tta/joint_r50_tta.py``, its timer writing there).
    """
    from mmseg_ccam.utils.config_check import load_checked_config
    from mmseg_ccam.utils.launch import fit_schedule_to_max_iters
    cfg = load_checked_config(config_path(RUNS[name]))
    img_scale = (args.width, args.height)
    crop = tuple(args.crop)
    semi = cfg.model.type == 'MeanTeacherSegDepth'
    segmentor = cfg.model.segmentor if semi else cfg.model
    segmentor.pretrained = None  # no download; timings do not depend on the weights
    if args.tiny:
        _shrink(segmentor)
    for model in ([cfg.model, segmentor] if semi else [cfg.model]):
        model.data_preprocessor.size = crop
    for ds in _datasets(cfg, 'train_dataloader'):
        ds.data_root = data_root
        _fit_pipeline(ds.pipeline, img_scale, crop)
        if semi:
            ds.num_labeled = args.num_train // 2
    train = cfg.train_dataloader
    if semi:
        ratio = list(train.sampler.source_ratio)
        if sum(ratio) != IMAGES_PER_STEP or train.batch_size != IMAGES_PER_STEP:
            raise GpuCheckError(f'{RUNS[name]}: expected {IMAGES_PER_STEP} images per step '
                                f'(2 labeled + 2 unlabeled), got source_ratio={ratio}')
    else:
        train.batch_size = IMAGES_PER_STEP
    val_ds = cfg.val_dataloader.dataset
    val_ds.data_root = data_root
    _fit_pipeline(val_ds.pipeline, img_scale, crop)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    if name == 'joint_r50':  # the TTA scales: the config's ratios of the test scale
        for t in cfg.tta_pipeline[1]['transforms'][0]:
            r = t['scale'][0] / cfg.img_scale[0]
            t['scale'] = (int(img_scale[0] * r), int(img_scale[1] * r))
    workers = 0 if args.tiny else 4
    for loader in (train, cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=workers, persistent_workers=workers > 0)
    if name == REFERENCE:  # the reference is timed only: no validation after its last iteration
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    old_iters = cfg.train_cfg.max_iters
    cfg.train_cfg.update(max_iters=args.iters, val_interval=10 * args.iters)
    scaled = fit_schedule_to_max_iters(cfg.param_scheduler, old_iters, args.iters)
    if scaled is not None:
        cfg.param_scheduler = scaled
    keep = name == 'joint_r50'  # the TTA phase evaluates its checkpoint
    cfg.default_hooks.checkpoint.update(interval=args.iters if keep else 100 * args.iters,
                                        save_last=keep, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = min(10, args.iters)
    cfg.randomness = dict(seed=0)
    imports = list((cfg.get('custom_imports') or {}).get('imports', []))
    cfg.custom_imports = dict(imports=[m for m in ('mmseg_ccam', 'gpu_check')
                                       if m not in imports] + imports,
                              allow_failed_imports=False)
    hooks = list(cfg.get('custom_hooks') or [])
    if name == 'joint_r50':
        tta_dir = osp.join(osp.dirname(work_dir), 'tta')
        _dump_timed(cfg, hooks, tta_dir, osp.join(tta_dir, 'joint_r50_tta.py'))
    return _dump_timed(cfg, hooks, work_dir, osp.join(work_dir, f'{name}.py'))


def _dump_timed(cfg, hooks: list, timer_dir: str, path: str) -> str:
    """Dump ``cfg`` with ``hooks`` and the timer writing into ``timer_dir``; return ``path``."""
    cfg.custom_hooks = hooks + [
        dict(type='GpuCheckTimerHook', out_file=osp.join(timer_dir, TIMING_FILE))]
    os.makedirs(osp.dirname(path), exist_ok=True)
    cfg.dump(path)
    return path


# -------------------------------------------------------------------------------- the phases
def _env(args) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, HERE] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def run_phase(name: str, cmd: List[str], log: str, args) -> float:
    """Run one command (its output to ``log``); return its wall time; raise on failure."""
    t = time.time()
    with open(log, 'w') as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, env=_env(args), stdout=f,
                                stderr=subprocess.STDOUT, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            raise GpuCheckError(f'{name}: no result after {args.timeout} s (--timeout); log: '
                                f'{log}') from None
    if rc != 0:
        with open(log) as f:
            last = [ln for ln in f.read().splitlines() if ln.strip()][-1:] or ['']
        raise GpuCheckError(f'{name}: exit status {rc}; last line: {last[0][:300]}; log: {log}')
    return time.time() - t


def summarise(name: str, timing_file: str, warmup: int) -> dict:
    """Mean step / iteration seconds after ``warmup`` iterations, and the peak memory."""
    if not osp.isfile(timing_file):
        raise GpuCheckError(f'{name}: the run wrote no {TIMING_FILE} ({timing_file}); did '
                            'GpuCheckTimerHook run?')
    with open(timing_file) as f:
        record = json.load(f)
    steps, iters = record['step_s'], record['iter_s']
    if not steps:
        raise GpuCheckError(f'{name}: no iteration was timed ({timing_file})')
    skip = min(warmup, len(steps) - 1)
    step = sum(steps[skip:]) / len(steps[skip:])
    it = sum(iters[skip:]) / len(iters[skip:])
    out = dict(iters=len(steps), timed=len(steps) - skip, step_s=step, iter_s=it,
               peak_mem_mib=record['peak_mem_mib'], mem_kind=record['mem_kind'],
               device=record['device'])
    bad = [k for k in ('step_s', 'iter_s', 'peak_mem_mib') if not math.isfinite(out[k])
           or out[k] <= 0]
    if bad:
        raise GpuCheckError(f'{name}: non-positive or non-finite {bad} in {timing_file}')
    return out


def report(results: Dict[str, dict], tta: Optional[dict], args) -> str:
    """The table the check prints (Markdown)."""
    ref = results[REFERENCE]['step_s']
    amp = 'AMP float16' if args.amp else 'no AMP'
    lines = [f"GPU check on {results[REFERENCE]['device']} ({amp}"
             f', crop {args.crop[0]}x{args.crop[1]}, {IMAGES_PER_STEP} images per step, '
             f'{args.iters} iterations, mean over those after the first {args.warmup})',
             '',
             '| run | s/iter (step) | s/iter (with data) | peak memory (MiB) | step / DeepLabV3+ |',
             '|---|---|---|---|---|']
    for name, r in results.items():
        lines.append(f"| {name} | {r['step_s']:.4f} | {r['iter_s']:.4f} | "
                     f"{r['peak_mem_mib']:.0f} | {r['step_s'] / ref:.2f} |")
    semi = results['semi_r50']['step_s'] / ref
    joint = results['joint_r50']['step_s'] / ref
    lines += ['', f'semi step / DeepLabV3+ step: {semi:.2f} (goal <= {SEMI_GOAL}: '
              f"{'met' if semi <= SEMI_GOAL else 'NOT met'})",
              f'joint step / DeepLabV3+ step: {joint:.2f}']
    if tta is not None:
        metrics = ', '.join(f'{k}={tta["metrics"][k]:.4g}' for k in ('mIoU', 'abs_rel')
                            if isinstance(tta['metrics'].get(k), (int, float)))
        lines.append(f"TTA (tools/test.py --tta, {tta['frames']} frames, 12 views each): "
                     f"{tta['step_s']:.3f} s/frame, peak {tta['peak_mem_mib']:.0f} MiB; "
                     f'{metrics}')
    return '\n'.join(lines)


def check(args) -> dict:
    """All phases; returns what ``--json`` holds. Raises :class:`GpuCheckError`."""
    from mmseg_ccam.datasets.synthcity import generate_synthcity
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    data_root = osp.join(work, 'synthcity')
    t = time.time()
    generate_synthcity(data_root, num_train=args.num_train, num_val=args.num_val,
                       height=args.height, width=args.width, seed=0, progress=False,
                       workers=1 if args.tiny else min(8, os.cpu_count() or 1))
    print(f'[gpu_check] SynthCity {args.num_train}+{args.num_val} frames at '
          f'{args.height}x{args.width}: {time.time() - t:.1f} s', flush=True)
    results, phases = {}, {}
    for name in RUNS:
        run_dir = osp.join(work, name)
        cfg = build_config(name, data_root, run_dir, args)
        cmd = [sys.executable, 'tools/train.py', cfg, '--work-dir', run_dir] + (
            ['--amp'] if args.amp else [])
        phases[name] = run_phase(name, cmd, osp.join(work, f'{name}.log'), args)
        results[name] = summarise(name, osp.join(run_dir, TIMING_FILE), args.warmup)
        print(f"[gpu_check] {name}: {results[name]['step_s']:.4f} s/iter, peak "
              f"{results[name]['peak_mem_mib']:.0f} MiB ({phases[name]:.0f} s in all)",
              flush=True)
    tta_dir = osp.join(work, 'tta')
    ckpt = osp.join(work, 'joint_r50', f'iter_{args.iters}.pth')
    out_json = osp.join(tta_dir, 'metrics.json')
    # build_config('joint_r50', ...) dumped the TTA phase's config.
    cmd = [sys.executable, 'tools/test.py', osp.join(tta_dir, 'joint_r50_tta.py'), ckpt, '--tta',
           '--work-dir', tta_dir, '--out', out_json]
    phases['tta'] = run_phase('tta', cmd, osp.join(work, 'tta.log'), args)
    tta = summarise('tta', osp.join(tta_dir, TIMING_FILE), 0)
    with open(out_json) as f:
        tta['metrics'] = json.load(f)
    tta['frames'] = tta['iters']
    for key in ('mIoU', 'abs_rel'):
        value = tta['metrics'].get(key)
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise GpuCheckError(f'tta: metric {key}={value!r} is not a finite number ({out_json})')
    ref = results[REFERENCE]['step_s']
    return dict(results=results, tta=tta, phase_wall_s=phases,
                ratios=dict(semi_over_deeplabv3plus=results['semi_r50']['step_s'] / ref,
                            joint_over_deeplabv3plus=results['joint_r50']['step_s'] / ref),
                settings=dict(device=args.device, tiny=args.tiny, amp=args.amp,
                              crop=list(args.crop), frame=[args.height, args.width],
                              iters=args.iters, warmup=args.warmup,
                              images_per_step=IMAGES_PER_STEP, num_train=args.num_train,
                              num_val=args.num_val),
                torch=torch.__version__)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='One-command GPU check (see the docstring)')
    parser.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    parser.add_argument('--tiny', action='store_true',
                        help='smoke mode: 64x128 frames, 1/8-width models, 2 iterations')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'gpu_check'))
    parser.add_argument('--json', help='also write the figures to this JSON file')
    parser.add_argument('--iters', type=int, help='train iterations per run (50; --tiny 2)')
    parser.add_argument('--warmup', type=int,
                        help='iterations left out of the means (10; --tiny 0)')
    parser.add_argument('--timeout', type=int, default=300, help='seconds per phase')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.exit(2, 'gpu_check: no CUDA device here; this check is for a GPU machine. On a '
                    'CPU only the smoke mode runs: --device cpu --tiny.\n')
    if args.device == 'cpu' and not args.tiny:
        parser.exit(2, 'gpu_check: --device cpu runs the smoke mode only: add --tiny.\n')
    tiny = args.tiny
    args.height, args.width = (64, 128) if tiny else (512, 1024)
    args.crop = (64, 128) if tiny else (512, 1024)
    args.num_train, args.num_val = (8, 2) if tiny else (8, 20)
    args.iters = args.iters if args.iters is not None else (2 if tiny else 50)
    args.warmup = args.warmup if args.warmup is not None else (0 if tiny else 10)
    args.amp = args.device == 'cuda'  # AmpOptimWrapper needs CUDA (tools/train.py refuses)
    if args.iters < 1 or args.warmup < 0:
        parser.exit(2, 'gpu_check: --iters must be >= 1 and --warmup >= 0.\n')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    t = time.time()
    try:
        out = check(args)
    except GpuCheckError as e:
        print(f'gpu_check: FAILED: {e}', file=sys.stderr)
        return 1
    except Exception as e:  # anything else is a failure of the check too, with its traceback
        import traceback
        traceback.print_exc()
        print(f'gpu_check: FAILED: {type(e).__name__}: {e}', file=sys.stderr)
        return 1
    out['total_wall_s'] = time.time() - t
    print(report(out['results'], out['tta'], args))
    print(f"total: {out['total_wall_s']:.0f} s")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
