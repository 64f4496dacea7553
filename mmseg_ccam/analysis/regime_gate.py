"""The regime gate of ``docs/evidence.md`` ("Regime gate v2"), computed from pilot curves.

A pilot run is the dict ``tools/analysis_tools/pilot_curves.py export`` writes: ``name``,
``curve`` (``step``, ``mIoU``, ...: one value per validation) and ``per_class_iou`` (class name
-> one IoU per validation, None where a class was absent). The gate, as written before any pilot:

* G1: the fully-labeled arm has IoU >= 10 on at least 12 of the 17 classes present in SynthCity's
  val/test splits, IoU averaged over seeds per class (final validation);
* G2: each fully-labeled curve rises by less than 1 mIoU point from the validation at 75 % of the
  schedule to the last one;
* G3: the 1/8 arm's final mIoU is between 50 % and 90 % of the fully-labeled arm's (same seed).
"""
from typing import Dict, List, Optional, Sequence

#: The 19 Cityscapes train classes, in train-id order.
CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
           'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
           'bus', 'train', 'motorcycle', 'bicycle')
#: G1: classes present in SynthCity's test (and val) split: all but train and motorcycle.
PRESENT = tuple(c for c in CLASSES if c not in ('train', 'motorcycle'))
G1_IOU, G1_CLASSES, G2_RISE, G3_LOW, G3_HIGH = 10.0, 12, 1.0, 0.5, 0.9


def final_class_iou(runs: Sequence[dict]) -> Dict[str, Optional[float]]:
    """Per present class, the final-validation IoU averaged over ``runs`` (seeds); None where
    no run has a value."""
    out = {}
    for c in PRESENT:
        values = [(r['per_class_iou'].get(c) or [None])[-1] for r in runs]
        values = [v for v in values if v is not None]
        out[c] = sum(values) / len(values) if values else None
    return out


def learned_classes(runs: Sequence[dict]) -> List[str]:
    """Present classes whose final IoU, averaged over ``runs``, is >= ``G1_IOU``."""
    return [c for c, v in final_class_iou(runs).items() if v is not None and v >= G1_IOU]


def rise_last_quarter(run: dict) -> dict:
    """G2's measure: final mIoU minus mIoU at the last validation at or before 75 % of the
    run's last validated iteration."""
    steps, miou = run['curve']['step'], run['curve']['mIoU']
    at75 = max((i for i, s in enumerate(steps) if s <= 0.75 * steps[-1]), default=0)
    return {'run': run['name'], 'from_step': steps[at75], 'to_step': steps[-1],
            'rise': round(miou[-1] - miou[at75], 2)}


def gate(full: Sequence[dict], eighth: Optional[dict] = None) -> dict:
    """G1-G3 of the fully-labeled runs ``full`` (one per seed, seed 0 first) and the 1/8 run
    of seed 0. G2 must hold for every seed; G3 compares ``eighth`` with ``full[0]``."""
    if not full:
        raise ValueError('the gate needs at least one fully-labeled run')
    learned = learned_classes(full)
    rises = [rise_last_quarter(r) for r in full]
    out = {'runs': [r['name'] for r in full], 'mIoU': [r['curve']['mIoU'][-1] for r in full],
           'learned': learned, 'G1': len(learned) >= G1_CLASSES, 'rises': rises,
           'G2': all(r['rise'] < G2_RISE for r in rises)}
    if eighth is not None:
        ratio = eighth['curve']['mIoU'][-1] / full[0]['curve']['mIoU'][-1]
        out.update(eighth_mIoU=eighth['curve']['mIoU'][-1], ratio=round(ratio, 3),
                   G3=G3_LOW <= ratio <= G3_HIGH)
    return out


def gate_table(result: dict) -> str:
    """The gate as a Markdown table."""
    rows = ['| gate | measured | met |', '| --- | --- | --- |',
            f"| G1 (>= {G1_CLASSES} of {len(PRESENT)} classes IoU >= {G1_IOU:g}, mean of "
            f"{len(result['runs'])} seed(s)) | {len(result['learned'])}: "
            f"{', '.join(result['learned'])} | {result['G1']} |"]
    rises = '; '.join(f"{r['run']} {r['rise']:+.2f} (it {r['from_step']} -> {r['to_step']})"
                      for r in result['rises'])
    rows.append(f'| G2 (rise < {G2_RISE:g} over the last quarter) | {rises} | {result["G2"]} |')
    if 'ratio' in result:
        rows.append(f"| G3 (1/8 at {G3_LOW:.0%}-{G3_HIGH:.0%} of full) | "
                    f"{result['eighth_mIoU']} / {result['mIoU'][0]} = {result['ratio']:.1%} | "
                    f"{result['G3']} |")
    return '\n'.join(rows)
