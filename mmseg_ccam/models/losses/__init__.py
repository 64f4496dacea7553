from . import berhu_loss, inverse_depth_l1_loss  # noqa: F401
