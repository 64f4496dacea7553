"""Export of segmentation + depth models for deployment (ONNX)."""
from .onnx_export import (
    SegDepthTensorWrapper,
    check_onnx,
    default_check_shapes,
    export_onnx,
    format_check,
    onnx_preprocessing_meta,
    select_export_model,
    worst_relative_diff,
)

__all__ = ['SegDepthTensorWrapper', 'export_onnx', 'check_onnx', 'onnx_preprocessing_meta',
           'select_export_model',
           'default_check_shapes', 'format_check', 'worst_relative_diff']
