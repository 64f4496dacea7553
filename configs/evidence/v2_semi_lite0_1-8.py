# Protocol v2, arm `semi`, DRAFT (as v2_sup_lite0_ccam.py): the semi-supervised method in the
# gated regime. ccam_lite0_synthcity_semi.py (1/8 labeled, 2 labeled + 2 unlabeled per step,
# the EMA teacher evaluated) on the test bed, with the labeled loss, optimiser and schedule of
# the gated supervised arm v2_sup_lite0_ccam.py (tests/test_evidence_configs.py keeps them
# equal). The class weights weigh the labeled cross-entropy only: the pseudo-label
# cross-entropy stays unweighted, as in DACS / Hoyer et al. (confidence-filtered pseudo-labels
# of rare classes are the least reliable ones; weighting them up would amplify their errors).
_base_ = ['../ccam/ccam_lite0_synthcity_semi.py']

data_root = 'data/synthcity_evidence/'
test_prefix = dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test',
                   depth_path='disparity/test', camera_path='camera/test')
train_dataloader = dict(dataset=dict(datasets=[
    dict(d, data_root=data_root) for d in _base_.train_dataloader.dataset.datasets]))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root, data_prefix=test_prefix))

model = dict(segmentor=dict(decode_head=dict(loss_decode=dict(
    type='WeightedCrossEntropyLoss', class_weight=[
        0.4150, 2.3705, 0.4855, 5.4598, 5.3836, 4.2815, 6.2331, 6.0106, 1.2006, 4.8893,
        1.7219, 5.5604, 6.3674, 1.1241, 2.8307, 3.5314, 6.5428, 6.5428, 6.4754]))))
optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_iters = 2400
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=300)
default_hooks = dict(checkpoint=dict(interval=300))
