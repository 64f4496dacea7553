# Supervised-only at 1/8 labels with 2 labeled images per step: the labeled throughput of the
# semi-supervised step (2 labeled + 2 unlabeled), so that a semi > supervised gap is not a
# labeled-batch-size gap.
_base_ = ['./sup-1-8_r18.py']
train_dataloader = dict(batch_size=2)
