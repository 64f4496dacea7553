# Protocol v2, comparison "joint >= single-task": segmentation only (no neck, no depth head).
_base_ = ['./v2_sup_lite0_ccam.py']
model = dict(neck=None, depth_head=None)
val_evaluator = [dict(type='ClassIoUMetric', iou_metrics=['mIoU'])]
test_evaluator = val_evaluator
