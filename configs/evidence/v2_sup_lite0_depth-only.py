# Protocol v2, comparison "joint >= single-task": depth only (no neck, no segmentation head).
_base_ = ['./v2_sup_lite0_ccam.py']
model = dict(neck=None, decode_head=None)
val_evaluator = [dict(type='StreamingDepthMetric', max_depth_eval={{_base_.max_depth}})]
test_evaluator = val_evaluator
