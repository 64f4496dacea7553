# Single-task baseline: depth only (no neck exchange, no segmentation head).
_base_ = ['./ccam_lite0_synthcity.py']
model = dict(neck=None, decode_head=None)
val_evaluator = [dict(type='StreamingDepthMetric', max_depth_eval=80.0)]
test_evaluator = val_evaluator
