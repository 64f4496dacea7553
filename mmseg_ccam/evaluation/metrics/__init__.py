from . import class_iou_metric, depth_metric, pseudo_label_metric  # noqa: F401
