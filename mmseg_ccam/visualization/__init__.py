from .depth_colorize import COLORMAPS, DEPTH_MODES, colorize_depth, colormap_lut, depth_to_unit
from .seg_depth_visualizer import SegDepthLocalVisualizer, resize_nearest

__all__ = [
    'COLORMAPS', 'DEPTH_MODES', 'SegDepthLocalVisualizer', 'colorize_depth', 'colormap_lut',
    'depth_to_unit', 'resize_nearest'
]
