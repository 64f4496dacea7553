"""Checks of dataset files that return problem strings (None when the file is fine).

The dataset (build-time existence check), the loading transforms (content checks at load time)
and ``tools/check_dataset.py`` (a full scan) all word their errors through these functions, so
a message printed during training is the same as the line the check tool prints for that file.
Every message names the file and says what to do; ``docs/troubleshooting.md`` lists them.
"""
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np

from .cityscapes_geometry import disparity_png_to_depth, stereo_problem

CHECK_TOOL = 'tools/check_dataset.py DATA_ROOT'

# data-info key -> (what the file is, the data_prefix key that locates it)
FILE_KINDS = {
    'img_path': ('image', 'img_path'),
    'seg_map_path': ('label', 'seg_map_path'),
    'depth_path': ('disparity', 'depth_path'),
    'camera_path': ('camera', 'camera_path'),
}

# Where the Cityscapes files of each kind come from (part of the "file missing" remedy).
_SOURCES = {
    'img_path': 'Cityscapes: leftImg8bit_trainvaltest.zip',
    'seg_map_path': "Cityscapes: *_gtFine_labelTrainIds.png are made from gtFine_trainvaltest.zip "
                    "by MMSegmentation's tools/dataset_converters/cityscapes.py DATA_ROOT",
    'depth_path': 'Cityscapes: disparity_trainvaltest.zip',
    'camera_path': 'Cityscapes: camera_trainvaltest.zip',
}

# Problem kinds (``Problem.kind``) and how ``tools/check_dataset.py`` names them in its summary.
PROBLEM_KINDS = {
    'missing': 'missing file',
    'corrupt': 'undecodable or wrong format',
    'size': 'size differs from the image',
    'label_ids': 'label ids out of range',
    'camera': 'bad camera JSON',
    'no_valid_depth': 'disparity without a valid pixel',
    'no_image': 'file without its image',
    'symlink_loop': 'symlink loop in a data folder',
    'mixed': 'frame of another size or generation',
}


class Problem(NamedTuple):
    """One bad file: its path, the kind of problem (a :data:`PROBLEM_KINDS` key) and the
    message the loaders raise for it."""
    path: str
    kind: str
    message: str


def missing_file(path: str, key: str) -> str:
    """Message for a file of kind ``key`` (a :data:`FILE_KINDS` key) that does not exist."""
    what, prefix = FILE_KINDS[key]
    return (f'{what} file {path} does not exist; fix data_root / data_prefix.{prefix} (and the '
            f'suffix) or restore the file ({_SOURCES[key]}; SynthCity: rerun '
            f'tools/generate_synthcity.py). Run {CHECK_TOOL} to list every bad file.')


def missing_folder(path: str, key: str) -> str:
    """Message for a whole folder of files of kind ``key`` that does not exist."""
    what, prefix = FILE_KINDS[key]
    return (f'{what} folder {path} does not exist, so every frame lacks its {what} file; '
            f'extract it there ({_SOURCES[key]}) or fix data_root / data_prefix.{prefix}')


def file_without_image(path: str, key: str, img_path: str) -> str:
    """Message for a label/disparity/camera file whose frame has no image (the frame is
    silently left out of the dataset, which lists frames by their images)."""
    what = FILE_KINDS[key][0]
    return (f'{what} file {path} has no image {img_path}, so its frame is not in the dataset; '
            f'restore the image (Cityscapes: leftImg8bit_trainvaltest.zip) or remove the stray '
            f'{what} file')


def decode_png(content: bytes, flag: str = 'unchanged',
               backend: str = 'cv2') -> Optional[np.ndarray]:
    """Decode image bytes as the loaders do; None when they cannot be decoded.

    Args:
        content (bytes): File content.
        flag (str): ``'color'`` (images) or ``'unchanged'`` (labels, disparity).
        backend (str): mmcv decoding backend: ``'cv2'`` (``LoadImageFromFile``,
            ``LoadCityscapesDepth``) or ``'pillow'`` (mmseg's ``LoadAnnotations`` default).

    Returns:
        np.ndarray | None: The decoded array, None for a truncated or non-image file.
    """
    try:
        return mmcv.imfrombytes(content, flag=flag, backend=backend)
    except Exception:  # cv2 raises on empty buffers and returns None on truncated ones;
        return None    # Pillow raises on both


def image_problem(img: Optional[np.ndarray], path: str) -> Optional[str]:
    """Problem of a decoded RGB image (None if it decoded)."""
    if img is None:
        return (f'image file {path} cannot be decoded (truncated or not an image); re-download '
                f'or regenerate it, or drop the frame. Run {CHECK_TOOL} to list every bad file.')
    return None


