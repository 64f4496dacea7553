"""Time AffineMix and ColorAug next to the cost of loading a sample.

Per-sample pipeline transforms (numpy) are timed at ``--height x --width`` (default 512x1024),
the batch forms (torch) per batch of ``--batch`` samples on each requested device, and the
reference cost is ``cv2.imread`` of PNGs of 1024x2048 and of the transform size, written to a
temporary directory. Inputs are synthetic (smooth colour fields with texture, 19 label blocks,
depth with holes), so the numbers do not depend on a dataset.

Example::

    python tools/analysis_tools/benchmark_augmentations.py --repeat 10 --devices cpu cuda
"""
import argparse
import os.path as osp
import tempfile
from typing import Callable, List, Tuple

import cv2
import numpy as np
import torch

from mmseg_ccam.augmentation import ColorJitter, affine_mix_batch, color_aug_batch
from mmseg_ccam.datasets.transforms.affine_mix import AffineMix
from mmseg_ccam.datasets.transforms.color_aug import ColorAug
from mmseg_ccam.utils.benchmarking import mean_median, synchronizer, time_calls


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark AffineMix / ColorAug')
    parser.add_argument('--height', type=int, default=512)
    parser.add_argument('--width', type=int, default=1024)
    parser.add_argument('--batch', type=int, default=4, help='batch size of the batch forms')
    parser.add_argument('--repeat', type=int, default=10, help='timed runs per entry')
    parser.add_argument('--devices', nargs='+', default=['cpu'],
                        help='devices for the batch forms, e.g. cpu cuda')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def synthetic_sample(rng: np.random.Generator, h: int, w: int) -> dict:
    """A textured BGR image, labels 0..18 in blocks (some ignore) and depth with holes."""
    low = rng.uniform(0, 255, (h // 32 + 1, w // 32 + 1, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    seg = cv2.resize(rng.integers(0, 19, (8, 16)).astype(np.uint8), (w, h),
                     interpolation=cv2.INTER_NEAREST)
    seg[rng.random((h, w)) < 0.05] = 255
    depth = np.broadcast_to(np.linspace(80, 3, h, dtype=np.float32)[:, None], (h, w)).copy()
    depth *= rng.uniform(0.8, 1.2, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.1] = 0
    return dict(img=img, gt_seg_map=seg, gt_depth_map=depth,
                seg_fields=['gt_seg_map', 'gt_depth_map'])


def timeit(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> Tuple[float, float]:
    """``(mean, median)`` ms of ``repeat`` calls after one warm-up (allocations, kernels)."""
    return mean_median(time_calls(fn, 1, repeat, sync))


def batch_entries(img: torch.Tensor, seg: torch.Tensor, depth: torch.Tensor,
                  conf: torch.Tensor, gen: torch.Generator) -> List[Tuple[str, Callable]]:
    """The batch-form calls to time, bound to one device's tensors."""
    return [
        ('affine_mix_batch (warp, +conf)',
         lambda: affine_mix_batch(img, seg, depth, generator=gen, extra=conf)),
        ('affine_mix_batch (warp=False)',
         lambda: affine_mix_batch(img, seg, depth, generator=gen, warp=False)),
        ('color_aug_batch (prob=0.5)', lambda: color_aug_batch(
            img, seg, generator=gen, jitter=ColorJitter(prob=0.5))),
    ]


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    h, w = args.height, args.width
    rows: List[Tuple[str, str, float, float]] = []
    no_sync = synchronizer('cpu')

    with tempfile.TemporaryDirectory() as tmp:
        for lh, lw in ((1024, 2048), (h, w)):
            path = osp.join(tmp, f'img_{lh}x{lw}.png')
            cv2.imwrite(path, synthetic_sample(rng, lh, lw)['img'])
            mean, med = timeit(lambda p=path: cv2.imread(p, cv2.IMREAD_COLOR), args.repeat,
                               no_sync)
            rows.append((f'load: cv2.imread PNG {lh}x{lw}', 'per sample', mean, med))

    a, b = synthetic_sample(rng, h, w), synthetic_sample(rng, h, w)

    def run_transform(t) -> Callable[[], dict]:
        def fn() -> dict:
            res = dict(a, seg_fields=list(a['seg_fields']), mix_results=[b])
            return t(res)
        return fn

    transforms = [
        ('AffineMix(scale 1-1.5, warp)', AffineMix(scale_range=(1.0, 1.5),
                                                   max_translate_ratio=0.2, flip_prob=0.5)),
        ('AffineMix(warp=False, DepthMix)', AffineMix(warp=False)),
        ('ColorAug(prob=0.5)', ColorAug(prob=0.5)),
        ('ColorAug(prob=1.0)', ColorAug(prob=1.0)),
    ]
    for name, t in transforms:
        mean, med = timeit(run_transform(t), args.repeat, no_sync)
        rows.append((f'transform: {name}', f'per sample {h}x{w}', mean, med))

    samples = [synthetic_sample(rng, h, w) for _ in range(args.batch)]
    img = torch.from_numpy(np.stack([s['img'] for s in samples])).permute(0, 3, 1, 2).float()
    seg = torch.from_numpy(np.stack([s['gt_seg_map'] for s in samples])).long()
    depth = torch.from_numpy(np.stack([s['gt_depth_map'] for s in samples]))
    conf = torch.rand(depth.shape)
    for dev in args.devices:
        if dev.startswith('cuda') and not torch.cuda.is_available():
            print(f'skipping {dev}: CUDA is not available')
            continue
        device = torch.device(dev)
        sync = synchronizer(dev)
        i_d, s_d, d_d, c_d = (t.to(device) for t in (img, seg, depth, conf))
        gen = torch.Generator(device=device).manual_seed(args.seed)
        shape = f'per batch {args.batch}x3x{h}x{w} ({dev})'
        entries = batch_entries(i_d, s_d, d_d, c_d, gen)
        for name, fn in entries:
            mean, med = timeit(fn, args.repeat, sync)
            rows.append((f'batch: {name}', shape, mean, med))

    ref = rows[0][2]
    name_w = max(len(r[0]) for r in rows)
    shape_w = max(len(r[1]) for r in rows)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'repeat {args.repeat}')
    print(f'{"entry":<{name_w}}  {"unit":<{shape_w}}  {"mean ms":>9}  {"median ms":>9}  '
          f'{"x load 1024x2048":>16}')
    for name, shape, mean, med in rows:
        print(f'{name:<{name_w}}  {shape:<{shape_w}}  {mean:9.2f}  {med:9.2f}  {mean / ref:16.2f}')


if __name__ == '__main__':
    main()
