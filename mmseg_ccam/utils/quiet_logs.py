"""Two MMEngine log lines that are wrong or meaningless for this package, filtered by message.

- ``The prefix is not set in metric class ClassIoUMetric.``: MMEngine's ``BaseMetric`` logs it
  for every metric without a ``prefix``; this package's metrics have none on purpose (the JSON
  of ``tools/test.py`` and the logged keys are the bare names ``mIoU``, ``abs_rel``, ...). Only
  the message about a metric class registered by this package is dropped.
- ``GPU number: N`` in the runner's environment block: it is the number of processes
  (MMEngine's world size), also on a machine without CUDA. There it is shown as
  ``Processes (no CUDA): N``.

Everything else MMEngine logs is untouched.
"""
import functools
import logging
import re

from mmengine.logging import MMLogger

PREFIX_MESSAGE = 'The prefix is not set in metric class '
GPU_LINE = re.compile(r'GPU number: (\d+)')


def _own_metric(name: str) -> bool:
    """Whether ``name`` is a metric class registered by this package."""
    from mmseg.registry import METRICS
    cls = METRICS.module_dict.get(name)
    return cls is not None and cls.__module__.startswith('mmseg_ccam.')


class MMEngineNoiseFilter(logging.Filter):
    """Drops the prefix notice of this package's metrics; renames ``GPU number`` without
    CUDA (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(PREFIX_MESSAGE):
            return not _own_metric(message[len(PREFIX_MESSAGE):].rstrip('.'))
        if 'GPU number: ' in message:
            import torch
            if not torch.cuda.is_available():
                record.msg = GPU_LINE.sub(r'Processes (no CUDA): \1', message)
                record.args = ()
        return True


NOISE_FILTER = MMEngineNoiseFilter()


def install_log_filters() -> None:
    """Add :data:`NOISE_FILTER` to every MMEngine logger, existing and future (the runner
    creates its logger, and logs the environment, inside ``Runner.__init__``)."""
    for logger in list(MMLogger._instance_dict.values()):
        if NOISE_FILTER not in logger.filters:
            logger.addFilter(NOISE_FILTER)
    if getattr(MMLogger.__init__, '_mmseg_ccam_filtered', False):
        return
    original = MMLogger.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.addFilter(NOISE_FILTER)

    __init__._mmseg_ccam_filtered = True
    MMLogger.__init__ = __init__
