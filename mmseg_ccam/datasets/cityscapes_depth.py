"""Cityscapes with disparity-derived depth and semi-supervised label splits.

The dataset lists the usual Cityscapes frames and adds, per frame, the paths of its disparity
PNG and camera JSON (decoded into metric depth by
:class:`mmseg_ccam.datasets.transforms.LoadCityscapesDepth`). It can also restrict itself to the
labeled or the unlabeled part of a semi-supervised split, given either as a text file (the format
``tools/make_splits.py`` writes) or as a seeded random draw.

Split-file format (one frame per line)::

    # comments and blank lines are ignored
    aachen/aachen_000000_000019        <city>/<city>_<seq>_<frame>
    aachen_000001_000019               or the bare basename
    leftImg8bit/train/aachen/aachen_000002_000019_leftImg8bit.png  (extra folders and the image
                                       suffix are tolerated; only the first column is read)
"""
import copy
import numbers
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import mmengine
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from . import validation as V

SUBSETS = ('labeled', 'unlabeled', 'all')


def _is_number(value) -> bool:
    """A real number, not a bool or a string (``'half'`` would fail later in a comparison)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def draw_labeled_indices(num_frames: int, num_labeled: int, seed: int) -> np.ndarray:
    """Draw ``num_labeled`` of ``num_frames`` frame indices, deterministically.

    The draw is the first ``num_labeled`` entries of one seeded permutation, so for a fixed seed
    a smaller split is always a subset of a larger one (100 ⊂ 372 ⊂ 744).

    Args:
        num_frames (int): Number of frames in the (sorted) frame list.
        num_labeled (int): How many to draw, ``0 < num_labeled <= num_frames``.
        seed (int): Seed of ``np.random.default_rng``.

    Returns:
        np.ndarray: Sorted int64 indices into the frame list, shape ``(num_labeled,)``.
    """
    if not 0 < num_labeled <= num_frames:
        raise ValueError(f'num_labeled={num_labeled} must be in [1, {num_frames}] '
                         f'(the number of frames found)')
    perm = np.random.default_rng(seed).permutation(num_frames)
    return np.sort(perm[:num_labeled])


def parse_split_lines(lines: Sequence[str], img_suffix: str = '_leftImg8bit.png') -> List[str]:
    """Turn the lines of a split file into frame names (comments and blanks dropped).

    Args:
        lines (Sequence[str]): Raw lines.
        img_suffix (str): Image suffix stripped from an entry that carries it.

    Returns:
        list[str]: One entry per frame line, e.g. ``'aachen/aachen_000000_000019'`` or
        ``'aachen_000000_000019'``, in file order.
    """
    entries = []
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        entry = line.split()[0].replace('\\', '/')
        if img_suffix and entry.endswith(img_suffix):
            entry = entry[:-len(img_suffix)]
        entries.append(entry)
    return entries


def match_split_entries(entries: Sequence[str], frame_ids: Sequence[str],
                        split_file: str = '<split file>') -> np.ndarray:
    """Map split-file entries to indices of ``frame_ids``.

    An entry matches the frame with the same basename; if the entry also names folders, the
    frame id (``<city>/<basename>``) and the entry must agree on their common trailing part.

    Args:
        entries (Sequence[str]): Output of :func:`parse_split_lines`.
        frame_ids (Sequence[str]): Frame ids relative to the image folder, without suffix.
        split_file (str): Used in error messages only.

    Returns:
        np.ndarray: Sorted unique int64 indices of the named frames.
    """
    by_name: Dict[str, List[int]] = {}
    for i, fid in enumerate(frame_ids):
        by_name.setdefault(fid.rsplit('/', 1)[-1], []).append(i)
    selected, unknown = set(), []
    for entry in entries:
        candidates = by_name.get(entry.rsplit('/', 1)[-1], [])
        if '/' in entry:
            candidates = [
                i for i in candidates
                if entry.endswith('/' + frame_ids[i]) or entry == frame_ids[i]
                or frame_ids[i].endswith('/' + entry)
            ]
        if not candidates:
            unknown.append(entry)
        elif len(candidates) > 1:
            raise ValueError(
                f'split file {split_file}: entry {entry!r} matches several frames '
                f'({[frame_ids[i] for i in candidates[:3]]}); write it as <folder>/<name>')
        else:
            selected.add(candidates[0])
    if unknown:
        raise ValueError(
            f'split file {split_file} names {len(unknown)} frame(s) that are not in the image '
            f'folder, e.g. {unknown[:5]}. Check data_root / data_prefix.img_path and that the '
            f'split was made for this data (tools/make_splits.py).')
    return np.array(sorted(selected), dtype=np.int64)


@DATASETS.register_module()
class CityscapesDepthDataset(CityscapesDataset):
    """Cityscapes frames with segmentation labels, disparity depth and label splits.

    Each data info holds ``img_path``, ``seg_map_path`` (None when the frame has no segmentation
    label in this dataset), ``depth_path``, ``camera_path`` (None when their prefix is not
    configured), ``has_seg_label`` (bool), ``frame_id`` (``<city>/<city>_<seq>_<frame>``) and
    mmseg's ``label_map``, ``reduce_zero_label``, ``seg_fields``.

    Use :class:`LoadOptionalAnnotations` (not ``LoadAnnotations``) in the pipeline so frames with
    ``seg_map_path=None`` get an all-ignore map, and :class:`LoadCityscapesDepth` for depth. Add
    ``'has_seg_label'`` to ``PackSegInputs(meta_keys=...)`` if the model needs it. Each info
    also holds ``num_classes``, which :class:`LoadOptionalAnnotations` uses to check label ids.

    When the pipeline fails on a frame, the frame's files are checked with
    :func:`mmseg_ccam.datasets.validation.check_frame` and the error names the bad file(s), as
    ``tools/check_dataset.py`` would.

    Args:
        img_suffix (str): Image suffix. Defaults to ``'_leftImg8bit.png'``.
        seg_map_suffix (str): Label suffix. Defaults to ``'_gtFine_labelTrainIds.png'``.
        depth_suffix (str): Disparity suffix. Defaults to ``'_disparity.png'``.
        camera_suffix (str): Camera JSON suffix. Defaults to ``'_camera.json'``.
        data_prefix (dict): Folders (joined with ``data_root``) under keys ``img_path``,
            ``seg_map_path``, ``depth_path``, ``camera_path``; a key may be left out (frames then
            have no such file). None means ``dict(img_path='', seg_map_path='')``.
        split_file (str, optional): Text file naming the labeled frames. A relative path is
            looked up under ``data_root`` first, then the working directory.
        num_labeled (int, optional): Draw this many labeled frames instead of a split file.
        labeled_ratio (float, optional): Draw ``round(ratio * num_frames)`` labeled frames.
        split_seed (int): Seed of the draw (see :func:`draw_labeled_indices`). Defaults to 0.
        subset (str): ``'labeled'`` (the split's frames, with labels), ``'unlabeled'`` (the other
            frames, without labels) or ``'all'`` (every frame; only the split's are labeled).
            Defaults to ``'labeled'``. Without any split argument every frame is labeled.
        with_seg_label (bool): False marks every frame as unlabeled for segmentation (e.g. the
            test split). Defaults to True.
        check_files (bool): At build time, check that every frame's image, label, disparity and
            camera file exists (one stat each) and raise an error naming the missing ones.
            Turn off for slow remote backends. Defaults to True.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.
    """

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 depth_suffix: str = '_disparity.png',
                 camera_suffix: str = '_camera.json',
                 data_prefix: Optional[dict] = None,
                 split_file: Optional[str] = None,
                 num_labeled: Optional[int] = None,
                 labeled_ratio: Optional[float] = None,
                 split_seed: int = 0,
                 subset: str = 'labeled',
                 with_seg_label: bool = True,
                 check_files: bool = True,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='', seg_map_path='')
        given = [name for name, value in (('split_file', split_file), ('num_labeled', num_labeled),
                                          ('labeled_ratio', labeled_ratio)) if value is not None]
        if len(given) > 1:
            raise ValueError(f'CityscapesDepthDataset: give only one of split_file, num_labeled, '
                             f'labeled_ratio (got {given})')
        if subset not in SUBSETS:
            raise ValueError(f'CityscapesDepthDataset: subset={subset!r} must be one of {SUBSETS}')
        if subset == 'unlabeled' and not given:
            raise ValueError("CityscapesDepthDataset: subset='unlabeled' needs split_file, "
                             'num_labeled or labeled_ratio (otherwise every frame is labeled '
                             'and the unlabeled subset is empty)')
        if num_labeled is not None and (not _is_number(num_labeled) or num_labeled < 1
                                        or int(num_labeled) != num_labeled):
            raise ValueError(f'CityscapesDepthDataset: num_labeled={num_labeled!r} must be a '
                             f'positive integer (a number of frames, e.g. num_labeled=372)')
        if labeled_ratio is not None and (not _is_number(labeled_ratio)
                                          or not 0.0 < labeled_ratio <= 1.0):
            raise ValueError(f'CityscapesDepthDataset: labeled_ratio={labeled_ratio!r} must be '
                             f'a number in (0, 1], the fraction of frames that keep their '
                             f'labels (e.g. labeled_ratio=0.5 for half)')
        self.depth_suffix = depth_suffix
        self.camera_suffix = camera_suffix
        self.split_file = split_file
        self.num_labeled = None if num_labeled is None else int(num_labeled)
        self.labeled_ratio = labeled_ratio
        self.split_seed = split_seed
        self.subset = subset
        self.with_seg_label = with_seg_label
        self.check_files = check_files
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=copy.copy(data_prefix),
            **kwargs)

    # ------------------------------------------------------------------ helpers
    def _frame_id(self, img_path: str, img_dir: str) -> str:
        """``<city>/<city>_<seq>_<frame>``: the image path relative to its folder, no suffix."""
        rel = img_path
        if img_dir and img_path.startswith(img_dir):
            rel = img_path[len(img_dir):].lstrip('/\\')
        rel = rel.replace('\\', '/')
        return rel[:-len(self.img_suffix)] if rel.endswith(self.img_suffix) else rel

    def _resolve_split_file(self) -> str:
        path = self.split_file
        tried = [path]
        if not osp.isabs(path) and '://' not in path and self.data_root:
            rooted = osp.join(self.data_root, path)
            if fileio.exists(rooted, backend_args=self.backend_args):
                return rooted
            tried.insert(0, rooted)
        if fileio.exists(path, backend_args=self.backend_args):
            return path
        raise FileNotFoundError(
            f'CityscapesDepthDataset: split_file not found (tried {tried}). Create it with '
            f'tools/make_splits.py DATA_ROOT --counts N --seed S, or fix the path.')

    def _labeled_indices(self, frame_ids: List[str]) -> Optional[np.ndarray]:
        """Indices of the labeled frames of the split, or None when no split is configured."""
        if self.split_file is not None:
            path = self._resolve_split_file()
            lines = mmengine.list_from_file(path, backend_args=self.backend_args)
            entries = parse_split_lines(lines, self.img_suffix)
            if not entries:
                raise ValueError(f'CityscapesDepthDataset: split_file {path} lists no frame '
                                 f'(only blank or comment lines); write one frame per line '
                                 f'(<city>/<city>_<seq>_<frame>) or regenerate it with '
                                 f'tools/make_splits.py DATA_ROOT --counts N --seed S')
            return match_split_entries(entries, frame_ids, path)
        count = self.num_labeled
        if self.labeled_ratio is not None:
            count = int(round(self.labeled_ratio * len(frame_ids)))
            if count < 1:
                raise ValueError(
                    f'CityscapesDepthDataset: labeled_ratio={self.labeled_ratio} of the '
                    f'{len(frame_ids)} frames under data_root={self.data_root!r} selects no '
                    f'frame, so the labeled subset is empty; raise labeled_ratio to at least '
                    f'{0.5 / len(frame_ids):.3g} or give num_labeled instead')
        if count is None:
            return None
        if count > len(frame_ids):
            raise ValueError(
                f'CityscapesDepthDataset: num_labeled={count} exceeds the {len(frame_ids)} '
                f'frames under {self.data_prefix.get("img_path")!r}')
        return draw_labeled_indices(len(frame_ids), count, self.split_seed)

    # ------------------------------------------------------------------ main
    def load_data_list(self) -> List[dict]:
        """List frames, attach depth/camera paths and apply the label split.

        Returns:
            list[dict]: Data infos sorted by image path (see the class docstring).
        """
        img_dir = self.data_prefix.get('img_path', '') or ''
        if not (self.ann_file and not osp.isdir(self.ann_file)) and img_dir and \
                not fileio.isdir(img_dir, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'CityscapesDepthDataset: image folder {img_dir!r} does not exist; check '
                f'data_root and data_prefix.img_path')
        if img_dir and osp.isdir(img_dir):
            loop = V.symlink_loop(img_dir)
            if loop:
                raise ValueError(f'CityscapesDepthDataset: {loop}')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'CityscapesDepthDataset: no *{self.img_suffix} image under {img_dir!r}; check '
                f'data_root, data_prefix.img_path and img_suffix')

        frame_ids = [self._frame_id(info['img_path'], img_dir) for info in data_list]
        # All frames before the subset is taken: a labeled and an unlabeled subset of one
        # split must together hold them all (MultiSourceSampler checks it).
        self.num_split_frames = len(frame_ids)
        labeled = np.ones(len(data_list), dtype=bool)
        split = self._labeled_indices(frame_ids)
        if split is not None:
            labeled[:] = False
            labeled[split] = True

        depth_dir = self.data_prefix.get('depth_path')
        camera_dir = self.data_prefix.get('camera_path')
        out = []
        for info, fid, is_labeled in zip(data_list, frame_ids, labeled):
            if self.subset == 'labeled' and not is_labeled:
                continue
            if self.subset == 'unlabeled' and is_labeled:
                continue
            has_label = bool(is_labeled and self.with_seg_label
                             and info.get('seg_map_path') is not None)
            info['frame_id'] = fid
            info['has_seg_label'] = has_label
            if not has_label:
                info['seg_map_path'] = None
            info['depth_path'] = (None if depth_dir is None else
                                  osp.join(depth_dir, fid + self.depth_suffix))
            info['camera_path'] = (None if camera_dir is None else
                                   osp.join(camera_dir, fid + self.camera_suffix))
            out.append(info)
        if not out:
            what = 'labeled' if self.subset == 'unlabeled' else 'unlabeled'
            raise ValueError(
                f'CityscapesDepthDataset: subset={self.subset!r} is empty: all '
                f'{len(data_list)} frames under data_root={self.data_root!r} '
                f'(data_prefix.img_path={img_dir!r}) are {what} by the split '
                f'({self.split_description()}). Use a split that leaves some frames '
                f'{self.subset} (smaller num_labeled / labeled_ratio, or a shorter split_file), '
                f'or subset=\'all\'.')
        num_classes = len(self.metainfo.get('classes', ()) or ())
        for info in out:
            if num_classes:
                info['num_classes'] = num_classes
        if self.check_files:
            self._check_files_exist(out)
            self._warn_files_without_image(frame_ids)
        return out

    def _warn_files_without_image(self, frame_ids: List[str]) -> None:
        """Warn about label / disparity / camera files whose image is missing.

        Frames are listed by their images, so a deleted image silently drops its frame (and its
        labels) out of training; the other folders are listed once to count such files.
        """
        known = set(frame_ids)
        stray = []
        for key, suffix in (('seg_map_path', self.seg_map_suffix),
                            ('depth_path', self.depth_suffix),
                            ('camera_path', self.camera_suffix)):
            folder = self.data_prefix.get(key)
            if not folder or not osp.isdir(folder):
                continue  # non-local backends and missing folders: nothing to compare
            for rel in fileio.list_dir_or_file(folder, list_dir=False, suffix=suffix,
                                               recursive=True):
                if rel[:-len(suffix)] not in known:
                    stray.append((key, osp.join(folder, rel)))
        if stray:
            key, path = stray[0]
            img = osp.join(self.data_prefix.get('img_path', ''),
                           osp.relpath(path, self.data_prefix[key])[:-len(
                               dict(seg_map_path=self.seg_map_suffix,
                                    depth_path=self.depth_suffix,
                                    camera_path=self.camera_suffix)[key])] + self.img_suffix)
            warnings.warn(
                f'CityscapesDepthDataset: {len(stray)} label/disparity/camera file(s) under '
                f'data_root={self.data_root!r} have no image, so their frames are not in the '
                f'dataset; e.g. {V.file_without_image(path, key, img)}. Run {V.CHECK_TOOL} '
                'for the full list.', stacklevel=2)

    def split_description(self) -> str:
        """The split settings that define this subset, for messages."""
        if self.split_file is not None:
            return f'split_file={self.split_file!r}'
        if self.num_labeled is not None:
            return f'num_labeled={self.num_labeled}'
        if self.labeled_ratio is not None:
            return f'labeled_ratio={self.labeled_ratio}'
        return 'no split: every frame is labeled'

    def _check_files_exist(self, data_list: List[dict]) -> None:
        """Raise one FileNotFoundError listing every missing file of the frames (a stat each)."""
        for key in V.FILE_KINDS:
            # A whole missing folder (e.g. disparity/ never extracted) is one problem, not one
            # per frame.
            folder = self.data_prefix.get(key)
            if folder and any(info.get(key) for info in data_list) and \
                    not fileio.isdir(folder, backend_args=self.backend_args):
                raise FileNotFoundError(
                    f'CityscapesDepthDataset: {V.missing_folder(folder, key)} (data_root='
                    f'{self.data_root!r}); or pass check_files=False to skip this check.')
        problems = []
        for info in data_list:
            problems += V.missing_files(info, self.backend_args)
        if problems:
            shown = '\n  '.join(p.message for p in problems[:5])
            more = f'\n  ... and {len(problems) - 5} more' if len(problems) > 5 else ''
            raise FileNotFoundError(
                f'CityscapesDepthDataset: {len(problems)} file(s) of {len(data_list)} frames '
                f'under data_root={self.data_root!r} are missing:\n  {shown}{more}\n'
                f'Run {V.CHECK_TOOL} to check the whole dataset, fix data_prefix / the '
                f'suffixes, or pass check_files=False to skip this check.')

    def prepare_data(self, idx: int):
        """Run the pipeline on frame ``idx``; on failure, name the frame's bad file(s).

        The file checks run only after a failure, so a healthy frame is read once.
        """
        try:
            return super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            # Raw ids are checked only when the loader does not remap them.
            remapped = info.get('reduce_zero_label') or info.get('label_map')
            problems = V.check_frame(
                {key: info.get(key) for key in V.FILE_KINDS},
                num_classes=None if remapped else info.get('num_classes'),
                ignore_index=self.ignore_index,
                backend_args=self.backend_args)
            # A frame whose only problem is "no valid depth" loads fine (a warning), so the
            # failure lies elsewhere: keep the original error.
            problems = [p for p in problems if p.kind != 'no_valid_depth']
            if not problems:
                raise
            missing = any(p.kind == 'missing' for p in problems)
            listed = '\n  '.join(p.message for p in problems)
            raise (FileNotFoundError if missing else ValueError)(
                f'CityscapesDepthDataset: frame {info.get("frame_id")} (index {idx}) cannot be '
                f'loaded:\n  {listed}') from err
