"""SynthCity: render frames and write them in the Cityscapes layout.

``render_frame`` draws and renders one frame from ``(seed, split, index)`` only,
so frames do not depend on how many are generated; ``generate_synthcity``
writes ``leftImg8bit``, ``gtFine`` (labelIds, labelTrainIds), ``disparity`` and
``camera`` files exactly as Cityscapes names them.

Splits: ``train``, ``val`` and a held-out ``test`` (hyper-parameters are chosen on val, final
numbers reported on test), each from its own random stream; ``unlabeled``, a large pool for
semi-supervised training; ``test_shift``, the test frames' geometry (same labels and depth,
frame for frame) with another palette and lighting (:mod:`.appearance`).
"""
import ctypes
import json
import multiprocessing
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from ..cityscapes_geometry import depth_to_disparity_png
from . import labels as L
from .appearance import APPEARANCES, appearance_rng, draw_appearance
from .layout import Scene, ground_labels, sample_scene
from .raycast import RayBundle, raycast
from .shading import shade

#: Split name -> code mixed into the per-frame seed.
SPLIT_CODES = {'train': 0, 'val': 1, 'test': 2, 'unlabeled': 3, 'test_shift': 4}
#: Splits whose geometry is another split's, frame for frame (only the appearance differs).
GEOMETRY_OF = {'test_shift': 'test'}
#: Splits rendered with the 'shifted' appearance whatever the dataset's appearance.
SHIFTED_SPLITS = ('test_shift',)
#: Invented city names per split (lowercase letters only: mmseg splits on '_').
CITIES = {
    'train': ('ashford', 'brookline', 'cedarfield', 'dunwick', 'elmstead'),
    'val': ('fairhaven', 'glenmoor'),
    'test': ('harrowgate',),
    'unlabeled': ('ivybridge', 'juniper', 'kingsmere', 'larkhill'),
    'test_shift': ('harrowgate',),
}
#: Frame number in every sequence (Cityscapes' annotated frames are ``_000019``).
FRAME_NUMBER = 19
#: Fraction of the image height covered by the ego-vehicle hood at the centre.
HOOD_FRACTION = 0.085
# Fast zlib level with the SUB filter: much faster than the default adaptive
# filtering on grainy images, for files within a few percent of the size.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]


@dataclass
class SynthFrame:
    """One rendered frame.

    Args:
        name (str): ``<city>_<seq>_<frame>`` (e.g. ``ashford_000003_000019``).
        city (str): city name (sub-folder).
        image (np.ndarray): H x W x 3 uint8 RGB.
        label_ids (np.ndarray): H x W uint8 Cityscapes label ids.
        train_ids (np.ndarray): H x W uint8 train ids, 255 = ignore.
        depth (np.ndarray): H x W float32 metric camera-z of the visible surface
            (m); 0 where there is none (sky) or it is masked (ego hood). Not cut
            at ``max_depth``: the disparity encoding does that.
        disparity (np.ndarray): H x W uint16 Cityscapes disparity PNG values.
        camera (dict): Cityscapes ``camera.json`` content.
    """

    name: str
    city: str
    image: np.ndarray
    label_ids: np.ndarray
    train_ids: np.ndarray
    depth: np.ndarray
    disparity: np.ndarray
    camera: Dict


def frame_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of frame ``index`` of ``split``: depends on nothing else.

    It draws the geometry (and the classic appearance); ``test_shift`` uses the test stream.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f'split must be one of {sorted(SPLIT_CODES)}, got {split!r}')
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f'seed and index must be non-negative, got {seed}, {index}')
    code = SPLIT_CODES[GEOMETRY_OF.get(split, split)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), code, int(index)]))


def frame_name(split: str, index: int) -> tuple:
    """``(city, name)`` of frame ``index`` of ``split``: cities alternate."""
    cities = CITIES[split]
    city = cities[index % len(cities)]
    return city, f'{city}_{index // len(cities):06d}_{FRAME_NUMBER:06d}'


def ego_hood_mask(height: int, width: int) -> np.ndarray:
    """Bottom region covered by the ego vehicle's hood (bool H x W)."""
    u = (np.arange(width) - width / 2) / (width / 2)
    top = height * (1 - HOOD_FRACTION * (1 - 0.45 * u ** 2))
    return np.arange(height)[:, None] >= top[None, :]


