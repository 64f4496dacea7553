# Protocol v2: joint supervised training without pseudo-labels. Every step 2 frames with
# segmentation and depth labels (the 1/8 labeled subset) + 2 frames with depth labels only (the
# other 7/8, segmentation all-ignore). Adds to v2_sup-1-8_lite0_b2.py only the depth
# supervision of the unlabeled frames; lacks only the pseudo-label losses of the semi arms.
_base_ = ['./v2_sup-1-8_lite0_b2.py']
subset = dict(_base_.train_dataloader.dataset, subset=None)
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(subset, subset='labeled'), dict(subset, subset='unlabeled')]))
