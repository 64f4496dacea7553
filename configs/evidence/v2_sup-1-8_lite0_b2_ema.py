# Protocol v2: v2_sup-1-8_lite0_b2.py plus an EMA copy of the weights evaluated instead of the
# model, averaged exactly as the semi-supervised teacher of v2_semi_lite0_1-8.py (student
# weight 0.05, BN statistics averaged with the weights).
_base_ = ['./v2_sup-1-8_lite0_b2.py']
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.05,
                     update_buffers=True, interval=1)]
