"""Importing mmseg_ccam hides MMEngine's pkg_resources deprecation warning and nothing else."""
import os.path as osp

from conftest import ROOT, run_python

SCRIPT = """
import warnings
import mmseg_ccam
from mmengine.config import Config
Config.fromfile({config!r})  # inherits mmseg::, which imports pkg_resources in MMEngine
warnings.warn('pkg_resources is deprecated as an API (raised by the user)', UserWarning)
warnings.warn('another warning', UserWarning)
"""


def test_only_mmengines_pkg_resources_warning_is_hidden():
    config = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
    proc = run_python(['-c', SCRIPT.format(config=config)], timeout=300, PYTHONWARNINGS=None)
    lines = [line for line in proc.stderr.splitlines() if 'pkg_resources is deprecated' in line]
    assert lines == ['<string>:6: UserWarning: pkg_resources is deprecated as an API (raised by '
                     'the user)']
    assert '<string>:7: UserWarning: another warning' in proc.stderr
