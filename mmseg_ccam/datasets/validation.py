"""Checks of dataset files that return problem strings (None when the file is fine).

The dataset (build-time existence check), the loading transforms (content checks at load time)
and ``tools/check_dataset.py`` (a full scan) all word their errors through these functions, so
a message printed during training is the same as the line the check tool prints for that file.
Every message names the file and says what to do; ``docs/troubleshooting.md`` lists them.
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np

CHECK_TOOL = 'tools/check_dataset.py DATA_ROOT'

# data-info key -> (what the file is, the data_prefix key that locates it)
FILE_KINDS = {
    'img_path': ('image', 'img_path'),
    'seg_map_path': ('label', 'seg_map_path'),
    'depth_path': ('disparity', 'depth_path'),
    'camera_path': ('camera', 'camera_path'),
}


def missing_file(path: str, key: str) -> str:
    """Message for a file of kind ``key`` (a :data:`FILE_KINDS` key) that does not exist."""
    what, prefix = FILE_KINDS[key]
    return (f'{what} file {path} does not exist; fix data_root / data_prefix.{prefix} (and the '
            f'suffix) or restore the file. Run {CHECK_TOOL} to list every bad file.')


def decode_png(content: bytes, flag: str = 'unchanged') -> Optional[np.ndarray]:
    """Decode image bytes with OpenCV (as the loaders do); None when they cannot be decoded.

    Args:
        content (bytes): File content.
        flag (str): ``'color'`` (images) or ``'unchanged'`` (labels, disparity).

    Returns:
        np.ndarray | None: The decoded array, None for a truncated or non-image file.
    """
    try:
        return mmcv.imfrombytes(content, flag=flag, backend='cv2')
    except Exception:  # cv2 raises on empty buffers, returns None on truncated ones
        return None


def image_problem(img: Optional[np.ndarray], path: str) -> Optional[str]:
    """Problem of a decoded RGB image (None if it decoded)."""
    if img is None:
        return (f'image file {path} cannot be decoded (truncated or not an image); re-download '
                f'or regenerate it, or drop the frame. Run {CHECK_TOOL} to list every bad file.')
    return None


def label_problem(seg: Optional[np.ndarray], path: str) -> Optional[str]:
    """Problem of a decoded label PNG: undecodable or not single-channel."""
    if seg is None:
        return (f'label file {path} cannot be decoded (truncated or not a PNG); re-create it '
                f'(cityscapesscripts createTrainIdLabelImgs) or re-download it. Run '
                f'{CHECK_TOOL} to list every bad file.')
    if seg.ndim != 2:
        return (f'label file {path} has shape {seg.shape}; expected a single-channel '
                f'*_gtFine_labelTrainIds.png (not the colour *_gtFine_color.png)')
    return None


def disparity_problem(disparity: Optional[np.ndarray], path: str) -> Optional[str]:
    """Problem of a decoded disparity PNG: undecodable or not single-channel uint16."""
    if disparity is not None and disparity.ndim == 2 and disparity.dtype == np.uint16:
        return None
    got = 'undecodable (truncated or not a PNG)' if disparity is None else \
        f'{disparity.dtype} with shape {disparity.shape}'
    return (f'disparity file {path} is {got}; expected a single-channel uint16 PNG (Cityscapes '
            f'disparity). Re-download or regenerate it. Run {CHECK_TOOL} to list every bad file.')


def size_problem(path: str, what: str, shape: Sequence[int], img_path: str,
                 img_shape: Sequence[int]) -> Optional[str]:
    """Problem when a label/disparity map (``shape``) is not the size of its image."""
    if tuple(shape[:2]) == tuple(img_shape[:2]):
        return None
    return (f'{what} file {path} is {shape[0]}x{shape[1]} (HxW) but image {img_path} is '
            f'{img_shape[0]}x{img_shape[1]}; both must come from the same frame at the same '
            f'resolution: regenerate or resize them together (fx also depends on the size)')


def label_ids_problem(seg: np.ndarray, path: str, num_classes: int,
                      ignore_index: int = 255) -> Optional[str]:
    """Problem when a label map holds ids outside ``[0, num_classes)`` other than the ignore id.

    Args:
        seg (np.ndarray): Label map (after ``reduce_zero_label`` / ``label_map``).
        path (str): Label file, for the message.
        num_classes (int): Number of classes of the dataset.
        ignore_index (int): Allowed id outside the class range. Defaults to 255.
    """
    if seg.dtype == np.uint8:  # bincount is ~10x faster than np.unique on a full frame
        ids = np.flatnonzero(np.bincount(seg.ravel(), minlength=256))
    else:
        ids = np.unique(seg)
    bad = [int(i) for i in ids if (i < 0 or i >= num_classes) and i != ignore_index]
    if not bad:
        return None
    return (f'label file {path} holds ids {bad[:10]} outside the class range 0..{num_classes - 1} '
            f'(and not the ignore index {ignore_index}); use *_gtFine_labelTrainIds.png (train '
            f'ids, not *_labelIds.png), or make the classes / num_classes of the dataset and model '
            f'match the labels')


def no_valid_depth_message(path: str, max_depth: Optional[float] = None) -> str:
    """Warning for a disparity map without any valid pixel (its depth map is all 0)."""
    beyond = '' if max_depth is None else f' within max_depth={max_depth} m'
    return (f'disparity file {path} has no valid pixel{beyond}; its gt_depth_map is all 0, so '
            f'this frame trains segmentation only (the depth loss skips it and counts it in '
            f'num_no_depth). If this is unexpected, check the file with {CHECK_TOOL}.')


def parse_camera(content: bytes, path: str) -> Tuple[Optional[Tuple[float, float]],
                                                    Optional[str]]:
    """Read ``(baseline, fx)`` from a Cityscapes camera JSON.

    Returns:
        tuple: ``((baseline, fx), None)`` or ``(None, problem)``.
    """
    try:
        camera = json.loads(content)
    except (ValueError, UnicodeDecodeError) as err:
        return None, (f'camera file {path} is not valid JSON ({err}); replace it with the '
                      f'Cityscapes camera/*_camera.json of this frame')
    values = []
    for group, key in (('extrinsic', 'baseline'), ('intrinsic', 'fx')):
        section = camera.get(group) if isinstance(camera, dict) else None
        if not isinstance(section, dict) or key not in section:
            return None, (f'camera file {path} has no "{group}.{key}" entry, which is needed to '
                          f'turn disparity into depth; replace it with the Cityscapes '
                          f'camera/*_camera.json of this frame')
        try:
            value = float(section[key])
        except (TypeError, ValueError):
            value = float('nan')
        if not np.isfinite(value) or value <= 0:
            return None, (f'camera file {path}: "{group}.{key}" = {section[key]!r} must be a '
                          f'positive number; fix or replace the file')
        values.append(value)
    return (values[0], values[1]), None


def _read(path: str, key: str, backend_args: Optional[dict]) -> Tuple[Optional[bytes],
                                                                      Optional[str]]:
    try:
        return fileio.get(path, backend_args=backend_args), None
    except FileNotFoundError:
        return None, missing_file(path, key)


def check_frame(paths: Dict[str, Optional[str]],
                num_classes: Optional[int] = None,
                ignore_index: int = 255,
                backend_args: Optional[dict] = None) -> List[Tuple[str, str]]:
    """Run every check on one frame's files.

    Args:
        paths (dict): ``img_path``, and optionally ``seg_map_path``, ``depth_path``,
            ``camera_path`` (None or absent: not checked).
        num_classes (int, optional): Check label ids against it. None skips the check.
        ignore_index (int): Id allowed outside the class range. Defaults to 255.
        backend_args (dict, optional): MMEngine file backend arguments.

    Returns:
        list[tuple[str, str]]: ``(file, problem)`` pairs, empty when the frame is fine. A file
        that is missing or undecodable is reported once (its other checks are skipped).
    """
    problems: List[Tuple[str, str]] = []
    img_path = paths['img_path']
    img_shape = None
    content, problem = _read(img_path, 'img_path', backend_args)
    if problem is None:
        img = decode_png(content, 'color')
        problem = image_problem(img, img_path)
        img_shape = None if img is None else img.shape[:2]
    if problem:
        problems.append((img_path, problem))

    seg_path = paths.get('seg_map_path')
    if seg_path:
        content, problem = _read(seg_path, 'seg_map_path', backend_args)
        if problem is None:
            seg = decode_png(content)
            problem = label_problem(seg, seg_path)
            if problem is None and img_shape is not None:
                problem = size_problem(seg_path, 'label', seg.shape, img_path, img_shape)
            if problem is None and num_classes is not None:
                problem = label_ids_problem(seg, seg_path, num_classes, ignore_index)
        if problem:
            problems.append((seg_path, problem))

    depth_path = paths.get('depth_path')
    if depth_path:
        content, problem = _read(depth_path, 'depth_path', backend_args)
        if problem is None:
            disparity = decode_png(content)
            problem = disparity_problem(disparity, depth_path)
            if problem is None and img_shape is not None:
                problem = size_problem(depth_path, 'disparity', disparity.shape, img_path,
                                       img_shape)
            if problem is None and not np.any(disparity > 1):
                problem = no_valid_depth_message(depth_path)
        if problem:
            problems.append((depth_path, problem))

    camera_path = paths.get('camera_path')
    if camera_path:
        content, problem = _read(camera_path, 'camera_path', backend_args)
        if problem is None:
            problem = parse_camera(content, camera_path)[1]
        if problem:
            problems.append((camera_path, problem))
    return problems


def missing_files(info: dict, backend_args: Optional[dict] = None) -> List[Tuple[str, str]]:
    """``(file, problem)`` for each of a data info's files that does not exist (a stat each)."""
    out = []
    for key in FILE_KINDS:
        path = info.get(key)
        if path and not fileio.exists(path, backend_args=backend_args):
            out.append((path, missing_file(path, key)))
    return out

