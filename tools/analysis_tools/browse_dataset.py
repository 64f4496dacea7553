"""Write what the TRAIN pipeline makes of the data: image | labels | depth per sample.

As MMSegmentation's ``tools/analysis_tools/browse_dataset.py``, for the joint task: each of
the first ``--show-number`` samples of ``train_dataloader.dataset`` goes through the train
pipeline (resize, crop, flip, photometric distortion, AffineMix, ColorAug: whatever the config
has) and is drawn as one picture, ``image | ground-truth overlay | ground-truth depth``, the
image as the network gets it (before normalisation), the depth on the fixed colour scale of the
config's visualizer (black = no depth). Look at these before a long run.

Example::

    python tools/analysis_tools/browse_dataset.py \\
        configs/ccam/ccam_r18_synthcity_affinemix.py --output-dir vis_train --show-number 8
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmseg.registry import DATASETS, VISUALIZERS

import mmseg_ccam  # noqa: F401  (registers the transforms, datasets and the visualizer)
from mmseg_ccam.utils.config_check import load_checked_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse the training data after the train '
                                     'pipeline: image | labels | depth')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', default=None,
                        help='write one PNG per sample here (default: show in a window)')
    parser.add_argument('--show-number', type=int, default=10,
                        help='number of samples to draw (from the start of the dataset)')
    parser.add_argument('--show-interval', type=float, default=2,
                        help='seconds per window with --show')
    parser.add_argument('--show', action='store_true', help='also show each picture')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random transforms (same seed, same pictures)')
    parser.add_argument('--with-labels', action='store_true',
                        help='write class names on the overlay')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. '
                        'train_dataloader.dataset.data_root=data/synthcity')
    args = parser.parse_args(argv)
    if args.show_number < 1:
        parser.error(f'--show-number must be >= 1, got {args.show_number}')
    if args.output_dir is None and not args.show:
        parser.error('give --output-dir DIR (or --show to look at the pictures in a window)')
    return args


def to_rgb_image(inputs) -> np.ndarray:
    """PackSegInputs' (3, H, W) image tensor (BGR, as loaded) -> (H, W, 3) uint8 RGB."""
    image = inputs.permute(1, 2, 0).cpu().numpy()
    return mmcv.bgr2rgb(np.clip(image, 0, 255).astype(np.uint8))


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Draw the samples; returns the written files."""
    args = parse_args(argv)
    cfg = load_checked_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    set_random_seed(args.seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    visualizer_cfg = dict(cfg.get('visualizer', dict(type='SegDepthLocalVisualizer')))
    visualizer_cfg.update(name='browse_dataset', vis_backends=None, save_dir=None)
    visualizer = VISUALIZERS.build(visualizer_cfg)
    visualizer.dataset_meta = dict(dataset.metainfo)
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    written = []
    for index in range(min(args.show_number, len(dataset))):
        item = dataset[index]
        sample = item['data_samples']
        image = to_rgb_image(item['inputs'])
        drawn = visualizer.draw_ground_truth(image, sample, with_labels=args.with_labels)
        name = osp.splitext(osp.basename(sample.metainfo.get('img_path', f'{index}')))[0]
        if args.show:
            visualizer.show(drawn, win_name=name, wait_time=args.show_interval)
        if args.output_dir:
            out_file = osp.join(args.output_dir, f'{index:04d}_{name}.png')
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
            written.append(out_file)
    if written:
        print(f'{len(written)} pictures (image | labels | depth) written to {args.output_dir}')
    return written


if __name__ == '__main__':
    main()