def label_problem(seg: Optional[np.ndarray], path: str) -> Optional[str]:
    """Problem of a decoded label PNG: undecodable, not single-channel, or values that do not
    fit the uint8 label map the loaders produce (e.g. a 16-bit PNG holding 300, which a plain
    ``astype(np.uint8)`` would silently turn into 44)."""
    if seg is None:
        return (f'label file {path} cannot be decoded (truncated or not a PNG); re-create it '
                f"(MMSegmentation's tools/dataset_converters/cityscapes.py, or cityscapesscripts "
                f'createTrainIdLabelImgs) or re-download it. Run {CHECK_TOOL} to list every bad '
                f'file.')
    if seg.ndim != 2:
        return (f'label file {path} has shape {seg.shape}; expected a single-channel '
                f'*_gtFine_labelTrainIds.png (not the colour *_gtFine_color.png)')
    if seg.dtype != np.uint8 and seg.size and (
            not (np.issubdtype(seg.dtype, np.integer) or seg.dtype == bool)
            or int(seg.min()) < 0 or int(seg.max()) > 255):
        return (f'label file {path} is a {seg.dtype} map with values {int(seg.min())}..'
                f'{int(seg.max())}; a label must hold 8-bit train ids (0..num_classes-1, 255 = '
                f'ignore): save it as an 8-bit PNG of train ids (*_gtFine_labelTrainIds.png)')
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
    why = ' (fx in the camera JSON also depends on the size)' if what == 'disparity' else \
        ' (labels with nearest neighbour)'
    return (f'{what} file {path} is {shape[0]}x{shape[1]} (HxW) but image {img_path} is '
            f'{img_shape[0]}x{img_shape[1]}; both must come from the same frame at the same '
            f'resolution: regenerate or resize them together{why}')


def label_ids_problem(seg: np.ndarray, path: str, num_classes: int,
                      ignore_index: int = 255) -> Optional[str]:
    """Problem when a label map holds ids outside ``[0, num_classes)`` other than the ignore id.

    Args:
        seg (np.ndarray): Label map (after ``reduce_zero_label`` / ``label_map``).
        path (str): Label file, for the message.
        num_classes (int): Number of classes of the dataset.
        ignore_index (int): Allowed id outside the class range. Defaults to 255.
    """
    if seg.size == 0 or (int(seg.max()) < num_classes and int(seg.min()) >= 0):
        return None  # the usual case, decided by two reductions
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


def no_valid_depth_message(path: str, max_depth: Optional[float] = None,
                           num_matched: Optional[int] = None) -> str:
    """Warning for a disparity map without any valid pixel (its depth map is all 0).

    Args:
        path (str): Disparity file.
        max_depth (float, optional): The loader's ``max_depth``.
        num_matched (int, optional): Pixels with a disparity (``p > 1``); when > 0 they are all
            beyond ``max_depth``.
    """
    beyond = '' if max_depth is None else f' within max_depth={max_depth} m'
    if num_matched == 0:
        reason = ' (every value is 0 or 1: no stereo match)'
    elif num_matched:
        reason = f' (its {num_matched} matched pixels are all farther)'
    else:
        reason = ''
    return (f'disparity file {path} has no valid pixel{beyond}{reason}; its gt_depth_map is all '
            f'0, so this frame trains segmentation only (the depth loss skips it and counts it in '
            f'num_no_depth). If this is unexpected, check the file with {CHECK_TOOL}.')


def _read(path: str, key: str, backend_args: Optional[dict]) -> Tuple[Optional[bytes],
                                                                      Optional[str]]:
    try:
        return fileio.get(path, backend_args=backend_args), None
    except FileNotFoundError:
        return None, missing_file(path, key)


