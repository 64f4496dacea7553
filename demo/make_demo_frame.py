"""Write the demo frame (``demo/synthcity_val*``) from the SynthCity generator.

The demo image is val frame ``fairhaven_000000_000019`` of the SynthCity that ``make demo``
generates (``tools/generate_synthcity.py data/synthcity --num-train 200 --num-val 50 --height 256
--width 512 --seed 0``): val frame index 0 of seed 0. A frame depends only on ``(seed, split,
index)`` (:func:`mmseg_ccam.datasets.synthcity.generator.render_frame`), so this renders just that
frame and writes, under ``--out-dir`` (default ``demo/``):

- ``synthcity_val.png``: the image (``leftImg8bit``);
- ``synthcity_val_labelTrainIds.png``: its train-id labels (``gtFine_labelTrainIds``);
- ``synthcity_val_disparity.png``: its 16-bit Cityscapes disparity;
- ``synthcity_val_camera.json``: its camera.

Each is the same file the generator writes into ``data/synthcity`` for that frame
(``tests/test_demo_frame.py`` checks the committed ones against a freshly rendered frame).

Example::

    python demo/make_demo_frame.py
"""
import argparse
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional, Sequence

from mmseg_ccam.datasets.synthcity.generator import frame_name, render_frame, write_frame

#: The frame the demo files hold: ``make demo``'s dataset (seed 0, 256 x 512), val index 0.
SEED, SPLIT, INDEX, HEIGHT, WIDTH = 0, 'val', 0, 256, 512
#: Generator file kind -> demo file name.
DEMO_FILES = {
    'image': 'synthcity_val.png',
    'train_ids': 'synthcity_val_labelTrainIds.png',
    'disparity': 'synthcity_val_disparity.png',
    'camera': 'synthcity_val_camera.json',
}


def demo_frame_name() -> str:
    """``<city>_<seq>_<frame>`` of the demo frame (``fairhaven_000000_000019``)."""
    return frame_name(SPLIT, INDEX)[1]


def write_demo_frame(out_dir: str) -> Dict[str, str]:
    """Render the demo frame and write its four demo files into ``out_dir``; returns them by
    kind."""
    frame = render_frame(SEED, SPLIT, INDEX, HEIGHT, WIDTH)
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The generator's own writer, so the files are byte for byte the dataset's.
        paths = write_frame(tmp, SPLIT, frame)
        for kind, name in DEMO_FILES.items():
            written[kind] = osp.join(out_dir, name)
            shutil.copyfile(paths[kind], written[kind])
    return written


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default=osp.dirname(osp.abspath(__file__)),
                        help='where to write the four files (default: demo/)')
    args = parser.parse_args(argv)
    written = write_demo_frame(args.out_dir)
    print(json.dumps(dict(frame=demo_frame_name(), seed=SEED, split=SPLIT, index=INDEX,
                          files=written), indent=2))
    return written


if __name__ == '__main__':
    main()
