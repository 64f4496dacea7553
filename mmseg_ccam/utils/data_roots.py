"""A missing dataset folder, found before the runner is built, with the command that makes it.

MMSegmentation finds out that a data root is missing only when the dataset lists its files,
30 lines of traceback deep, and its message (``'data/synthcity/leftImg8bit/val' does not
exist``) does not say that SynthCity is generated, not downloaded. ``tools/train.py`` and
``tools/test.py`` call :func:`check_data_roots` first and print its one-line message.
"""
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

#: What ``make demo`` generates (``tools/quickstart.sh``); the SynthCity configs read it.
SYNTHCITY_ROOT = 'data/synthcity'
GENERATE_COMMAND = ('python tools/generate_synthcity.py data/synthcity --num-train 200 '
                    '--num-val 50 --height 256 --width 512 --seed 0')


class MissingDataError(FileNotFoundError):
    """A dataset folder a data loader needs does not exist (the message says how to get it)."""


def missing_data_message(data_root: str, folder: str, where: str = '') -> str:
    """One line: which folder is missing, and how to make it (SynthCity) or get it."""
    where = f' ({where})' if where else ''
    head = f'Dataset folder {folder!r}{where} does not exist.'
    root = osp.normpath(data_root or '.')
    if root == SYNTHCITY_ROOT:
        return (f'{head} SynthCity is generated, not downloaded: run `make demo` (generates '
                f'it, then trains the demo) or `{GENERATE_COMMAND}`.')
    if osp.basename(root) == 'synthcity':
        return (f'{head} SynthCity is generated, not downloaded: run '
                f'`{GENERATE_COMMAND.replace(SYNTHCITY_ROOT, root, 1)}`.')
    if 'synthcity' in osp.basename(root):
        return (f'{head} It is a SynthCity folder: generate it with tools/generate_synthcity.py '
                f'{root} (the evidence test bed: the command in docs/evidence.md).')
    return (f'{head} Prepare the dataset as README.md "Data: Cityscapes depth" describes, or '
            'point the config at it with --cfg-options <loader>.dataset.data_root=DIR.')


def _datasets(dataset, where: str) -> Iterator[Tuple[dict, str]]:
    """Each leaf dataset config of a (possibly wrapped) dataset config."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for i, d in enumerate(dataset['datasets']):
            yield from _datasets(d, f'{where}.datasets.{i}')
    elif isinstance(dataset.get('dataset'), dict):
        yield from _datasets(dataset['dataset'], f'{where}.dataset')
    else:
        yield dataset, where


def missing_data_folders(cfg, loaders: Sequence[str]) -> List[str]:
    """One-line messages for the image folders of ``loaders`` (e.g. ``'test_dataloader'``)
    that do not exist; empty if all do. Only datasets that list image files
    (``data_prefix.img_path``) are checked."""
    messages = []
    for loader in loaders:
        dataloader = cfg.get(loader)
        if not isinstance(dataloader, dict):
            continue
        for dataset, where in _datasets(dataloader.get('dataset'), f'{loader}.dataset'):
            prefix = dataset.get('data_prefix') or {}
            img_path = prefix.get('img_path') if isinstance(prefix, dict) else None
            if img_path is None:
                continue
            data_root = dataset.get('data_root') or ''
            folder = osp.join(data_root, img_path)
            if not osp.isdir(folder):
                message = missing_data_message(data_root, folder.rstrip('/'), where)
                if message not in messages:
                    messages.append(message)
    return messages


def check_data_roots(cfg, loaders: Sequence[str]) -> None:
    """Raise :class:`MissingDataError` with the first message of
    :func:`missing_data_folders`, if any."""
    messages = missing_data_folders(cfg, loaders)
    if messages:
        raise MissingDataError(messages[0])
