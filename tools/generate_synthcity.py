"""Generate SynthCity, the procedural street-scene dataset in the Cityscapes layout.

Example:
    python tools/generate_synthcity.py data/synthcity --num-train 200 --num-val 50 \\
        --height 256 --width 512 --seed 0

    # the evidence test bed: varied appearance, held-out and colour-shifted test splits,
    # a large unlabeled pool, rendered by 2 processes
    python tools/generate_synthcity.py data/synthcity_evidence --appearance varied \\
        --num-train 400 --num-val 100 --num-test 300 --num-test-shift 300 \\
        --num-unlabeled 2000 --workers 2

Writes ``leftImg8bit``, ``gtFine`` (``_gtFine_labelIds.png`` and
``_gtFine_labelTrainIds.png``), ``disparity`` and ``camera`` under OUT, named
exactly as Cityscapes names them, then prints a JSON summary.
"""
import argparse
import json
from typing import List, Optional

from mmseg_ccam.datasets.synthcity import generate_synthcity
from mmseg_ccam.datasets.synthcity.generator import keep_freed_memory


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the SynthCity dataset (Cityscapes layout).')
    parser.add_argument('out', help='dataset root to write (created if missing)')
    parser.add_argument('--num-train', type=int, default=200, help='train frames')
    parser.add_argument('--num-val', type=int, default=50, help='val frames')
    parser.add_argument('--num-test', type=int, default=0,
                        help='held-out test frames (own random stream)')
    parser.add_argument('--num-test-shift', type=int, default=0,
                        help='colour-shifted test frames (test geometry, other palette/light)')
    parser.add_argument('--num-unlabeled', type=int, default=0,
                        help='frames of the unlabeled pool (split "unlabeled")')
    parser.add_argument('--appearance', choices=('classic', 'varied'), default='classic',
                        help='classic: the original look (same bytes as before); varied: '
                             'per-instance tints and detail, time of day, haze')
    parser.add_argument('--workers', type=int, default=1,
                        help='rendering processes (the files do not depend on it)')
    parser.add_argument('--height', type=int, default=256, help='image height (pixels)')
    parser.add_argument('--width', type=int, default=512, help='image width (pixels)')
    parser.add_argument('--seed', type=int, default=0, help='dataset seed (same seed, same bytes)')
    parser.add_argument('--max-depth', type=float, default=80.0,
                        help='depth beyond this (m) is written as invalid disparity (p = 0)')
    parser.add_argument('--no-ego-hood', action='store_true',
                        help='do not draw the ego-vehicle hood at the bottom of the image')
    parser.add_argument('--clean', action='store_true',
                        help='OUT holds frames of other settings: delete its leftImg8bit, '
                        'gtFine, disparity and camera folders first (without it such a folder '
                        'is refused: stale frames would stay beside the new ones)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    keep_freed_memory()
    summary = generate_synthcity(
        args.out, num_train=args.num_train, num_val=args.num_val, height=args.height,
        width=args.width, seed=args.seed, progress=not args.quiet, max_depth=args.max_depth,
        ego_hood=not args.no_ego_hood, num_test=args.num_test,
        num_test_shift=args.num_test_shift, num_unlabeled=args.num_unlabeled,
        appearance=args.appearance, workers=args.workers, clean=args.clean)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == '__main__':
    main()
