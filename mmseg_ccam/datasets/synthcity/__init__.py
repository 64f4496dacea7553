"""SynthCity: a procedural street-scene dataset in the exact Cityscapes layout."""
from .camera import PinholeCamera, scaled_intrinsics
from .generator import (
    CITIES,
    SynthFrame,
    frame_name,
    frame_paths,
    generate_synthcity,
    render_frame,
    write_frame,
)
from .labels import TRAIN_CLASSES, label_id_to_train_id_lut, to_train_ids

__all__ = [
    'generate_synthcity', 'render_frame', 'write_frame', 'frame_paths', 'frame_name',
    'SynthFrame', 'CITIES', 'PinholeCamera', 'scaled_intrinsics', 'TRAIN_CLASSES',
    'label_id_to_train_id_lut', 'to_train_ids',
]
