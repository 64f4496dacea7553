# Single-task baseline: segmentation only (no neck exchange, no depth head).
_base_ = ['./ccam_lite0_synthcity.py']
model = dict(neck=None, depth_head=None)
val_evaluator = [dict(type='ClassIoUMetric', iou_metrics=['mIoU'])]
test_evaluator = val_evaluator
