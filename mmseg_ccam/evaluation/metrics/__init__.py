from . import class_iou_metric, depth_metric  # noqa: F401
