# Supervised at 1/8 labels, batch 2, plus an EMA copy of the weights evaluated instead of the
# model: the mean teacher's weight averaging without unlabeled data. MMEngine's EMAHook swaps
# the averaged weights in for val and test. It averages exactly as the semi-supervised teacher
# of semi_r18_1-8.py does (mean_teacher_synthcity.py): student weight 0.05 (MMEngine's meaning
# of momentum: teacher weight 0.95) and BN statistics averaged with the weights
# (update_buffers=True); tests/test_evidence_configs.py keeps the two in step.
_base_ = ['./sup-1-8_r18_b2.py']
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.05,
                     update_buffers=True, interval=1)]