def _finish(scene: Scene, image: np.ndarray, rng: np.random.Generator,
            hood: Optional[np.ndarray]) -> np.ndarray:
    """Camera response after shading: hood, slight optical blur, grain, 8 bits."""
    st = scene.style
    if hood is not None:
        top = int(np.argmax(hood.any(axis=1)))   # the hood lies in the bottom rows only
        rows = np.arange(top, image.shape[0], dtype=np.float32)[:, None]
        shine = 1 - (rows - top) / (image.shape[0] - top)
        hood_col = 0.06 + 0.3 * shine[..., None] * st.horizon.astype(np.float32)
        part, mask = image[top:], hood[top:]
        part[mask] = np.broadcast_to(hood_col, part.shape)[mask]
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    grain = rng.standard_normal(image.shape[:2], dtype=np.float32)
    grain *= np.float32(st.grain)
    image += grain[..., None]
    np.maximum(image, 0, out=image)
    # Saturating, rounding conversion to uint8 (values are non-negative here).
    return cv2.convertScaleAbs(image, alpha=255.0)


def _check_frame_args(height, width, max_depth) -> tuple:
    """Validate image size and depth range; returns ``(height, width)`` as ints."""
    for name, value in (('height', height), ('width', width)):
        if isinstance(value, bool) or int(value) != value or value < 8:
            raise ValueError(f'{name} must be an integer of at least 8 pixels, got {value!r}')
    if not max_depth > 0:
        raise ValueError(f'max_depth must be positive, got {max_depth!r}')
    return int(height), int(width)


def render_frame(seed: int, split: str, index: int, height: int = 256, width: int = 512,
                 max_depth: float = 80.0, ego_hood: bool = True,
                 timings: Optional[Dict[str, float]] = None,
                 appearance: str = 'classic') -> SynthFrame:
    """Draw and render frame ``index`` of ``split`` for ``seed``.

    Args:
        seed (int): dataset seed (>= 0).
        split (str): 'train', 'val', 'test', 'unlabeled' or 'test_shift'.
        index (int): frame index in the split (>= 0).
        height, width (int): image size; intrinsics are Cityscapes' scaled to it.
        max_depth (float): depths beyond it are invalid (``p = 0``) in the
            disparity map.
        ego_hood (bool): draw the ego-vehicle hood (label id 1, train id 255,
            no depth) at the bottom, as in Cityscapes.
        timings (dict, optional): if given, seconds per stage are added to it
            ('layout', 'raycast', 'shade', 'finish').
        appearance (str): 'classic' (the layout's colours and light), 'varied'
            (per-instance tints and detail, time of day, haze) or 'shifted' (varied plus
            another palette and lighting); see :mod:`.appearance`. Labels and depth do not
            depend on it. ``test_shift`` frames are always 'shifted'.

    Returns:
        SynthFrame: image, labels, depth, disparity and camera of the frame.
    """
    height, width = _check_frame_args(height, width, max_depth)
    clock = time.perf_counter
    t0 = clock()
    rng = frame_rng(seed, split, index)
    scene = sample_scene(rng, height, width)
    if appearance not in APPEARANCES:
        raise ValueError(f'appearance must be one of {APPEARANCES}, got {appearance!r}')
    mode = 'shifted' if split in SHIFTED_SPLITS else appearance
    scene, app = draw_appearance(appearance_rng(seed, SPLIT_CODES[split], index), scene, mode)
    rays = RayBundle.from_camera(scene.camera)
    t1 = clock()
    hits = raycast(scene.prims, scene.camera, rays)
    t2 = clock()
    image, label_ids = shade(scene, hits, rays, ground_labels, app)
    t3 = clock()
    depth = np.where(np.isfinite(hits.depth), hits.depth, np.float32(0)).astype(np.float32)
    hood = ego_hood_mask(height, width) if ego_hood else None
    if hood is not None:
        label_ids[hood] = L.EGO_VEHICLE
        depth[hood] = 0
    image8 = _finish(scene, image, rng, hood)
    cam = scene.camera
    disparity = depth_to_disparity_png(depth, baseline=cam.baseline, fx=cam.fx, max_depth=max_depth)
    train_ids = L.to_train_ids(label_ids)
    t4 = clock()
    if timings is not None:
        for key, dt in (('layout', t1 - t0), ('raycast', t2 - t1), ('shade', t3 - t2),
                        ('finish', t4 - t3)):
            timings[key] = timings.get(key, 0.0) + dt
    city, name = frame_name(split, index)
    return SynthFrame(name=name, city=city, image=image8, label_ids=label_ids,
                      train_ids=train_ids, depth=depth, disparity=disparity,
                      camera=cam.to_json())


