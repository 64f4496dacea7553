# Evidence test bed (docs/evidence.md): the SynthCity demo model, all train labels, batch 4,
# trained on data/synthcity_evidence (varied appearance) and reported on its held-out test split.
# Generate the data with the command in docs/evidence.md ("Test bed").
_base_ = ['../ccam/ccam_r18_synthcity.py']

data_root = 'data/synthcity_evidence/'
test_prefix = dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test',
                   depth_path='disparity/test', camera_path='camera/test')
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root, data_prefix=test_prefix))
