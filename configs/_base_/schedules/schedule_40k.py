# DESIGN.md §7: SGD (momentum 0.9, wd 5e-4), lr 1e-2 for the neck and heads and 1e-3 for the
# ImageNet-pretrained backbone, poly decay over 40k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_40k.py']

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
