"""lib.images.thumbnail: the one tile maker the montages of every pipeline use (stretch, pad, shrink)."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from dataprep_assets.lib.images import thumbnail, thumbnail_file


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A picture whose every pixel differs from its neighbours, so resampling differences show."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x * y) % 256], axis=2)
    return Image.fromarray(rgb.astype(np.uint8)).convert(mode)


def test_stretch_fills_the_square_ignoring_aspect():
    tile = thumbnail(gradient(200, 50), 64)
    assert tile.shape == (64, 64, 3) and tile.dtype == np.uint8
    expected = np.asarray(gradient(200, 50).resize((64, 64), Image.Resampling.BILINEAR))
    assert np.array_equal(tile, expected)


def test_pad_keeps_aspect_and_centres_on_the_fill_colour():
    tile = thumbnail(gradient(200, 100), 64, fit="pad", fill=(40, 40, 40))
    assert tile.shape == (64, 64, 3)
    # 200 x 100 -> 64 x 32, centred: 16 rows of fill above and below
    assert (tile[:16] == 40).all() and (tile[48:] == 40).all()
    assert not (tile[16:48] == 40).all()
    assert np.array_equal(tile, np.asarray(ImageOps.pad(gradient(200, 100), (64, 64), color=(40, 40, 40))))


def test_pad_enlarges_a_small_picture_but_shrink_does_not():
    small = gradient(20, 10, "L")
    padded = thumbnail(small, 64, fit="pad")
    shrunk = thumbnail(small, 64, fit="shrink").copy()
    assert padded.shape == shrunk.shape == (64, 64)
    assert (padded[16:48] > 0).any() and padded[:16].max() == 0  # scaled to 64 x 32
    # kept at 20 x 10, centred: columns 22..41, rows 27..36; black elsewhere
    assert np.array_equal(shrunk[27:37, 22:42], np.asarray(small))
    shrunk[27:37, 22:42] = 0
    assert shrunk.max() == 0


def test_shrink_letterboxes_a_large_picture_and_leaves_the_input_alone():
    big = gradient(300, 150, "L")
    tile = thumbnail(big, 96, fit="shrink")
    assert tile.shape == (96, 96)
    assert big.size == (300, 150)  # not resized in place
    assert tile[:24].max() == 0 and tile[72:].max() == 0 and tile[24:72].max() > 0


def test_thumbnail_file_converts_to_the_mode_first(tmp_path):
    path = tmp_path / "gray.png"
    gradient(40, 30, "L").save(path)
    rgb = thumbnail_file(path, 16)
    assert rgb.shape == (16, 16, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 1])  # gray in three channels
    assert thumbnail_file(path, 16, mode="L").shape == (16, 16)


def test_thumbnail_file_raises_on_a_file_that_is_not_a_picture(tmp_path):
    path = tmp_path / "not.png"
    path.write_bytes(b"not a picture")
    with pytest.raises(Exception, match="cannot identify"):
        thumbnail_file(path, 16)