def frame_paths(out_dir: str, split: str, city: str, name: str) -> Dict[str, str]:
    """Cityscapes paths of a frame's files, keyed by kind."""
    return {
        'image': osp.join(out_dir, 'leftImg8bit', split, city, f'{name}_leftImg8bit.png'),
        'label_ids': osp.join(out_dir, 'gtFine', split, city, f'{name}_gtFine_labelIds.png'),
        'train_ids': osp.join(out_dir, 'gtFine', split, city,
                              f'{name}_gtFine_labelTrainIds.png'),
        'disparity': osp.join(out_dir, 'disparity', split, city, f'{name}_disparity.png'),
        'camera': osp.join(out_dir, 'camera', split, city, f'{name}_camera.json'),
    }


def _imwrite(path: str, array: np.ndarray) -> None:
    if not cv2.imwrite(path, array, _PNG_PARAMS):
        raise OSError(f'could not write {path}: check that the folder is writable')


def write_frame(out_dir: str, split: str, frame: SynthFrame) -> Dict[str, str]:
    """Write a frame's five files; returns their paths."""
    paths = frame_paths(out_dir, split, frame.city, frame.name)
    for path in paths.values():
        os.makedirs(osp.dirname(path), exist_ok=True)
    _imwrite(paths['image'], np.ascontiguousarray(frame.image[..., ::-1]))
    _imwrite(paths['label_ids'], frame.label_ids)
    _imwrite(paths['train_ids'], frame.train_ids)
    _imwrite(paths['disparity'], frame.disparity)
    with open(paths['camera'], 'w') as f:
        json.dump(frame.camera, f, indent=4)
        f.write('\n')
    return paths


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory instead of returning it to the system.

    Rendering allocates and frees many image-sized arrays per frame; with the
    default thresholds each one comes back as fresh zeroed pages, and the page
    faults cost a large share of the run time. This changes the allocator of
    the whole process, so only the command-line tools call it. Returns whether
    the settings were applied (False off glibc).
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
        m_trim_threshold, m_mmap_threshold = -1, -3
        big = 1 << 30
        return bool(libc.mallopt(m_mmap_threshold, big)) and bool(
            libc.mallopt(m_trim_threshold, big))
    except (OSError, AttributeError):
        return False


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f'{name} must be a non-negative integer, got {value!r}')
    return int(value)


#: Splits in the order they are generated.
SPLITS = ('train', 'val', 'test', 'test_shift', 'unlabeled')


def _render_and_write(job: Tuple) -> Tuple[str, np.ndarray, int]:
    """Worker: render and write one frame; returns its split, train-id histogram and the
    number of valid-depth pixels (small, so results travel cheaply between processes)."""
    out_dir, split, index, seed, height, width, max_depth, ego_hood, appearance = job
    frame = render_frame(seed, split, index, height, width, max_depth, ego_hood,
                         appearance=appearance)
    write_frame(out_dir, split, frame)
    hist = np.bincount(frame.train_ids.ravel(), minlength=256)
    return split, hist, int(np.count_nonzero(frame.disparity))


def _worker_init() -> None:
    keep_freed_memory()
    cv2.setNumThreads(1)


#: The folders the generator writes (the Cityscapes layout).
DATA_FOLDERS = ('leftImg8bit', 'gtFine', 'disparity', 'camera')


def _check_output_folder(out_dir: str, written: set, clean: bool) -> None:
    """Refuse to leave frames of an earlier generation beside the new ones.

    Every file the generation writes replaces the file of that name, so an earlier generation
    with the same or fewer frames per split is overwritten completely (whatever its seed or
    size). Files under ``leftImg8bit``/``gtFine``/``disparity``/``camera`` that this generation
    does not write would stay: a dataset mixing two generations (other sizes, seeds). Those
    are refused, or with ``clean`` the four folders are deleted first.
    """
    stale = []
    for folder in DATA_FOLDERS:
        for dirpath, _, files in os.walk(osp.join(out_dir, folder)):
            stale += [osp.join(dirpath, f) for f in files
                      if osp.join(dirpath, f) not in written]
    if not stale:
        return
    if clean:
        import shutil
        for folder in DATA_FOLDERS:
            shutil.rmtree(osp.join(out_dir, folder), ignore_errors=True)
        return
    splits = sorted({osp.relpath(p, out_dir).split(os.sep)[1] for p in stale
                     if len(osp.relpath(p, out_dir).split(os.sep)) > 2})
    raise FileExistsError(
        f'SynthCity: {out_dir!r} holds {len(stale)} file(s) of an earlier generation that this '
        f'one does not write (e.g. {stale[0]}; splits {splits}): they would stay beside the new '
        'frames, mixing two generations (other counts, sizes or seeds) in one dataset. Give an '
        'empty or new folder, or clean=True (tools/generate_synthcity.py --clean) to delete its '
        f'{", ".join(DATA_FOLDERS)} folders first.')


