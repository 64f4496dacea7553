"""Predict segmentation and depth for one image and write them as pictures and a point cloud.

Writes into ``--out-dir`` (``<name>`` is the image file name without extension):

- ``<name>_seg.png``: class colours over the image (``--opacity``);
- ``<name>_depth.png``: depth coloured on a fixed scale (``--min-depth`` .. ``--max-depth``);
- ``<name>_disparity.png``: uint16 PNG in the Cityscapes disparity encoding
  ``p = round(baseline * fx / Z * 256) + 1`` (0 = invalid), readable by the Cityscapes depth
  loader with the same camera;
- with ``--point-cloud``: ``<name>.ply``, one point per pixel with valid depth: ``x, y, z``
  (metres, camera frame: x right, y down, z forward), ``red, green, blue`` from the image (or
  the class palette with ``--color-by class``) and the class id as ``label``.

Pixels predicted as a class without depth (``--no-depth-classes``, default ``sky``: the ground
truth has no depth there, so the predicted value is arbitrary) are left out of the depth
picture (black), the disparity PNG (0 = invalid) and the point cloud; ``--no-depth-classes``
with no name keeps every pixel.

Camera: ``--camera`` is a Cityscapes ``*_camera.json`` (``extrinsic.baseline``,
``intrinsic.fx/fy/u0/v0``) of the frame being processed, so it is taken to belong to the input
image's size (SynthCity writes its camera for its own image size); ``--camera-size W H`` states
another size. Without ``--camera`` the Cityscapes calibration (2048 x 1024, baseline 0.209313 m,
fx 2262.52 px) is used, scaled to the image width. The intrinsics are always rescaled to the
size of the prediction (the image's original size).

Example (the demo model shipped in ``checkpoints/``, see ``docs/model_zoo.md``; a model you
trained with ``make demo`` is ``work_dirs/ccam_lite0_synthcity_cw/iter_640.pth``)::

    python demo/image_demo.py demo/synthcity_val.png \
        configs/ccam/ccam_lite0_synthcity_cw.py checkpoints/ccam_lite0_synthcity_cw.pth \
        --out-dir out --point-cloud

A file that is not a usable image (empty, not an image, truncated, smaller than 16 x 16) is
refused with an error naming the file.
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from typing import Dict, List, Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmengine.config import DictAction

from mmseg_ccam.apis import (
    inference_model,
    init_model,
    sample_to_points,
    write_ply,
)
from mmseg_ccam.apis.inference import read_image
from mmseg_ccam.datasets.cityscapes_geometry import (
    CITYSCAPES_CAMERA,
    CameraParams,
    depth_to_disparity_png,
    load_camera_json,
)
from mmseg_ccam.visualization import (
    NO_DEPTH_CLASSES,
    SegDepthLocalVisualizer,
    class_ids,
    colorize_depth,
    mask_depth,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segmentation + depth of one image: overlay, coloured depth, disparity PNG '
        'and an optional point cloud')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='directory for the outputs')
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    parser.add_argument('--camera', help='Cityscapes camera JSON of this image (default: the '
                        'Cityscapes calibration scaled to the image width)')
    parser.add_argument('--camera-size', type=int, nargs=2, metavar=('W', 'H'),
                        help='image size the --camera JSON belongs to (default: the input '
                        'image size)')
    parser.add_argument('--point-cloud', action='store_true', help='also write <name>.ply')
    parser.add_argument('--color-by', choices=['image', 'class'], default='image',
                        help='point colours: image RGB or class palette')
    parser.add_argument('--ply-ascii', action='store_true',
                        help='ASCII PLY instead of binary little-endian')
    parser.add_argument('--max-point-depth', type=float, default=None,
                        help='leave out points farther than this (m)')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='opacity of the class colours in the overlay, in (0, 1]')
    parser.add_argument('--with-labels', action='store_true',
                        help='write class names on the overlay')
    parser.add_argument('--min-depth', type=float, default=1.0,
                        help='depth (m) of the brightest colour in <name>_depth.png')
    parser.add_argument('--max-depth', type=float, default=80.0,
                        help='depth (m) of the darkest colour in <name>_depth.png')
    parser.add_argument('--depth-cmap', default='magma', help='colormap of <name>_depth.png')
    parser.add_argument('--no-depth-classes', nargs='*', default=None, metavar='CLASS',
                        help='classes whose predicted depth is left out of the depth picture, '
                        'the disparity PNG and the point cloud (default: sky, when the model '
                        'has that class); give the option without a name to keep every pixel')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    args = parser.parse_args(argv)
    if not 0 < args.opacity <= 1:
        parser.error(f'--opacity must be in (0, 1], got {args.opacity}')
    # Every number is checked here, before the model is built or a file is written.
    if args.camera_size is not None and min(args.camera_size) < 1:
        parser.error(f'--camera-size W H must be positive pixel sizes, got '
                     f'{args.camera_size[0]} {args.camera_size[1]}')
    if args.camera_size is not None and args.camera is None:
        parser.error('--camera-size gives the size of the --camera JSON; give --camera too')
    if args.max_point_depth is not None and not (0 < args.max_point_depth < float('inf')):
        parser.error(f'--max-point-depth must be a distance in metres > 0, got '
                     f'{args.max_point_depth} (it would leave no point in the cloud)')
    if not 0 < args.min_depth < args.max_depth < float('inf'):
        parser.error(f'--min-depth and --max-depth must satisfy 0 < min < max, got '
                     f'{args.min_depth} and {args.max_depth}')
    for name, path in (('image', args.img), ('checkpoint', args.checkpoint),
                       ('config', args.config)):
        if osp.isdir(path):
            parser.error(f'the {name} {path!r} is a directory; give a file')
    if osp.isfile(args.out_dir):
        parser.error(f'--out-dir {args.out_dir!r} is a file; give a directory')
    return args


def camera_for_image(camera_file: Optional[str], camera_size: Optional[Sequence[int]],
                     width: int, height: int) -> CameraParams:
    """The camera of an image of ``width x height`` (see the module docstring).

    Args:
        camera_file (str, optional): Cityscapes camera JSON; None for the Cityscapes default.
        camera_size (sequence[int], optional): ``(W, H)`` the JSON belongs to; default: the
            image size.
        width, height (int): Size of the prediction.
    """
    if camera_file is None:
        camera = CITYSCAPES_CAMERA
    else:
        size = tuple(camera_size) if camera_size is not None else (width, height)
        camera = load_camera_json(camera_file, image_size=size)
    if abs(camera.width / camera.height - width / height) > 0.01 * width / height:
        warnings.warn(f'The image ({width}x{height}) has another aspect ratio than its camera '
                      f'({camera.width}x{camera.height}); intrinsics are scaled by the width '
                      'ratio on both axes.', stacklevel=2)
        return camera.scaled_to_width(width)
    return camera.scaled_to(width, height)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Run the demo; returns the written files by kind (seg, depth, disparity, ply)."""
    args = parse_args(argv)
    # Checked before the model is built: a clear error, and no time spent loading weights.
    image_rgb = mmcv.bgr2rgb(read_image(args.img))
    height, width = image_rgb.shape[:2]
    # A bad camera JSON fails here, before the model is built or any output is written.
    camera = camera_for_image(args.camera, args.camera_size, width, height)
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    # Class names checked and the output folder made before anything is written.
    # The default names may be absent from a custom dataset; names the user gives must exist.
    named = args.no_depth_classes is not None
    no_depth = class_ids(model.dataset_meta['classes'],
                         args.no_depth_classes if named else NO_DEPTH_CLASSES, strict=named)
    os.makedirs(args.out_dir, exist_ok=True)
    # A SegDataSample, as mmseg.apis.inference_model returns: pred_sem_seg, seg_logits and
    # pred_depth_map at the image's size (.seg / .depth: the same as NumPy arrays).
    result = inference_model(model, args.img)
    name = osp.splitext(osp.basename(args.img))[0]
    written: Dict[str, str] = {}
    palette = np.asarray(model.dataset_meta['palette'], dtype=np.uint8)

    if 'pred_sem_seg' in result:
        visualizer = SegDepthLocalVisualizer(name='image_demo', alpha=args.opacity)
        visualizer.dataset_meta = dict(model.dataset_meta)
        overlay = visualizer.draw_seg_overlay(image_rgb, result.pred_sem_seg.cpu(),
                                              with_labels=args.with_labels)
        written['seg'] = osp.join(args.out_dir, f'{name}_seg.png')
        mmcv.imwrite(mmcv.rgb2bgr(overlay), written['seg'])

    if 'pred_depth_map' in result:
        if result.depth.shape != (height, width):
            raise RuntimeError(f'The depth prediction is {result.depth.shape}, the image '
                               f'{(height, width)}; the model must predict at the original size.')
        depth = mask_depth(result.depth, result.seg, no_depth)
        coloured = colorize_depth(depth, args.min_depth, args.max_depth,
                                  cmap=args.depth_cmap)
        written['depth'] = osp.join(args.out_dir, f'{name}_depth.png')
        mmcv.imwrite(mmcv.rgb2bgr(coloured), written['depth'])

        written['disparity'] = osp.join(args.out_dir, f'{name}_disparity.png')
        cv2.imwrite(written['disparity'],
                    depth_to_disparity_png(depth, baseline=camera.baseline, fx=camera.fx))

        if args.point_cloud:
            points, labels, valid = sample_to_points(
                result, camera.fx, camera.fy, camera.u0, camera.v0, no_depth_ids=no_depth,
                max_depth=args.max_point_depth)
            if args.color_by == 'class':
                if labels is None:
                    raise ValueError('--color-by class needs a model with a segmentation head.')
                colors = palette[np.clip(labels, 0, len(palette) - 1)]
            else:
                colors = image_rgb[valid]
            if labels is not None:
                labels = np.where((labels >= 0) & (labels < 256), labels, 255)
            written['ply'] = osp.join(args.out_dir, f'{name}.ply')
            write_ply(written['ply'], points, colors, labels, binary=not args.ply_ascii)
    elif args.point_cloud:
        raise ValueError('--point-cloud needs a model with a depth head.')

    lines: List[str] = [f'{kind}: {path}' for kind, path in written.items()]
    print('\n'.join(lines))
    return written


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as err:
        # A missing or unusable image, config or checkpoint, or a wrong option value: one line
        # that names it, no traceback.
        print(f'image_demo.py: {err}', file=sys.stderr)
        sys.exit(2)
