"""Scan a Cityscapes-layout dataset once and list every bad file.

For each frame ``leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png`` it checks that the image,
``gtFine/.../<frame>_gtFine_labelTrainIds.png``, ``disparity/.../<frame>_disparity.png`` and
``camera/.../<frame>_camera.json`` exist and decode, that the label and disparity have the image's
size, that label ids are train ids (``0..num_classes-1`` or 255), that the disparity has at least
one pixel with a depth in ``(0, max_depth]`` and that the camera JSON has ``extrinsic.baseline``
and ``intrinsic.fx``. Label, disparity and camera files without an image are reported too (the
dataset lists frames by their images, so such a frame would silently be left out). The messages
are those the training loaders raise (:mod:`mmseg_ccam.datasets.validation`).

Usage::

    python tools/check_dataset.py data/cityscapes --splits train val --num-classes 19 \\
        --max-depth 80 --workers 8

Prints one line per problem (``<file>: <message>``), then a summary line with the counts per
kind of problem; exits 1 if any problem was found, 0 if the dataset is clean.
"""
import argparse
import functools
import glob
import multiprocessing
import os
import os.path as osp
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from mmseg_ccam.datasets import validation as V

IMG_SUFFIX = '_leftImg8bit.png'
# data-info key, folder under DATA_ROOT, file suffix: the other files of a frame
FOLDERS = (('seg_map_path', 'gtFine', '_gtFine_labelTrainIds.png'),
           ('depth_path', 'disparity', '_disparity.png'),
           ('camera_path', 'camera', '_camera.json'))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'{value} must be >= 1 (the number of classes, 19 for Cityscapes)')
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f'{value} must be > 0 m (LoadCityscapesDepth max_depth, 80 for Cityscapes; inf '
            'for no limit)')
    return value


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='dataset root holding leftImg8bit/, gtFine/, '
                        'disparity/ and camera/')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='split folders to scan (default: train val)')
    parser.add_argument('--num-classes', type=_positive_int, default=19,
                        help='label ids must be < this or the ignore index (default: 19)')
    parser.add_argument('--ignore-index', type=int, default=255,
                        help='label id allowed outside the class range (default: 255)')
    parser.add_argument('--max-depth', type=_positive_float, default=80.0,
                        help='max_depth of LoadCityscapesDepth: a disparity map needs a pixel '
                        'with depth in (0, max-depth] m (default: 80; inf: any match)')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='processes that decode files (default: min(8, CPU count)); '
                        '1 = no subprocess')
    return parser.parse_args(argv)


def _frames_of(folder: str, suffix: str) -> Dict[str, str]:
    """``{frame id: path}`` of the files ``folder/**/*suffix`` (frame id = relative path
    without the suffix)."""
    paths = glob.glob(osp.join(glob.escape(folder), '**', '*' + suffix), recursive=True)
    return {osp.relpath(p, folder)[:-len(suffix)]: p for p in paths}


def list_frames(data_root: str, split: str) -> Tuple[List[dict], List[V.Problem]]:
    """The frames of one split as data-info-like dicts, and the problems found by listing
    (no image at all, a missing folder, files without their image).

    Returns:
        tuple: ``[{'img_path', 'seg_map_path', 'depth_path', 'camera_path'}]`` sorted by
        image path (a key is None when its whole folder is missing), and the problems.
    """
    img_dir = osp.join(data_root, 'leftImg8bit', split)
    # A symlink loop would make the recursive listing repeat frames under ever longer paths.
    loops = [(path, message) for path, message in (
        (d, V.symlink_loop(d)) for d in [img_dir] + [osp.join(data_root, folder, split)
                                                     for _, folder, _ in FOLDERS]) if message]
    if loops:
        return [], [V.Problem(path, 'symlink_loop', message) for path, message in loops]
    images = _frames_of(img_dir, IMG_SUFFIX)
    if not images:
        return [], [V.Problem(img_dir, 'missing',
                              f'no *{IMG_SUFFIX} image under {img_dir}; check DATA_ROOT and '
                              f'--splits (expected leftImg8bit/<split>/<city>/)')]
    problems: List[V.Problem] = []
    frames = [{'img_path': images[fid]} for fid in sorted(images)]
    for key, folder, suffix in FOLDERS:
        directory = osp.join(data_root, folder, split)
        if not osp.isdir(directory):
            problems.append(V.Problem(directory, 'missing', V.missing_folder(directory, key)))
            for frame in frames:
                frame[key] = None
            continue
        for frame, fid in zip(frames, sorted(images)):
            frame[key] = osp.join(directory, fid + suffix)
        for fid, path in sorted(_frames_of(directory, suffix).items()):
            if fid not in images:
                problems.append(V.Problem(path, 'no_image', V.file_without_image(
                    path, key, osp.join(img_dir, fid + IMG_SUFFIX))))
    return frames, problems


