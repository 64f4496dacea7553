# docs/method.md, "Cityscapes defaults": SGD (momentum 0.9, wd 5e-4), lr 1e-2 for the neck and
# heads and 1e-3 for the ImageNet-pretrained backbone, poly decay over 40k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_40k.py']

# CCAM's gammas start at 0 and receive tiny gradients (the message is added to large
# features); a 10x learning rate without weight decay lets the exchange open within the
# schedule. Matched as substrings of the parameter names (student.* in the mean teacher too).
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            '.gamma_s': dict(lr_mult=10.0, decay_mult=0.0),
            '.gamma_d': dict(lr_mult=10.0, decay_mult=0.0),
        }))
# Checkpoints written atomically; the oldest deleted only after the new one is on disk
# (mmseg's schedule names MMEngine's CheckpointHook; its other settings are kept).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
