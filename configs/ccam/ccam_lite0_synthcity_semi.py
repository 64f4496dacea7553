# Semi-supervised pretrained-Lite0 CCAM on SynthCity: ccam_r18_synthcity_semi.py with the model
# of ccam_lite0_synthcity.py (the heads still start from scratch and the schedule is short, so
# the SynthCity mean-teacher settings apply).
_base_ = [
    '../_base_/models/ccam_lite0_os16.py', '../_base_/datasets/semi_synthcity.py',
    '../_base_/schedules/schedule_synthcity.py', '../_base_/semi/mean_teacher_synthcity.py'
]
# As ccam_lite0_synthcity.py: the backbone at a tenth of the heads' rate.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))

model = dict(
    _delete_=True,
    type='MeanTeacherSegDepth',
    segmentor=_base_.model,
    data_preprocessor=_base_.model.data_preprocessor,
    semi_train_cfg=_base_.semi_train_cfg,
    semi_test_cfg=_base_.semi_test_cfg)
