from .depth_colorize import COLORMAPS, DEPTH_MODES, colorize_depth, colormap_lut, depth_to_unit
from .depth_mask import NO_DEPTH_CLASSES, class_ids, mask_depth
from .seg_depth_visualizer import SegDepthLocalVisualizer, resize_nearest

__all__ = [
    'COLORMAPS', 'DEPTH_MODES', 'NO_DEPTH_CLASSES', 'SegDepthLocalVisualizer', 'class_ids',
    'colorize_depth', 'colormap_lut', 'depth_to_unit', 'mask_depth', 'resize_nearest'
]
