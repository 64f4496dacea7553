"""Benchmark the SynthCity generator on one core: frames/s and ms per stage.

Example:
    python tools/analysis_tools/benchmark_synthcity.py --num-frames 50 --height 256 --width 512
"""
import argparse
import os
import tempfile
import time

# One core: keep BLAS / OpenCV from using more threads than that.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import cv2  # noqa: E402

from mmseg_ccam.datasets.synthcity.generator import keep_freed_memory, render_frame, write_frame  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the SynthCity generator.')
    parser.add_argument('--num-frames', type=int, default=50)
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--width', type=int, default=512)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None,
                        help='folder for the PNGs (default: a temporary folder, removed after)')
    return parser.parse_args()


def run(num_frames: int, height: int, width: int, seed: int, out_dir: str) -> dict:
    """Render and write ``num_frames`` train frames; returns seconds per stage."""
    cv2.setNumThreads(1)
    render_frame(seed, 'train', 0, height, width)  # warm-up (imports, noise tiles)
    timings = {}
    start = time.perf_counter()
    for i in range(num_frames):
        frame = render_frame(seed, 'train', i, height, width, timings=timings)
        t0 = time.perf_counter()
        write_frame(out_dir, 'train', frame)
        timings['write'] = timings.get('write', 0.0) + time.perf_counter() - t0
    timings['total'] = time.perf_counter() - start
    return timings


def main() -> None:
    args = parse_args()
    tuned = keep_freed_memory()  # as tools/generate_synthcity.py does
    if args.num_frames < 1:
        raise SystemExit('--num-frames must be at least 1')
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            timings = run(args.num_frames, args.height, args.width, args.seed, tmp)
    else:
        timings = run(args.num_frames, args.height, args.width, args.seed, args.out)
    n = args.num_frames
    total = timings['total']
    print(f'SynthCity {args.height}x{args.width}, {n} frames, 1 thread, '
          f'malloc tuned: {tuned}')
    print(f'{"stage":<10}{"ms/frame":>10}{"share":>8}')
    for key in ('layout', 'raycast', 'shade', 'finish', 'write'):
        print(f'{key:<10}{1000 * timings[key] / n:>10.1f}{100 * timings[key] / total:>7.0f}%')
    print(f'{"total":<10}{1000 * total / n:>10.1f}{100:>7.0f}%')
    print(f'frames/s: {n / total:.1f}')


if __name__ == '__main__':
    main()
