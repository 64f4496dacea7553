# Regime pilot (docs/evidence.md, "Regime gate"): the ImageNet-pretrained EfficientNet-Lite0
# CCAM model, all train labels, batch 4, on data/synthcity_evidence; everything else as the R18
# protocol model sup_r18_ccam.py (1000 iterations, 128x256 crops, AdamW).
_base_ = ['../ccam/ccam_lite0_synthcity.py']

data_root = 'data/synthcity_evidence/'
test_prefix = dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test',
                   depth_path='disparity/test', camera_path='camera/test')
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root, data_prefix=test_prefix))
