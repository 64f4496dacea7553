"""Work-dir guards of ``tools/train.py``: one run per work dir, ``--resume`` that finds
something to resume."""
import difflib
import os
import os.path as osp
import socket
import sys
from typing import Optional

__all__ = ['WorkDirLock', 'WorkDirLockedError', 'find_resume_checkpoint', 'NothingToResumeError',
           'resolve_last_checkpoint']

LOCK_NAME = '.train.lock'


class WorkDirLockedError(RuntimeError):
    """Another process trains in the same work dir."""


class NothingToResumeError(FileNotFoundError):
    """``--resume`` was given but the work dir holds no checkpoint."""


class WorkDirLock:
    """Exclusive ``flock`` on ``<work_dir>/.train.lock`` for the lifetime of a training run.

    Two runs in one work dir overwrite each other's checkpoints and ``last_checkpoint``. The
    lock file holds the owner's pid, host and command line, which the refusal message names.
    The kernel drops the lock when the process ends, also when it is killed, so a stale lock
    cannot block the next run. Where ``fcntl`` is missing (Windows) no lock is taken.

    Args:
        work_dir (str): The run's work dir (created if needed).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def acquire(self) -> 'WorkDirLock':
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            with open(self.path, encoding='utf-8', errors='replace') as f:
                owner = f.read().strip() or 'unknown process'
            os.close(fd)
            raise WorkDirLockedError(
                f'Work dir {self.work_dir!r} is in use by another training run ({owner}); two '
                'runs in one work dir overwrite each other\'s checkpoints. Give this run its own '
                '--work-dir, or wait for / stop the other run (kill the pid above).') from None
        os.ftruncate(fd, 0)
        os.write(fd, f'pid {os.getpid()} on {socket.gethostname()}: '
                     f'{" ".join(sys.argv)}\n'.encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def resolve_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``<work_dir>/last_checkpoint``, taken from this work dir.

    MMEngine writes the absolute path of the newest checkpoint into ``last_checkpoint`` and
    resumes from that path. A copied work dir would then resume from the *original's* file
    (even after the copy's own file was deleted), and a moved one could not resume although
    it holds the file. Here the named file is used only when it lies in ``work_dir``; else
    the file of the same name in ``work_dir`` is used (a copied or moved work dir).

    Returns:
        str | None: The checkpoint path, or None when there is no ``last_checkpoint``.

    Raises:
        NothingToResumeError: ``last_checkpoint`` names a file that this work dir does not hold.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker, encoding='utf-8') as f:
        named = f.read().strip()
    if not named:
        return None
    here = osp.realpath(work_dir)
    path = named if osp.isabs(named) else osp.join(work_dir, named)
    if osp.realpath(osp.dirname(path)) == here and osp.isfile(path):
        return path
    local = osp.join(work_dir, osp.basename(named))
    if osp.isfile(local):
        if osp.realpath(local) != osp.realpath(path):
            sys.stderr.write(f'--resume: {marker} names {named} (another work dir: this one '
                             f'was copied or moved); resuming from this work dir\'s own '
                             f'{local}.\n')
        return local
    raise NothingToResumeError(
        f'--resume: {marker} names {named}, but {work_dir!r} holds no '
        f'{osp.basename(named)}' + (' (that path is in another work dir: this one was copied '
                                    'or moved, and resuming from there would continue the '
                                    'other run)' if osp.realpath(osp.dirname(path)) != here
                                    else '') +
        '. Put the checkpoint into this work dir, or write the name of one it holds into '
        'last_checkpoint, or drop --resume.')


def find_resume_checkpoint(work_dir: str) -> str:
    """The checkpoint ``--resume`` would continue from (MMEngine's ``find_latest_checkpoint``).

    Raises:
        NothingToResumeError: if the work dir has none, naming similar work dirs that do.
    """
    found = resolve_last_checkpoint(work_dir)
    if found:
        return found
    parent = osp.dirname(osp.abspath(work_dir))
    candidates = [d for d in (os.listdir(parent) if osp.isdir(parent) else [])
                  if osp.isfile(osp.join(parent, d, 'last_checkpoint'))]
    close = difflib.get_close_matches(osp.basename(osp.abspath(work_dir)), candidates, n=3)
    hint = (f' Work dirs next to it that can be resumed: {close}.' if close else '')
    state = 'does not exist' if not osp.isdir(work_dir) else 'holds no checkpoint'
    raise NothingToResumeError(
        f'--resume: work dir {work_dir!r} {state} (no last_checkpoint, no iter_*.pth), so there '
        f'is nothing to resume and the run would silently start from scratch.{hint} Check '
        '--work-dir, or drop --resume to start a fresh run.')
