"""Write semi-supervised Cityscapes label splits (lists of labeled train frames).

Usage::

    python tools/make_splits.py data/cityscapes --counts 100 372 744 --seed 0
    # -> data/cityscapes/splits/cityscapes_train_100_seed0.txt, ..._372_seed0.txt, ...

Frames under ``DATA_ROOT/leftImg8bit/<split>`` are sorted and permuted once with the seed; a
count takes the first N of that permutation, so splits of one seed are nested (100 ⊂ 372 ⊂ 744).
The same draw is what ``CityscapesDepthDataset(num_labeled=N, split_seed=seed)`` makes, and each
file is what its ``split_file`` argument reads (``<city>/<city>_<seq>_<frame>`` per line).
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

from mmseg_ccam.datasets.cityscapes_depth import draw_labeled_indices


def list_frames(img_dir: str, img_suffix: str = '_leftImg8bit.png') -> List[str]:
    """Sorted frame ids (``<city>/<name>`` without suffix) of the images under ``img_dir``."""
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder {img_dir} does not exist; DATA_ROOT must contain '
                                f'leftImg8bit/<split>/<city>/*{img_suffix}')
    frames = []
    for root, _, files in os.walk(img_dir):
        for name in files:
            if name.endswith(img_suffix):
                rel = osp.relpath(osp.join(root, name), img_dir).replace(os.sep, '/')
                frames.append(rel[:-len(img_suffix)])
    if not frames:
        raise FileNotFoundError(f'no *{img_suffix} image under {img_dir}')
    return sorted(frames)


def make_splits(data_root: str, counts: Sequence[int], seed: int = 0,
                out_dir: Optional[str] = None, split: str = 'train',
                img_suffix: str = '_leftImg8bit.png', name: str = 'cityscapes') -> List[str]:
    """Write one split file per count and return their paths.

    Args:
        data_root (str): Cityscapes root (with ``leftImg8bit/<split>``).
        counts (Sequence[int]): Numbers of labeled frames.
        seed (int): Seed of the draw.
        out_dir (str, optional): Output folder. Defaults to ``DATA_ROOT/splits``.
        split (str): Image split folder. Defaults to ``'train'``.
        img_suffix (str): Image suffix. Defaults to ``'_leftImg8bit.png'``.
        name (str): File name prefix. Defaults to ``'cityscapes'``.

    Returns:
        list[str]: ``<out_dir>/<name>_<split>_<count>_seed<seed>.txt`` per count.
    """
    frames = list_frames(osp.join(data_root, 'leftImg8bit', split), img_suffix)
    bad = [c for c in counts if not 0 < c <= len(frames)]
    if bad:
        raise ValueError(f'counts {bad} are not in [1, {len(frames)}] (the number of frames '
                         f'under {osp.join(data_root, "leftImg8bit", split)})')
    out_dir = out_dir or osp.join(data_root, 'splits')
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for count in counts:
        chosen = draw_labeled_indices(len(frames), count, seed)
        path = osp.join(out_dir, f'{name}_{split}_{count}_seed{seed}.txt')
        with open(path, 'w') as f:
            f.write(f'# {count} of {len(frames)} {split} frames, seed {seed} '
                    f'(tools/make_splits.py)\n')
            f.writelines(frames[i] + '\n' for i in chosen)
        paths.append(path)
    return paths


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='Cityscapes root (contains leftImg8bit/)')
    parser.add_argument('--counts', type=int, nargs='+', default=[100, 372, 744],
                        help='numbers of labeled frames (default: 100 372 744)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the draw (default: 0)')
    parser.add_argument('--out-dir', default=None, help='output folder (default: DATA_ROOT/splits)')
    parser.add_argument('--split', default='train', help='image split folder (default: train)')
    parser.add_argument('--img-suffix', default='_leftImg8bit.png')
    parser.add_argument('--name', default='cityscapes', help='file name prefix')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        paths = make_splits(args.data_root, args.counts, args.seed, args.out_dir, args.split,
                            args.img_suffix, args.name)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
