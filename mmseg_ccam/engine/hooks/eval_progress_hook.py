"""Progress with an ETA during validation and testing."""
import math
import time
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` (``M:SS`` under an hour)."""
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def progress_line(mode: str, done: int, total: int, elapsed: float) -> str:
    """``test 10/50 (20%), elapsed 0:04, eta 0:16``: the ETA assumes the remaining
    iterations take as long as the finished ones on average."""
    eta = elapsed / done * (total - done) if done else float('nan')
    eta_text = format_seconds(eta) if math.isfinite(eta) else '?'
    return (f'{mode} {done}/{total} ({100 * done / total:.0f}%), elapsed '
            f'{format_seconds(elapsed)}, eta {eta_text}')


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """Log the progress of a validation or test run about ``num_updates`` times, with an ETA.

    MMEngine's ``LoggerHook`` logs evaluation iterations every ``interval`` (50 in this
    package's schedules), so an evaluation of 50 images shows nothing until its end; this hook
    logs every ``ceil(len(dataloader) / num_updates)`` iterations and at the last one.

    Args:
        num_updates (int): Lines per evaluation. Defaults to 10.
        min_seconds (float): Skip a line when less than this has passed since the previous one
            (the last line is always logged). Defaults to 0.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, num_updates: int = 10, min_seconds: float = 0.0) -> None:
        if num_updates < 1:
            raise ValueError(f'EvalProgressHook: num_updates must be >= 1, got {num_updates}.')
        self.num_updates = int(num_updates)
        self.min_seconds = float(min_seconds)
        self._start = self._last = 0.0
        self._total = 0

    def _begin(self, dataloader) -> None:
        self._start = self._last = time.perf_counter()
        try:
            self._total = len(dataloader)
        except TypeError:  # an iterable without a length: nothing to estimate
            self._total = 0

    def _step(self, mode: str, batch_idx: int) -> Optional[str]:
        if self._total <= 0:
            return None
        done = batch_idx + 1
        every = max(1, math.ceil(self._total / self.num_updates))
        now = time.perf_counter()
        last = done >= self._total
        if not last and (done % every or now - self._last < self.min_seconds):
            return None
        self._last = now
        line = progress_line(mode, done, self._total, now - self._start)
        print_log(line, logger='current')
        return line

    def before_val_epoch(self, runner) -> None:
        self._begin(runner.val_dataloader)

    def before_test_epoch(self, runner) -> None:
        self._begin(runner.test_dataloader)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._step('val', batch_idx)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._step('test', batch_idx)
