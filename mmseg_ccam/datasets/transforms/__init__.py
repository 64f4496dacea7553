from . import affine_mix, color_aug, loading  # noqa: F401
