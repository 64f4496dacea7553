# The evidence test bed (docs/evidence.md, "Test bed"): synthcity.py on data/synthcity_evidence
# (varied appearance), trained on its train split, validated on val and reported on its held-out
# test split. Generate the data with the command in docs/evidence.md ("Test bed").
_base_ = ['./synthcity.py']

data_root = 'data/synthcity_evidence/'
test_prefix = dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test',
                   depth_path='disparity/test', camera_path='camera/test')
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root, data_prefix=test_prefix))
