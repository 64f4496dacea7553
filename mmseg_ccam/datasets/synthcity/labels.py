"""Cityscapes label ids used by SynthCity and their mapping to train ids.

The table is written out here (instead of importing ``cityscapesscripts`` at run
time) so that the generator has no dependency beyond numpy/OpenCV; the tests
check it against ``cityscapesscripts.helpers.labels``.
"""
import numpy as np

# Cityscapes label ids (``cityscapesscripts.helpers.labels``: ``Label.id``).
UNLABELED = 0
EGO_VEHICLE = 1
ROAD = 7
SIDEWALK = 8
BUILDING = 11
WALL = 12
FENCE = 13
POLE = 17
TRAFFIC_LIGHT = 19
TRAFFIC_SIGN = 20
VEGETATION = 21
TERRAIN = 22
SKY = 23
PERSON = 24
RIDER = 25
CAR = 26
TRUCK = 27
BUS = 28
BICYCLE = 33

#: ``label id -> train id`` for every Cityscapes label id with ``id >= 0``;
#: ids whose class is not evaluated map to 255 (ignore).
_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

#: Names of the 19 train ids, in train-id order (as in ``CityscapesDataset``).
TRAIN_CLASSES = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
    'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
    'truck', 'bus', 'train', 'motorcycle', 'bicycle')

IGNORE_INDEX = 255


def label_id_to_train_id_lut() -> np.ndarray:
    """Look-up table ``lut[label_id] -> train_id`` (uint8, 256 entries).

    Returns:
        np.ndarray: shape (256,), uint8; unknown and ignored ids give 255.
    """
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in _ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


LABEL_TO_TRAIN_LUT = label_id_to_train_id_lut()


def to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a Cityscapes label-id map (uint8, H x W) to train ids (uint8, H x W)."""
    return LABEL_TO_TRAIN_LUT[label_ids]
