"""Importing mmseg_ccam hides MMEngine's pkg_resources deprecation warning and nothing else."""
import os
import os.path as osp
import subprocess
import sys

from conftest import ROOT

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
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    proc = subprocess.run([sys.executable, '-c', SCRIPT.format(config=config)], cwd=ROOT,
                          env=dict(env, OMP_NUM_THREADS='1'), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if 'pkg_resources is deprecated' in line]
    assert lines == ['<string>:6: UserWarning: pkg_resources is deprecated as an API (raised by '
                     'the user)']
    assert '<string>:7: UserWarning: another warning' in proc.stderr
