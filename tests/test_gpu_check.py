"""tools/analysis_tools/gpu_check.py: its refusals, its failure reporting, and its whole logic
once on the CPU (``--device cpu --tiny``: SynthCity at 64x128, the three R50 runs at 1/8 width
for 2 iterations, TTA on 2 frames, through the same ``tools/train.py`` / ``tools/test.py``
commands as on a GPU)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, load_script
from mmengine.config import Config


@pytest.fixture(scope='module')
def gpu_check():
    return load_script('tools/analysis_tools/gpu_check.py')


@pytest.mark.parametrize('argv, expected', [
    ([], 'gpu_check: no CUDA device here; this check is for a GPU machine. On a CPU only the '
         'smoke mode runs: --device cpu --tiny.'),
    (['--device', 'cpu'], 'gpu_check: --device cpu runs the smoke mode only: add --tiny.'),
])
def test_refusals_are_one_line(gpu_check, monkeypatch, capsys, argv, expected):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as exc:
        gpu_check.main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == [expected]


def test_failures_name_the_phase_and_log(gpu_check, tmp_path):
    args = gpu_check.parse_args(['--device', 'cpu', '--tiny', '--timeout', '60'])
    log = str(tmp_path / 'x.log')
    with pytest.raises(gpu_check.GpuCheckError,
                       match=r"^joint_r50: exit status 3; last line: boom; log: .*x\.log$"):
        gpu_check.run_phase('joint_r50', [sys.executable, '-c',
                                          'import sys; print("ok"); print("boom"); sys.exit(3)'],
                            log, args)
    missing = str(tmp_path / 'none.json')
    with pytest.raises(gpu_check.GpuCheckError, match='semi_r50: the run wrote no'):
        gpu_check.summarise('semi_r50', missing, 0)
    with open(missing, 'w') as f:
        json.dump(dict(step_s=[0.5, float('nan')], iter_s=[0.6, 0.7], peak_mem_mib=1.0,
                       mem_kind='x', device='cpu'), f)
    with pytest.raises(gpu_check.GpuCheckError, match=r"non-finite \['step_s'\]"):
        gpu_check.summarise('semi_r50', missing, 0)


def test_tiny_smoke_run(tmp_path):
    """The whole check on the CPU: exit 0, the table, and figures that agree with the runs'
    own timing files and configs."""
    work, out = tmp_path / 'work', tmp_path / 'gpu_check.json'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PYTHONWARNINGS='ignore')
    proc = subprocess.run(['bash', 'tools/analysis_tools/gpu_check.sh', '--device', 'cpu',
                           '--tiny', '--work-dir', str(work), '--json', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    runs = result['results']
    assert list(runs) == ['deeplabv3plus_r50', 'joint_r50', 'semi_r50']
    for name, r in runs.items():
        with open(work / name / 'gpu_check_timing.json') as f:
            timing = json.load(f)
        assert r['iters'] == len(timing['step_s']) == 2 and r['timed'] == 2
        assert r['step_s'] == pytest.approx(sum(timing['step_s']) / 2)
        assert r['step_s'] <= r['iter_s'] and r['peak_mem_mib'] > 0
        assert f'| {name} | {r["step_s"]:.4f} |' in proc.stdout
        # Same crop and images per step; no pretrained weights; the run's own model.
        cfg = Config.fromfile(str(work / name / f'{name}.py'), import_custom_modules=False)
        model = cfg.model.segmentor if name == 'semi_r50' else cfg.model
        assert model.pretrained is None and tuple(cfg.model.data_preprocessor.size) == (64, 128)
        assert cfg.train_dataloader.batch_size == 4
        assert any(t.get('crop_size') == (64, 128) for t in
                   (cfg.train_dataloader.dataset.get('datasets') or
                    [cfg.train_dataloader.dataset])[0].pipeline)
    ref = runs['deeplabv3plus_r50']['step_s']
    assert result['ratios']['semi_over_deeplabv3plus'] == pytest.approx(
        runs['semi_r50']['step_s'] / ref)
    assert result['ratios']['joint_over_deeplabv3plus'] == pytest.approx(
        runs['joint_r50']['step_s'] / ref)
    assert 'semi step / DeepLabV3+ step:' in proc.stdout
    tta = result['tta']
    assert tta['frames'] == 2 and tta['step_s'] > 0
    assert 0 <= tta['metrics']['mIoU'] <= 100 and tta['metrics']['abs_rel'] > 0
    assert result['settings']['amp'] is False  # AmpOptimWrapper needs CUDA