def check_frame(paths: Dict[str, Optional[str]],
                num_classes: Optional[int] = None,
                ignore_index: int = 255,
                max_depth: Optional[float] = None,
                backend_args: Optional[dict] = None,
                label_backend: str = 'pillow') -> List[Problem]:
    """Run every check on one frame's files.

    Args:
        paths (dict): ``img_path``, and optionally ``seg_map_path``, ``depth_path``,
            ``camera_path`` (None or absent: not checked).
        num_classes (int, optional): Check label ids against it. None skips the check.
        ignore_index (int): Id allowed outside the class range. Defaults to 255.
        max_depth (float, optional): ``max_depth`` of ``LoadCityscapesDepth``: a disparity map
            is reported when no pixel decodes to a depth in ``(0, max_depth]`` (needs a valid
            camera JSON; otherwise, and when None, only a pixel with ``p > 1`` is required).
        backend_args (dict, optional): MMEngine file backend arguments.
        label_backend (str): mmcv backend that decodes labels, as ``LoadAnnotations``'
            ``imdecode_backend`` (default ``'pillow'``). Images and disparity use cv2, as
            ``LoadImageFromFile`` and ``LoadCityscapesDepth`` do.

    Returns:
        list[Problem]: Empty when the frame is fine, else in the order image, label,
        disparity, camera. A file that is missing or undecodable is reported once (its other
        checks are skipped).
    """
    problems: List[Problem] = []

    def report(path, kind, message):
        if message:
            problems.append(Problem(path, kind, message))
            return True
        return False

    img_path = paths['img_path']
    img_shape = None
    content, problem = _read(img_path, 'img_path', backend_args)
    if not report(img_path, 'missing', problem):
        img = decode_png(content, 'color')
        if not report(img_path, 'corrupt', image_problem(img, img_path)):
            img_shape = img.shape[:2]

    seg_path = paths.get('seg_map_path')
    if seg_path:
        content, problem = _read(seg_path, 'seg_map_path', backend_args)
        if not report(seg_path, 'missing', problem):
            seg = decode_png(content, backend=label_backend)
            if report(seg_path, 'corrupt', label_problem(seg, seg_path)):
                pass
            elif img_shape is not None and report(seg_path, 'size', size_problem(
                    seg_path, 'label', seg.shape, img_path, img_shape)):
                pass
            elif num_classes is not None:
                report(seg_path, 'label_ids',
                       label_ids_problem(seg, seg_path, num_classes, ignore_index))

    camera, camera_problems = None, []
    camera_path = paths.get('camera_path')
    if camera_path:
        content, problem = _read(camera_path, 'camera_path', backend_args)
        if problem:
            camera_problems.append(Problem(camera_path, 'missing', problem))
        else:
            camera, problem = stereo_problem(content, camera_path)
            if problem:
                camera_problems.append(Problem(camera_path, 'camera', problem))

    depth_path = paths.get('depth_path')
    if depth_path:
        content, problem = _read(depth_path, 'depth_path', backend_args)
        if not report(depth_path, 'missing', problem):
            disparity = decode_png(content)
            if report(depth_path, 'corrupt', disparity_problem(disparity, depth_path)):
                pass
            elif img_shape is not None and report(depth_path, 'size', size_problem(
                    depth_path, 'disparity', disparity.shape, img_path, img_shape)):
                pass
            else:
                num_matched = int(np.count_nonzero(disparity > 1))
                valid = num_matched > 0
                if valid and camera is not None and max_depth is not None:
                    # the loader's own conversion, so both agree on borderline pixels
                    baseline, fx = camera
                    valid = bool(disparity_png_to_depth(
                        disparity, baseline=baseline, fx=fx, max_depth=max_depth).any())
                if not valid:
                    report(depth_path, 'no_valid_depth', no_valid_depth_message(
                        depth_path, max_depth if camera is not None else None, num_matched))
    return problems + camera_problems


def missing_files(info: dict, backend_args: Optional[dict] = None) -> List[Problem]:
    """A ``missing`` :class:`Problem` for each of a data info's files that does not exist (a
    stat each)."""
    out = []
    for key in FILE_KINDS:
        path = info.get(key)
        if path and not fileio.exists(path, backend_args=backend_args):
            out.append(Problem(path, 'missing', missing_file(path, key)))
    return out


def symlink_loop(folder: str) -> Optional[str]:
    """Message for the first symlink under ``folder`` that leads back into a folder already
    listed (a loop such as ``city/x -> ..``), or None.

    Recursive listings follow directory symlinks, so a loop makes them list the same frames
    again under ever longer paths until the OS gives up ("Too many levels of symbolic links"):
    a cryptic error, or frames counted many times and reported missing.
    """
    if not os.path.isdir(folder):
        return None
    seen = set()
    for dirpath, dirnames, _ in os.walk(folder, followlinks=True):
        seen.add(os.path.realpath(dirpath))
        keep = []
        for name in dirnames:
            path = os.path.join(dirpath, name)
            target = os.path.realpath(path)
            if os.path.islink(path) and (target in seen or folder_contains(target, dirpath)):
                return (f'symlink {path} -> {os.readlink(path)} points back to {target}, a '
                        f'folder already listed under {folder}: a symlink loop, which would '
                        'list the same frames again and again. Remove the link or make it '
                        'point outside the data folder.')
            keep.append(name)
        dirnames[:] = keep
    return None


def folder_contains(parent: str, path: str) -> bool:
    """Whether ``path`` is ``parent`` or inside it (after resolving symlinks)."""
    parent, path = os.path.realpath(parent), os.path.realpath(path)
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)
