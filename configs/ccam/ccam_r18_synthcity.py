# The demo main job: small CCAM model trained from scratch on SynthCity on 2 CPU cores.
_base_ = [
    '../_base_/models/ccam_r18.py', '../_base_/datasets/synthcity.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_synthcity.py'
]
# CPU runs: gloo for torchrun/Slurm; a fixed seed so that runs and resumes are reproducible.
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
