# Mean-teacher wrapper (docs/method.md, semi-supervised training): the runtime of a semi config
# (it inherits default_runtime.py, so that the log processor below is set in this one place).
# A semi config inherits this file with a model base, a _base_/datasets/semi_*.py data base
# and a schedule, and wraps `_base_.model` in MeanTeacherSegDepth (see ccam_r18_synthcity_semi.py).
# These are the method's values for an ImageNet-initialised model (Cityscapes): tau = 0.968
# from iteration 0 (DACS). Every key is documented in MeanTeacherSegDepth's docstring; a
# from-scratch model needs a schedule (see mean_teacher_synthcity.py).
_base_ = ['../default_runtime.py']

semi_train_cfg = dict(
    tau=0.968,
    # Batch-level pseudo-label weight (DACS, Hoyer et al.): the batch's share of pixels with
    # confidence >= tau times the batch's mean CE. 'image' weights each image by its own share.
    pseudo_weight='batch',
    unsup_start_iter=0,
    unsup_rampup_iters=0,
    sup_weight=1.0,
    unsup_seg_weight=1.0,
    unsup_depth_weight=1.0,
    color_depth_weight=1.0,
    # Labeled images and the student's unlabeled view in one forward: the BN running statistics
    # are those of the intended views; the ColorAug view never moves them ('frozen').
    student_forward='concat',
    color_view_bn='frozen',
    # The mixing of the unlabeled view: the partner moved by `warp` (None: unmoved, DepthMix)
    # and pasted where `mask` says (a registered mixing mask: DepthOrderMask, ShuffledDepthMask,
    # ClassMask; mmseg_ccam/augmentation/mix_masks/). warp=dict(): the defaults (WARP_DEFAULTS in
    # mmseg_ccam/augmentation/affine_mix.py: zoom in [1, 1.5], shift up to 0.2, flip 0.5).
    # margin: the partner is pasted only where (1 + margin) * its depth < the sample's depth.
    # The zoom s in [1, 1.5] divides the partner's depth: with margin 0 a flat (young) teacher
    # depth pastes ~95 % of the partner; 0.3 keeps about a third pasted whatever the teacher's
    # depth quality (measured: docs/harness_checks.md, "Measurements behind config values").
    mix=dict(warp=dict(), mask=dict(type='DepthOrderMask', margin=0.3)),
    # The teacher sees the weak view (the pipeline's geometric augmentation only: the
    # unlabeled pipeline has no PhotoMetricDistortion); the student the mix plus this strong
    # photometric augmentation (DACS: colour jitter, Gaussian blur; STRONG_AUG_DEFAULTS in
    # mmseg_ccam/augmentation/strong_aug.py). None: no weak/strong split.
    strong_aug=dict(),
    # ColorAug depth view with its defaults (COLOR_AUG_DEFAULTS in
    # mmseg_ccam/augmentation/color_aug.py); None: no ColorAug loss.
    color_aug=dict())
semi_test_cfg = dict(eval_model='teacher')
# momentum is the student's weight (MMEngine / MMDetection meaning): teacher weight 0.99.
# update_buffers averages the BN statistics with the weights instead of copying the student's.
custom_hooks = [dict(type='MeanTeacherHook', momentum=0.01, interval=1, update_buffers=True)]
# The diagnostics of the step (unsup.share_above_tau, unsup.teacher_conf, unsup.pasted_frac,
# unsup.seg_weight, ccam.gamma_*, ccam.entropy_*) are averaged over the log window like the
# losses (MMEngine shows other non-loss scalars at their last iteration only).
diagnostics_mean_pattern = (r'.*(loss|time|data_time|grad_norm|share_above_tau|teacher_conf|'
                            r'pasted_frac|seg_weight|gamma_|entropy_).*')
log_processor = dict(mean_pattern=diagnostics_mean_pattern)
