# Semi-supervised pretrained-Lite0 CCAM on SynthCity (ccam_r18_synthcity_semi.py with the
# model of ccam_lite0_synthcity.py): 1/8 of the train frames labeled (drawn with split_seed
# from the sorted frame list), the rest unlabeled for segmentation (depth ground truth kept).
# Batches hold 2 labeled + 2 unlabeled samples; the EMA teacher is evaluated. Same layout as
# ccam_r50_cityscapes_semi-1-8.py.
# The SynthCity mean-teacher settings (their reason is written in that file): the heads still
# start from scratch and the schedule is short.
_base_ = ['./ccam_lite0_synthcity.py', '../_base_/semi/mean_teacher_synthcity.py']

# The split, defined once: both subsets below are drawn from it (the sampler refuses subsets
# that share frames).
split = dict(labeled_ratio=0.125, split_seed=0)

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
