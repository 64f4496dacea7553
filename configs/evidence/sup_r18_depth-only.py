# Comparison "joint >= single-task": depth only (no neck exchange, no segmentation head).
_base_ = ['./sup_r18_ccam.py']
model = dict(neck=None, decode_head=None)
val_evaluator = [dict(type='StreamingDepthMetric', max_depth_eval={{_base_.max_depth}})]
test_evaluator = val_evaluator
