# default_runtime.py for CPU runs (the SynthCity configs): gloo for torchrun / Slurm, and a fixed
# seed so that runs and resumes are reproducible.
_base_ = ['./default_runtime.py']

env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
