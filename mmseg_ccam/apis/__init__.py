# The camera of the inference APIs (demo, point clouds) is the dataset's one geometry module.
from ..datasets.cityscapes_geometry import (
    CITYSCAPES_CAMERA,
    CameraParams,
    depth_to_disparity_png,
    load_camera_json,
    parse_camera,
)
from .inference import SegDepthDataSample, build_test_pipeline, inference_model, init_model
from .point_cloud import depth_to_points, sample_to_points, write_ply

__all__ = [
    'CITYSCAPES_CAMERA', 'CameraParams', 'SegDepthDataSample', 'build_test_pipeline',
    'depth_to_disparity_png', 'depth_to_points', 'inference_model', 'init_model',
    'load_camera_json', 'parse_camera', 'sample_to_points', 'write_ply'
]
