# Supervised at 1/8 labels, batch 2, plus an EMA copy of the weights evaluated instead of the
# model: the mean teacher's weight averaging without unlabeled data. MMEngine's EMAHook swaps
# the averaged weights in for val and test. momentum is the student's weight (MMEngine's
# meaning): 0.01 = a teacher weight of 0.99, as in the semi-supervised configs. Buffers (BN
# statistics) are copied, not averaged (update_buffers=False), as the semi teacher's were when
# this protocol was written; set it like the semi config under test.
_base_ = ['./sup-1-8_r18_b2.py']
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01,
                     update_buffers=False, interval=1)]
