# A short CPU schedule for SynthCity: the demo model trains from scratch, where AdamW
# converges in far fewer iterations than SGD.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=10.0, norm_type=2),
    # CCAM's gammas start at 0 and receive tiny gradients: 10x learning rate, no weight decay
    # (measured: docs/harness_checks.md, "Measurements behind config values").
    paramwise_cfg=dict(custom_keys={
        '.gamma_s': dict(lr_mult=10.0, decay_mult=0.0),
        '.gamma_d': dict(lr_mult=10.0, decay_mult=0.0),
    }))
max_iters = 1000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
# Validate 4 times (every 250 of the 1000 iterations), so the log has an mIoU / AbsRel curve.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=max_iters // 2,
                    max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # Plain BN on CPU (no SyncBN): average the BN statistics over the ranks after every
    # iteration.
    sync_buffers=dict(type='IterSyncBuffersHook'))
