"""Make a shippable weights file from a training checkpoint.

MMEngine's ``iter_N.pth`` holds the optimizer state, the parameter schedulers, the message hub,
the random state and, in ``meta.cfg``, the whole config dump (with the training machine's work
dir). The shipped files (``checkpoints/*.pth``, docs/model_zoo.md) keep only what inference and
fine-tuning read: ``state_dict`` and ``meta`` with ``dataset_meta`` (classes, palette),
``seed``, ``iter``, ``mmengine_version``, ``time`` and ``config`` (the repository path of the
config it was trained with). MMSegmentation's ``tools/misc/publish_model.py`` drops only the
optimizer and renames the file after its hash, so it is not used here.

Example (the shipped demo model)::

    python tools/publish_model.py work_dirs/ccam_lite0_synthcity_cw/iter_640.pth \\
        checkpoints/ccam_lite0_synthcity_cw.pth --config configs/ccam/ccam_lite0_synthcity_cw.py

It prints the file's size and sha256 (the figures docs/model_zoo.md gives).
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

import torch

from mmseg_ccam.utils import file_sha256

#: The ``meta`` entries kept (the others, ``cfg`` above all, are dropped).
META_KEYS = ('dataset_meta', 'seed', 'iter', 'mmengine_version', 'time')


def strip_checkpoint(checkpoint: dict, config: str, source: str = 'checkpoint') -> dict:
    """``{'meta': ..., 'state_dict': ...}`` of an MMEngine training checkpoint.

    Args:
        checkpoint (dict): what ``torch.load`` returns for an MMEngine ``iter_N.pth``.
        config (str): the config path recorded as ``meta['config']``.
        source (str): the file name, for the error message.

    Raises:
        SystemExit: when ``state_dict`` or ``meta.dataset_meta`` is missing (the weights file
            would not load, or would load without class names and palette).
    """
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise SystemExit(f'{source}: no state_dict; give an MMEngine checkpoint (iter_N.pth of a '
                         'tools/train.py work dir).')
    meta = checkpoint.get('meta') or {}
    if 'dataset_meta' not in meta:
        raise SystemExit(f'{source}: meta has no dataset_meta (classes, palette); give a '
                         'checkpoint written by tools/train.py.')
    kept = {key: meta[key] for key in META_KEYS if key in meta}
    kept['config'] = config
    return dict(meta=kept, state_dict=checkpoint['state_dict'])


def main(argv: Optional[Sequence[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('in_file', help='training checkpoint (iter_N.pth)')
    parser.add_argument('out_file', help='weights file to write')
    parser.add_argument('--config', required=True,
                        help='config path to record in meta.config (the one it was trained with)')
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'--config {args.config}: no such file (give the repository path of '
                         'the training config).')
    # weights_only=False: MMEngine checkpoints hold the message hub and numpy random state.
    checkpoint = torch.load(args.in_file, map_location='cpu', weights_only=False)
    stripped = strip_checkpoint(checkpoint, args.config, source=args.in_file)
    if osp.dirname(args.out_file):
        os.makedirs(osp.dirname(args.out_file), exist_ok=True)
    torch.save(stripped, args.out_file)
    print(f'written: {args.out_file}, {osp.getsize(args.out_file) / 1e6:.2f} MB, '
          f'sha256 {file_sha256(args.out_file)}')
    return args.out_file


if __name__ == '__main__':
    main()
