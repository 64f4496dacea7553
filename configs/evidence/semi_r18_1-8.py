# The semi-supervised method on the evidence test bed: ccam_r18_synthcity_semi.py (1/8 labeled,
# 2 labeled + 2 unlabeled per step, the EMA teacher evaluated) with its datasets, val and test
# re-pointed at data/synthcity_evidence; reported on the held-out test split.
_base_ = ['../ccam/ccam_r18_synthcity_semi.py']

data_root = 'data/synthcity_evidence/'
test_prefix = dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test',
                   depth_path='disparity/test', camera_path='camera/test')
# Lists replace their base: both subsets are copied from the base with only the root changed.
train_dataloader = dict(dataset=dict(datasets=[
    dict(d, data_root=data_root) for d in _base_.train_dataloader.dataset.datasets]))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root, data_prefix=test_prefix))
