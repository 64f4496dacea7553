# Evidence test bed (docs/evidence.md): the SynthCity demo model of ccam_r18_synthcity.py, all
# train labels, batch 4, trained on data/synthcity_evidence (varied appearance) and reported on
# its held-out test split (_base_/datasets/synthcity_evidence.py).
_base_ = [
    '../_base_/models/ccam_r18.py', '../_base_/datasets/synthcity_evidence.py',
    '../_base_/default_runtime_cpu.py', '../_base_/schedules/schedule_synthcity.py'
]
