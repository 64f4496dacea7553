"""Scan a Cityscapes-layout dataset once and list every bad file.

For each frame ``leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png`` it checks that the image,
``gtFine/.../<frame>_gtFine_labelTrainIds.png``, ``disparity/.../<frame>_disparity.png`` and
``camera/.../<frame>_camera.json`` exist and decode, that the label and disparity have the image's
size, that label ids are train ids (``0..num_classes-1`` or 255), that the disparity has at least
one valid pixel and that the camera JSON has ``extrinsic.baseline`` and ``intrinsic.fx``. The
messages are those the training loaders raise (:mod:`mmseg_ccam.datasets.validation`).

Usage::

    python tools/check_dataset.py data/cityscapes --splits train val --num-classes 19

Prints one line per problem file (``<file>: <reason>``) and a summary; exits 1 if any problem
was found, 0 if the dataset is clean.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

from mmseg_ccam.datasets import validation as V

IMG_SUFFIX = '_leftImg8bit.png'
FOLDERS = (('seg_map_path', 'gtFine', '_gtFine_labelTrainIds.png'),
           ('depth_path', 'disparity', '_disparity.png'),
           ('camera_path', 'camera', '_camera.json'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='dataset root holding leftImg8bit/, gtFine/, '
                        'disparity/ and camera/')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='split folders to scan (default: train val)')
    parser.add_argument('--num-classes', type=int, default=19,
                        help='label ids must be < this or 255 (default: 19)')
    parser.add_argument('--ignore-index', type=int, default=255,
                        help='label id allowed outside the class range (default: 255)')
    return parser.parse_args(argv)


def scan(data_root: str, splits: Sequence[str], num_classes: int,
         ignore_index: int = 255) -> Tuple[int, List[Tuple[str, str]]]:
    """Check every frame of ``splits``.

    Returns:
        tuple: number of frames checked and the ``(file, problem)`` list.
    """
    problems: List[Tuple[str, str]] = []
    num_frames = 0
    for split in splits:
        img_dir = osp.join(data_root, 'leftImg8bit', split)
        images = sorted(glob.glob(osp.join(img_dir, '**', '*' + IMG_SUFFIX), recursive=True))
        if not images:
            problems.append((img_dir, f'no *{IMG_SUFFIX} image under {img_dir}; check DATA_ROOT '
                                      f'and --splits (expected leftImg8bit/<split>/<city>/)'))
            continue
        for img_path in images:
            rel = osp.relpath(img_path, img_dir)[:-len(IMG_SUFFIX)]
            paths = {'img_path': img_path}
            for key, folder, suffix in FOLDERS:
                paths[key] = osp.join(data_root, folder, split, rel + suffix)
            problems += V.check_frame(paths, num_classes=num_classes, ignore_index=ignore_index)
            num_frames += 1
    return num_frames, problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        print(f'DATA_ROOT {args.data_root} is not a folder; give the dataset root '
              f'(the folder holding leftImg8bit/)')
        return 1
    num_frames, problems = scan(args.data_root, args.splits, args.num_classes,
                                args.ignore_index)
    for path, problem in problems:
        print(f'{path}: {problem}')
    files = len({path for path, _ in problems})
    print(f'Checked {num_frames} frame(s) of splits {list(args.splits)} under {args.data_root}: '
          f'{len(problems)} problem(s) in {files} file(s).')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
