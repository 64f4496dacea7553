"""The noise mmseg_ccam silences, by message and origin only: mmseg's build_loss deprecation
(raised in mmseg.models.builder), MMEngine's "prefix is not set" notice for this package's
metrics, and "GPU number" on a machine without CUDA."""
import logging

import torch
from conftest import run_python
from mmengine.logging import MMLogger

import mmseg_ccam  # noqa: F401

SCRIPT = """
import warnings
import mmseg_ccam
from mmseg.registry import MODELS
from mmengine.registry import init_default_scope
init_default_scope('mmseg')
MODELS.build(dict(type='FCNHead', in_channels=4, channels=4, num_classes=2, num_convs=1))
warnings.warn('``build_loss`` would be deprecated soon (raised by the user)', UserWarning)
"""


def test_build_loss_warning_hidden_only_from_mmseg_builder():
    proc = run_python(['-c', SCRIPT], timeout=300, PYTHONWARNINGS=None)
    lines = [line for line in proc.stderr.splitlines() if 'build_loss' in line]
    assert lines == ['<string>:8: UserWarning: ``build_loss`` would be deprecated soon (raised '
                     'by the user)']


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord('x', logging.WARNING, __file__, 1, message, (), None)


def test_prefix_notice_of_own_metrics_dropped_others_kept():
    logger = MMLogger.get_instance('quiet_logs_test')  # created after the import
    assert not logger.filter(record('The prefix is not set in metric class ClassIoUMetric.'))
    assert not logger.filter(record('The prefix is not set in metric class '
                                    'StreamingDepthMetric.'))
    # mmseg's own metric and any other message pass
    assert logger.filter(record('The prefix is not set in metric class IoUMetric.'))
    assert logger.filter(record('Load checkpoint from x.pth'))


def test_gpu_number_renamed_without_cuda():
    logger = MMLogger.get_instance('quiet_logs_test_env')
    rec = logging.LogRecord('x', logging.INFO, __file__, 1, '\n    seed: %d\n    GPU number: 1',
                            (0, ), None)
    assert logger.filter(rec)
    if torch.cuda.is_available():
        assert 'GPU number: 1' in rec.getMessage()
    else:
        assert rec.getMessage() == '\n    seed: 0\n    Processes (no CUDA): 1'
