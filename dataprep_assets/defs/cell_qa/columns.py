"""One-line descriptions of the columns of every table cell_qa writes (its `dagster/column_schema`)."""

INVENTORY = {
    "original_image_key": "the source image a frame belongs to (`<dataset>/<sequence>`): the leak group",
    "frame_key": "one raw frame: `<dataset>/<sequence>/t<frame>`",
    "dataset": "Cell Tracking Challenge dataset name",
    "sequence": "sequence folder within the dataset (`01`, `02`)",
    "frame": "frame index within the sequence",
    "competitor": "the segmentation method whose mask this row pairs with the frame",
    "raw_path": "store-relative path of the raw microscopy frame (TIFF)",
    "gt_path": "store-relative path of the ground-truth segmentation (TIFF)",
    "mask_path": "store-relative path of the competitor's segmentation mask (TIFF)",
    "crop_stem": (
        "unique file stem of this (frame, competitor)'s crops (hash-suffixed when two competitor names collide)"
    ),
}

CELLS = {
    "cell_id": "unique id of one predicted cell: frame, competitor and label",
    "stacked_crop_path": "where the 2-channel crop (raw, cell mask) is: a file, or `stack.npy#index`",
    "original_image_key": "the source image (leak group: one split per key)",
    "frame_key": "the raw frame the cell was cut from",
    "competitor": "the segmentation method that predicted the cell",
    "cell_label": "the cell's label value in the competitor's mask",
    "gt_label": "label of the best-matching ground-truth cell (0 if none)",
    "cell_jaccard": "Jaccard (IoU) of the cell with its matched ground-truth cell, 0-1",
    "area": "cell area in pixels",
    "bbox_y0": "cell bounding box, first row",
    "bbox_x0": "cell bounding box, first column",
    "bbox_y1": "cell bounding box, row after the last",
    "bbox_x1": "cell bounding box, column after the last",
    "crop_y0": "first row of the crop in the frame (may be negative: padded)",
    "crop_x0": "first column of the crop in the frame (may be negative: padded)",
    "crop_truncated": "the cell is larger than the crop and was cut",
}

SPLITS = {**CELLS, "split": "train, validation or test; assigned per original_image_key"}

SEG = {
    "frame_key": "the raw frame",
    "original_image_key": "the source image",
    "competitor": "the segmentation method",
    "gt_cells": "ground-truth cells in the frame",
    "matched_gt_cells": "ground-truth cells matched with Jaccard > 0.5",
    "predicted_cells": "cells the competitor predicted",
    "seg": "Cell Tracking Challenge SEG: mean Jaccard over ground-truth cells",
}
