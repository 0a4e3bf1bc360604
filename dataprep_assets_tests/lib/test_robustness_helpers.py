"""The shared mechanisms of issue 13: one rule for output names, the accounting identity, BOM-tolerant readers
with real CSV line numbers, documented pixel and box limits, store-relative rejects."""

import struct
import zlib

import pytest
from PIL import Image

from dataprep_assets.lib.accounting import AccountingError, account
from dataprep_assets.lib.limits import MAX_IMAGE_PIXELS, ImageTooLargeError, box_limit_problem, open_image
from dataprep_assets.lib.naming import (
    COLLISION_REASON,
    assert_unique_names,
    find_collisions,
    reject_collisions,
    unique_names,
)
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.textio import Duplicated, DuplicateKeyError, load_json, read_csv_rows


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


def test_colliding_output_names_get_unique_deterministic_names_or_a_reject_naming_the_other():
    claims = {"competitor A": "competitor_A", "competitor_A": "competitor_A", "B": "b.png", "b": "B.png", "C": "c.png"}
    assert [c.inputs for c in find_collisions(claims.items())] == [("B", "b"), ("competitor A", "competitor_A")]
    names = unique_names(claims)
    assert len({n.casefold() for n in names.values()}) == 5 and names["C"] == "c.png"
    assert names["B"].startswith("b__") and names["B"].endswith(".png")
    assert unique_names(dict(reversed(list(claims.items())))) == names
    rejects = RejectLog()
    kept = reject_collisions(claims, rejects, "write")
    assert sorted(kept) == ["B", "C", "competitor A"]
    assert sorted((r.item, r.reason) for r in rejects) == [("b", COLLISION_REASON), ("competitor_A", COLLISION_REASON)]
    assert all("competitor A" in r.detail or "'B'" in r.detail for r in rejects)
    with pytest.raises(ValueError, match="claimed by several inputs"):
        assert_unique_names(claims.items(), "crops")


def test_unique_names_never_collide_with_a_name_that_already_has_the_suffix():
    first = unique_names({"x": "a.png", "y": "a.png"})
    crafted = {"x": "a.png", "y": "a.png", "z": first["x"]}
    names = unique_names(crafted)
    assert len({n.casefold() for n in names.values()}) == 3


def test_accounting_identity():
    ledger = account("rows", ["a", "b", "c"], ["a"], ["b", "c"])
    assert ledger.metadata() == {"records_in": 3, "records_out": 1, "records_rejected": 2, "records_unaccounted": 0}
    with pytest.raises(AccountingError, match=r"\['b'\]"):
        account("rows", ["a", "b"], ["a"], [])


def test_bom_json_duplicate_keys_and_csv_line_numbers(tmp_path):
    assert load_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    with pytest.raises(DuplicateKeyError, match="'a' appears twice"):
        load_json(b'{"a": 1, "a": 2}', duplicate_keys="error")
    marked = load_json(b'{"a": 1, "b": 0, "a": 2}', duplicate_keys="mark")
    assert isinstance(marked["a"], Duplicated) and marked["a"] == [1, 2]
    path = tmp_path / "x.csv"
    path.write_bytes(b'\xef\xbb\xbfimage_path,score\r\n\r\na.png,1\r\n\r\n"b\nc.png",2\r\nd.png\r\n')
    rows = read_csv_rows(path)
    assert rows.header == ["image_path", "score"]
    assert rows.lines == [3, 5, 7] and rows.rows[2] == {"image_path": "d.png", "score": ""}


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


def test_rejects_are_written_store_relative(tmp_path):
    log = RejectLog()
    log.add(
        f"{tmp_path}/raw/a.tif", "read", "unsafe_path", f"path 'a' resolves outside the root '{tmp_path}' (via a link)"
    )
    frame = log.store_relative(tmp_path).to_frame()
    assert frame["item"].tolist() == ["raw/a.tif"] and str(tmp_path) not in frame.to_csv()