def _png_size(path: str) -> Optional[Tuple[int, int]]:
    """``(width, height)`` from a PNG header (None for another or an unreadable file)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(b'\x89PNG\r\n\x1a\n'):
        return None
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')


def mixed_frames(frames: Sequence[dict]) -> List[V.Problem]:
    """Frames that do not belong with the rest: an image size other than the most common one
    (frames of two generations or sources in one folder; the label and disparity of each frame
    are compared with its own image by :func:`V.check_frame`)."""
    problems: List[V.Problem] = []
    sizes = {f['img_path']: _png_size(f['img_path']) for f in frames}
    seen = Counter(size for size in sizes.values() if size is not None)
    if len(seen) > 1:
        (common, n), = seen.most_common(1)
        for path, size in sizes.items():
            if size is not None and size != common:
                problems.append(V.Problem(path, 'mixed', (
                    f'image is {size[0]}x{size[1]} but {n} of {len(frames)} frames are '
                    f'{common[0]}x{common[1]}: frames of another generation or source are mixed '
                    'in (batches of mixed sizes, wrong intrinsics). Regenerate into an empty '
                    'folder (tools/generate_synthcity.py --clean) or remove these frames.')))
    return problems


def scan(data_root: str, splits: Sequence[str], num_classes: int, ignore_index: int = 255,
         max_depth: Optional[float] = 80.0, workers: int = 1) -> Tuple[int, List[V.Problem]]:
    """Check every frame of ``splits``.

    Returns:
        tuple: number of frames checked and the :class:`Problem` list (per split: listing
        problems, then the frames' problems in image order).
    """
    check = functools.partial(V.check_frame, num_classes=num_classes,
                              ignore_index=ignore_index, max_depth=max_depth)
    problems: List[V.Problem] = []
    num_frames = 0
    every_frame: List[dict] = []
    pool = multiprocessing.Pool(workers) if workers > 1 else None
    try:
        for split in splits:
            frames, listing = list_frames(data_root, split)
            problems += listing
            results = pool.imap(check, frames, chunksize=4) if pool else map(check, frames)
            for frame_problems in results:
                problems += frame_problems
            num_frames += len(frames)
            every_frame += frames
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return num_frames, problems + mixed_frames(every_frame)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        print(f'DATA_ROOT {args.data_root} is not a folder; give the dataset root '
              f'(the folder holding leftImg8bit/)')
        return 1
    if args.workers < 1:
        print(f'--workers {args.workers}: give at least 1')
        return 1
    num_frames, problems = scan(args.data_root, args.splits, args.num_classes,
                                args.ignore_index, args.max_depth, args.workers)
    for problem in problems:
        print(f'{problem.path}: {problem.message}')
    files = len({problem.path for problem in problems})
    kinds = Counter(problem.kind for problem in problems)
    counts = ', '.join(f'{V.PROBLEM_KINDS[kind]}: {kinds[kind]}' for kind in V.PROBLEM_KINDS
                       if kinds[kind])
    print(f'Checked {num_frames} frame(s) of splits {list(args.splits)} under {args.data_root}: '
          f'{len(problems)} problem(s) in {files} file(s)' + (f' ({counts}).' if counts else '.'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
