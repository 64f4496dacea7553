# Ablation: + AffineMix (docs/method.md, "AffineMix") on ground truth in the supervised
# pipeline. The partner sample comes through MultiImageMixDataset; both are cropped to the same
# size first (the supervised pipeline up to its flip), then mixed, jittered and packed.
_base_ = ['./ccam_r50_cityscapes.py']

load_and_crop = [
    t for t in _base_.train_pipeline if t['type'] not in ('PhotoMetricDistortion', 'PackSegInputs')
]
mix_pipeline = [
    dict(type='AffineMix', prob=0.5, scale_range=(1.0, 1.5), max_translate_ratio=0.2,
         flip_prob=0.5)
] + [t for t in _base_.train_pipeline if t['type'] in ('PhotoMetricDistortion', 'PackSegInputs')]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(_base_.train_dataloader.dataset, pipeline=load_and_crop),
        pipeline=mix_pipeline))
