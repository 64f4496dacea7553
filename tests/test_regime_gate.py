"""The regime gate (docs/evidence.md) from pilot curves: G1 averaged over seeds per class, G2 on
every seed's last quarter, G3 as the 1/8 arm over seed 0's full arm."""
import json

import pytest
from conftest import load_script

from mmseg_ccam.analysis.regime_gate import PRESENT, gate, gate_table, learned_classes


def _run(name, steps, miou, final_iou):
    """A pilot-run dict whose final per-class IoU is ``final_iou`` (class -> value, others 0)."""
    per_class = {c: [0.0] * (len(steps) - 1) + [final_iou.get(c, 0.0)] for c in PRESENT}
    per_class['train'] = [None] * len(steps)
    return {'name': name, 'curve': {'step': steps, 'mIoU': miou}, 'per_class_iou': per_class}


STEPS = [200, 400, 600, 800, 1000, 1200, 1400, 1600]


def test_g1_averages_seeds_per_class():
    twelve = {c: 30.0 for c in PRESENT[:12]}
    seed0 = _run('s0', STEPS, [10] * 7 + [40.0], {**twelve, PRESENT[11]: 12.0})
    seed1 = _run('s1', STEPS, [10] * 7 + [40.0], {**twelve, PRESENT[11]: 7.0})
    # the 12th class: 12 and 7 average to 9.5 < 10, so 11 classes are learned over the seeds
    assert len(learned_classes([seed0])) == 12
    result = gate([seed0, seed1])
    assert result['learned'] == list(PRESENT[:11]) and result['G1'] is False
    seed1['per_class_iou'][PRESENT[11]][-1] = 8.0  # (12 + 8) / 2 = 10: learned
    assert gate([seed0, seed1])['G1'] is True


def test_g2_uses_the_validation_at_75_percent_of_each_seed():
    # 75 % of 1600 = 1200: rise = 40.0 - 39.2 = 0.8 for seed 0; seed 1 rises 1.5
    seed0 = _run('s0', STEPS, [10, 20, 30, 35, 38, 39.2, 39.8, 40.0], {})
    seed1 = _run('s1', STEPS, [10, 20, 30, 35, 38, 38.5, 39.0, 40.0], {})
    r0 = gate([seed0])
    assert r0['rises'][0] == {'run': 's0', 'from_step': 1200, 'to_step': 1600, 'rise': 0.8}
    assert r0['G2'] is True
    assert gate([seed0, seed1])['G2'] is False


@pytest.mark.parametrize('eighth_miou, met', [(36.0, True), (20.0, True), (36.4, False),
                                              (19.9, False)])
def test_g3_bounds(eighth_miou, met):
    full = _run('full', STEPS, [10] * 7 + [40.0], {})
    eighth = _run('e', STEPS, [10] * 7 + [eighth_miou], {})
    result = gate([full], eighth)
    assert result['ratio'] == round(eighth_miou / 40.0, 3) and result['G3'] is met
    assert f'{eighth_miou} / 40.0' in gate_table(result)


def test_tool_gate_command_reads_json(tmp_path, capsys):
    paths = []
    for i, final in enumerate((40.0, 39.0)):
        run = _run(f's{i}', STEPS, [10] * 6 + [final - 0.5, final], {c: 50.0 for c in PRESENT})
        paths.append(tmp_path / f's{i}.json')
        paths[-1].write_text(json.dumps(run))
    eighth = tmp_path / 'e.json'
    eighth.write_text(json.dumps(_run('e', STEPS, [10] * 8, {})))
    load_script('tools/analysis_tools/pilot_curves.py').main(
        ['gate', str(paths[0]), str(paths[1]), '--eighth', str(eighth)])
    out = capsys.readouterr().out
    assert '17: road' in out and 'mean of 2 seed(s)' in out and '10 / 40.0 = 25.0% | False' in out
