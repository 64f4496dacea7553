# The demo main job: small CCAM model trained from scratch on SynthCity on 2 CPU cores.
_base_ = [
    '../_base_/models/ccam_r18.py', '../_base_/datasets/synthcity.py',
    '../_base_/default_runtime_cpu.py', '../_base_/schedules/schedule_synthcity.py'
]
