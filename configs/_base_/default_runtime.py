# MMSegmentation's runtime plus the import that registers this package's components.
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)

# Atomic checkpoint writes (a kill while saving leaves the previous checkpoint usable).
runner_type = 'AtomicCheckpointRunner'
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegDepthLocalVisualizer', vis_backends=vis_backends, name='visualizer',
                  min_depth=1.0, max_depth=80.0)
# tools/test.py --tta wraps the model in this (mmseg's SegTTAModel merges segmentation only);
# the TTA pipeline is in the dataset configs.
tta_model = dict(type='SegDepthTTAModel')