def generate_synthcity(out_dir: str, num_train: int = 200, num_val: int = 50,
                       height: int = 256, width: int = 512, seed: int = 0,
                       progress: bool = True, max_depth: float = 80.0,
                       ego_hood: bool = True, num_test: int = 0, num_test_shift: int = 0,
                       num_unlabeled: int = 0, appearance: str = 'classic',
                       workers: int = 1, clean: bool = False) -> Dict:
    """Generate a SynthCity dataset in the Cityscapes layout under ``out_dir``.

    Args:
        out_dir (str): dataset root (created; the frames written replace files of
            the same name, other files there are left alone).
        num_train, num_val (int): frames per split.
        height, width (int): image size.
        seed (int): dataset seed; the same seed gives byte-identical files.
        progress (bool): show a tqdm progress bar.
        max_depth (float): depth beyond it is written as invalid (``p = 0``).
        ego_hood (bool): draw the ego-vehicle hood (ignored label, no depth).
        num_test (int): held-out test frames (their own random stream: adding them changes
            no train or val frame).
        num_test_shift (int): colour-shifted test frames: frame ``i`` has test frame ``i``'s
            labels and depth with another palette and lighting.
        num_unlabeled (int): frames of the ``unlabeled`` pool (own stream; all files are
            written, the training configs decide what they read).
        appearance (str): 'classic' or 'varied' for train, val, test and unlabeled (see
            :func:`render_frame`); 'classic' gives the files of earlier versions.
        workers (int): processes rendering in parallel; the files do not depend on it.
        clean (bool): when ``out_dir`` holds frame files this generation does not write
            (an earlier generation with more frames or other splits), delete its
            ``leftImg8bit``, ``gtFine``, ``disparity`` and ``camera`` folders first. Without
            it such a folder is refused (``FileExistsError``): the new frames would sit beside
            stale ones. Files of the same name are replaced, as before.

    Returns:
        dict: ``out_dir``, ``height``, ``width``, ``seed``, ``max_depth``, ``appearance``,
        ``num_frames`` ({split: count}) and per generated split ``class_pixels``
        ({class name: pixel count}), ``ignore_pixels`` and ``valid_depth_pixels``.
    """
    counts = {'train': _check_count('num_train', num_train),
              'val': _check_count('num_val', num_val),
              'test': _check_count('num_test', num_test),
              'test_shift': _check_count('num_test_shift', num_test_shift),
              'unlabeled': _check_count('num_unlabeled', num_unlabeled)}
    seed = _check_count('seed', seed)
    workers = _check_count('workers', workers)
    if workers < 1:
        raise ValueError(f'workers must be at least 1, got {workers}')
    if appearance not in ('classic', 'varied'):
        raise ValueError(f"appearance must be 'classic' or 'varied', got {appearance!r} "
                         "(the colour-shifted look is the test_shift split: --num-test-shift)")
    height, width = _check_frame_args(height, width, max_depth)
    jobs = [(out_dir, split, i, seed, height, width, max_depth, ego_hood, appearance)
            for split in SPLITS for i in range(counts[split])]
    if osp.isdir(out_dir):
        written = {path for _, split, i, *_ in jobs
                   for path in frame_paths(out_dir, split, *frame_name(split, i)).values()}
        _check_output_folder(out_dir, written, clean)
    os.makedirs(out_dir, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc='SynthCity', unit='frame')
    stats = {split: {'hist': np.zeros(256, np.int64), 'depth': 0}
             for split in SPLITS if counts[split] or split in ('train', 'val')}
    pool = None
    if workers > 1 and len(jobs) > 1:
        pool = multiprocessing.get_context('fork').Pool(workers, initializer=_worker_init)
        results = pool.imap_unordered(_render_and_write, jobs, chunksize=4)
    else:
        results = map(_render_and_write, jobs)
    try:
        for split, hist, depth in results:
            stats[split]['hist'] += hist
            stats[split]['depth'] += depth
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if bar is not None:
            bar.close()
    summary = {'out_dir': str(out_dir), 'height': height, 'width': width, 'seed': seed,
               'max_depth': max_depth, 'appearance': appearance,
               'num_frames': {k: v for k, v in counts.items()
                              if v or k in ('train', 'val')}}
    for split, s in stats.items():
        summary[split] = {
            'class_pixels': {name: int(s['hist'][i]) for i, name in
                             enumerate(L.TRAIN_CLASSES)},
            'ignore_pixels': int(s['hist'][L.IGNORE_INDEX]),
            'valid_depth_pixels': s['depth'],
        }
    return summary
