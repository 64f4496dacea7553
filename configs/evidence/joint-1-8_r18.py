# Joint supervised training without pseudo-labels: every step 2 frames with segmentation and
# depth labels (the 1/8 labeled subset) + 2 frames with depth labels only (the other 7/8; their
# segmentation map is all-ignore). Compared with sup-1-8_r18_b2.py it adds only the depth
# supervision of the unlabeled frames; compared with the semi-supervised config it lacks only
# the pseudo-label losses.
_base_ = ['./sup-1-8_r18_b2.py']
subset = dict(
    type='CityscapesDepthDataset',
    data_root={{_base_.data_root}},
    data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train',
                     depth_path='disparity/train', camera_path='camera/train'),
    labeled_ratio=0.125,
    split_seed=0,
    pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(subset, subset='labeled'), dict(subset, subset='unlabeled')]))
