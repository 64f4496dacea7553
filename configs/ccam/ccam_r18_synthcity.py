# The demo main job: small CCAM model trained from scratch on SynthCity on 2 CPU cores.
_base_ = [
    '../_base_/models/ccam_r18.py', '../_base_/datasets/synthcity.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_synthcity.py'
]
# CPU runs: gloo for torchrun/Slurm; a fixed seed so that runs and resumes are reproducible.
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
# Plain BN (no SyncBN on CPU): average the BN statistics over the ranks after every iteration.
default_hooks = dict(sync_buffers=dict(type='IterSyncBuffersHook'))
# Validate 4 times (every 250 of the 1000 iterations), so the log has an mIoU / AbsRel curve.
train_cfg = dict(val_interval=250)
