from . import affine_mix, color_aug, global_color_jitter, loading  # noqa: F401
