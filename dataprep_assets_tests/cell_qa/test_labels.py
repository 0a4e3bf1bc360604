"""Per-cell Jaccard and the CTC SEG score against a slow, obviously-correct reference.

Random label images in every dtype users send (uint8, uint16, int32), with non-contiguous labels
and with no background pixel at all.
"""

import numpy as np
import pytest

from dataprep_assets.defs.cell_qa.crops import cell_boxes, crop_windows, padded, pixel_crops
from dataprep_assets.defs.cell_qa.labels import (
    LabelImageError,
    cell_pixels,
    match_cells,
    overlap_triplets,
    pixel_overlap_triplets,
    relabel,
    seg_score,
)


def _reference_match(pred, gt):
    out = {}
    for p in np.unique(pred[pred > 0]):
        pm = pred == p
        best, best_inter = 0, 0
        for g in np.unique(gt[gt > 0]):
            inter = np.logical_and(pm, gt == g).sum()
            if inter > best_inter:
                best, best_inter = g, inter
        out[int(p)] = (int(best), best_inter / np.logical_or(pm, gt == best).sum() if best else 0.0)
    return out


def _reference_seg(pred, gt):
    scores = []
    for g in np.unique(gt[gt > 0]):
        gm = gt == g
        score = 0.0
        for p in np.unique(pred[pred > 0]):
            pm = pred == p
            inter = np.logical_and(pm, gm).sum()
            if inter > 0.5 * gm.sum():
                score = inter / np.logical_or(pm, gm).sum()
        scores.append(score)
    return float(np.mean(scores)) if scores else float("nan")


def _random_labels(rng, shape, n, dtype, background=True, spread=1):
    """Blocky random labels: a coarse grid upsampled, so cells have extent and touch."""
    coarse = rng.integers(0 if background else 1, n + 1, size=(shape[0] // 4, shape[1] // 4))
    labels = np.kron(coarse, np.ones((4, 4), dtype=int)) * spread
    return labels.astype(dtype)


@pytest.mark.parametrize("dtype, spread", [(np.uint8, 3), (np.uint16, 997), (np.int32, 100_003)])
@pytest.mark.parametrize("background", [True, False])
def test_jaccard_and_seg_match_the_reference(dtype, spread, background):
    rng = np.random.default_rng(hash((str(dtype), background)) % 2**32)
    if dtype is np.uint8:
        spread = 3
    for _ in range(5):
        pred = _random_labels(rng, (48, 64), 12, dtype, background, spread)
        gt = _random_labels(rng, (48, 64), 9, np.uint16, True)
        dp, dg_ = relabel(pred), relabel(gt)
        match = match_cells(dp, dg_)
        expected = _reference_match(pred.astype(np.int64), gt.astype(np.int64))
        got = {int(i): (int(g), j) for i, g, j in zip(dp.ids, match.gt_label, match.jaccard, strict=True)}
        assert got.keys() == expected.keys()
        for label, (g, j) in expected.items():
            assert got[label][0] == g
            assert got[label][1] == pytest.approx(j)
        assert seg_score(dp, dg_).seg == pytest.approx(_reference_seg(pred.astype(np.int64), gt.astype(np.int64)))


def test_cell_overlapping_nothing_scores_zero_and_perfect_cell_scores_one():
    gt = np.zeros((20, 20), np.uint16)
    gt[2:8, 2:8] = 5
    pred = np.zeros((20, 20), np.int32)
    pred[2:8, 2:8] = 70000
    pred[12:18, 12:18] = 3
    match = match_cells(relabel(pred), relabel(gt))
    assert match.jaccard.tolist() == [0.0, 1.0]
    assert match.gt_label.tolist() == [0, 5]
    score = seg_score(relabel(pred), relabel(gt))
    assert (score.seg, score.gt_cells, score.matched) == (1.0, 1, 1)


def test_seg_needs_more_than_half_coverage():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:2, 0:5] = 1  # 10 pixels
    pred = np.zeros((10, 10), np.uint8)
    pred[0:1, 0:5] = 1  # exactly half: no match
    assert seg_score(relabel(pred), relabel(gt)).seg == 0.0
    pred[1, 0] = 1  # 6 of 10: match, IoU 6/10
    assert seg_score(relabel(pred), relabel(gt)).seg == pytest.approx(0.6)


def test_empty_ground_truth_gives_nan_seg():
    gt = np.zeros((8, 8), np.uint8)
    pred = np.ones((8, 8), np.uint8)
    assert np.isnan(seg_score(relabel(pred), relabel(gt)).seg)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.full((4, 4), -1, np.int32), "negative"),
        (np.full((4, 4), 1.5, np.float32), "non-integer"),
        (np.zeros((2, 4, 4), np.uint8), "2-D"),
    ],
)
def test_uninterpretable_label_images_are_refused(labels, message):
    for parse in (relabel, cell_pixels):
        with pytest.raises(LabelImageError, match=message):
            parse(labels)


@pytest.mark.parametrize("dtype, spread", [(np.uint8, 3), (np.uint16, 997), (np.int32, 100_003), (np.int64, 1 << 25)])
@pytest.mark.parametrize("background", [True, False])
def test_pixel_lists_give_the_same_cells_boxes_overlaps_and_crops_as_the_relabelled_image(dtype, spread, background):
    rng = np.random.default_rng(11)
    pred = _random_labels(rng, (64, 48), 9, dtype, background, spread)
    gt = _random_labels(rng, (64, 48), 7, np.uint16, True)
    image = rng.integers(0, 4000, (64, 48)).astype(np.uint16)
    dense, pixels, dg_ = relabel(pred), cell_pixels(pred), relabel(gt)
    assert pixels.ids.tolist() == dense.ids.tolist() and pixels.areas.tolist() == dense.areas.tolist()
    for got, want in zip(pixel_overlap_triplets(pixels, dg_), overlap_triplets(dense, dg_), strict=True):
        assert got.tolist() == want.tolist()
    got_match, want_match = match_cells(pixels, dg_), match_cells(dense, dg_)
    assert got_match.gt_label.tolist() == want_match.gt_label.tolist()
    assert got_match.jaccard.tolist() == want_match.jaccard.tolist()
    assert seg_score(pixels, dg_) == seg_score(dense, dg_)
    for size in (8, 24):  # 8: some cells are larger than their crop
        boxes, want_boxes = cell_boxes(pixels, size), cell_boxes(dense, size)
        assert boxes.bbox.tolist() == want_boxes.bbox.tolist() and boxes.origin.tolist() == want_boxes.origin.tolist()
        raw, masks = pixel_crops(padded(image, size), pixels, boxes.origin, size)
        want_raw, want_masks = crop_windows(image, dense, want_boxes.origin, size)
        np.testing.assert_array_equal(raw, want_raw)
        np.testing.assert_array_equal(masks, want_masks)
