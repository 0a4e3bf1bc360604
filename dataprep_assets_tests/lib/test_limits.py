"""lib.limits: documented pixel and box limits; images over the pixel limit are refused from the header."""

import struct
import zlib

import pytest
from PIL import Image

from dataprep_assets.lib.limits import MAX_IMAGE_PIXELS, ImageTooLargeError, box_limit_problem, open_image


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny 1-bit PNG whose header declares `width` x `height` (as the issue's 100 kB file did)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = zlib.compress(row * 8, 9)  # only the first rows: enough for the header to be read, never decoded here
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def test_images_over_the_pixel_limit_are_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageTooLargeError, match="decompression bomb") as err, open_image(path, name="bomb.png"):
        pass
    assert err.value.reason == "decompression_bomb"
    side = int(MAX_IMAGE_PIXELS**0.5) + 1  # over our limit, under PIL's own
    path.write_bytes(bomb_png(side, side))
    with pytest.raises(ImageTooLargeError), open_image(path):
        pass
    Image.new("L", (64, 64)).save(tmp_path / "ok.png")
    with open_image(tmp_path / "ok.png") as img:
        assert img.size == (64, 64)


def test_box_limits():
    assert box_limit_problem(10, 10, 1e12, 1e12, 512, 512)
    assert box_limit_problem(10, 10, 20, 1200, 512, 512)
    assert box_limit_problem(-12, 10, 600, 20, 512, 512) is None  # over the border: clipped, not refused
