# Semi-supervised Cityscapes data (MMDetection's semi_coco_detection.py layout), the protocol of
# Hoyer et al.: 372 labeled frames (1/8 of 2975) drawn with split_seed from the sorted train list
# (or give split_file=... written by tools/make_splits.py), the rest unlabeled for segmentation.
# The semi configs inherit this file instead of cityscapes_depth.py, with the model, schedule
# and _base_/semi/mean_teacher.py.
_base_ = ['./cityscapes_depth.py']

# The split, defined once: both subsets below are drawn from it (the sampler refuses subsets
# that share frames). A split config changes `split` and rebuilds `datasets` from
# `labeled` / `unlabeled` (see ccam_r50_cityscapes_semi-1-4.py).
split = dict(num_labeled=372, split_seed=0)
# Labeled frames carry `has_seg_label=True`; the model splits each batch with it.
pack_inputs = dict(
    type='PackSegInputs',
    meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
               'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label', 'has_seg_label'))
# Labeled frames: the supervised pipeline. Unlabeled frames: geometric augmentation only; the
# model applies its strong photometric augmentation (semi_train_cfg.strong_aug) itself.
labeled_pipeline = [
    pack_inputs if t['type'] == 'PackSegInputs' else t for t in _base_.train_pipeline
]
unlabeled_pipeline = [t for t in labeled_pipeline if t['type'] != 'PhotoMetricDistortion']
labeled = dict(_base_.train_dataloader.dataset, pipeline=labeled_pipeline, subset='labeled')
unlabeled = dict(_base_.train_dataloader.dataset, pipeline=unlabeled_pipeline, subset='unlabeled')
# Batches of 2 labeled + 2 unlabeled samples.
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(labeled, **split), dict(unlabeled, **split)]))
