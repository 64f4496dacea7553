# Regime pilot, resolution: sup_lite0_ccam.py with training crops taken from frames resized
# by 1.0-1.5x of 512x256 instead of 0.5-1.0x, so thin objects (poles 2 px, persons 4 px wide
# at 256x512) are never thinner in training than in val. Same crop size, cost per iteration
# and evaluation (256x512).
_base_ = ['./sup_lite0_ccam.py']
train_pipeline = [
    dict(t, ratio_range=(1.0, 1.5)) if t['type'] == 'RandomResize' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
