"""Crops are centred on the cell's bounding box and padded (never shifted or dropped) at borders."""

import numpy as np

from dataprep_assets.defs.cell_qa.crops import cell_boxes, stacked_crops
from dataprep_assets.defs.cell_qa.labels import relabel


def test_crop_is_centred_and_padded_at_the_border():
    image = np.arange(1, 101, dtype=np.uint16).reshape(10, 10)
    labels = np.zeros((10, 10), np.uint8)
    labels[0:2, 0:2] = 9  # top-left corner cell
    labels[4:7, 4:7] = 4  # centred cell
    cells = relabel(labels)
    boxes = cell_boxes(cells, crop_size=6)
    assert boxes.bbox.tolist() == [[4, 4, 7, 7], [0, 0, 2, 2]]
    crops = stacked_crops(image, cells, boxes.origin, 6)
    assert crops.shape == (2, 2, 6, 6)
    centre = crops[0]
    assert centre[0, 2, 2] == image[4, 4]  # origin (5-3, 5-3) = (2, 2)
    assert centre[1].sum() == 9 and centre[1, 2:5, 2:5].all()
    corner = crops[1]
    assert boxes.origin[1].tolist() == [-2, -2]
    assert (corner[0, :2, :] == 0).all() and (corner[0, :, :2] == 0).all()  # zero padding, not shifted
    assert corner[0, 2, 2] == image[0, 0]
    assert corner[1, 2:4, 2:4].all() and corner[1].sum() == 4


def test_mask_channel_holds_only_its_own_cell():
    labels = np.zeros((16, 16), np.int32)
    labels[4:8, 4:8] = 1
    labels[4:8, 8:12] = 2  # touching neighbour inside the crop
    cells = relabel(labels)
    crops = stacked_crops(np.ones((16, 16), np.uint16), cells, cell_boxes(cells, 12).origin, 12)
    assert crops[0, 1].sum() == 16 and crops[1, 1].sum() == 16


def test_cells_larger_than_the_crop_are_flagged():
    labels = np.zeros((40, 40), np.uint8)
    labels[0:30, 0:10] = 1
    boxes = cell_boxes(relabel(labels), 16)
    assert boxes.truncated.tolist() == [True]
