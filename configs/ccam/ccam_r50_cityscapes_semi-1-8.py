# Semi-supervised CCAM on Cityscapes with 372 labeled frames (1/8 of 2975), the protocol of
# Hoyer et al.: labeled frames drawn with split_seed from the sorted train list (or give
# split_file=... written by tools/make_splits.py), 2 labeled + 2 unlabeled per batch, EMA teacher.
# The other splits inherit this file and change `split` only.
_base_ = ['./ccam_r50_cityscapes.py', '../_base_/semi/mean_teacher.py']

# The split, defined once: both subsets below are drawn from it (the sampler refuses subsets
# that share frames).
split = dict(num_labeled=372, split_seed=0)

# Labeled frames: the supervised pipeline. Unlabeled frames: geometric augmentation only; the
# model applies its strong photometric augmentation (semi_train_cfg.strong_aug) itself.
labeled_pipeline = [
    _base_.pack_inputs if t['type'] == 'PackSegInputs' else t for t in _base_.train_pipeline
]
unlabeled_pipeline = [t for t in labeled_pipeline if t['type'] != 'PhotoMetricDistortion']
labeled = dict(_base_.train_dataloader.dataset, pipeline=labeled_pipeline, subset='labeled')
unlabeled = dict(_base_.train_dataloader.dataset, pipeline=unlabeled_pipeline, subset='unlabeled')
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(labeled, **split), dict(unlabeled, **split)]))

model = dict(
    _delete_=True,
    type='MeanTeacherSegDepth',
    segmentor=_base_.model,
    data_preprocessor=_base_.model.data_preprocessor,
    semi_train_cfg=_base_.semi_train_cfg,
    semi_test_cfg=_base_.semi_test_cfg)
# Average the step's diagnostics over the log window like the losses.
log_processor = dict(mean_pattern=_base_.diagnostics_mean_pattern)
