"""TiffWriter's files are byte-for-byte what tifffile.imwrite writes, for the crop shapes and dtypes in use."""

import os

import numpy as np
import pytest
import tifffile

from dataprep_assets.lib.tiffs import TiffWriter, read_plain_tiff


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32])
@pytest.mark.parametrize("shape", [(2, 64, 64), (2, 33, 17), (48, 48)])
def test_spliced_files_equal_tifffile_output(tmp_path, shape, dtype):
    writer = TiffWriter(shape, dtype, photometric="minisblack")
    assert writer.spliced
    rng = np.random.default_rng(7)
    for i in range(3):
        array = (rng.random(shape) * 1000).astype(dtype)
        writer.write(tmp_path / f"ours{i}.tif", array)
        tifffile.imwrite(tmp_path / f"ref{i}.tif", array, photometric="minisblack")
        assert (tmp_path / f"ours{i}.tif").read_bytes() == (tmp_path / f"ref{i}.tif").read_bytes()
        np.testing.assert_array_equal(tifffile.imread(tmp_path / f"ours{i}.tif"), array)


def test_writing_relative_to_an_open_folder_truncates_and_writes_the_same_bytes(tmp_path):
    writer = TiffWriter((2, 16, 16), np.uint16, photometric="minisblack")
    array = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    (tmp_path / "a.tif").write_bytes(b"x" * 100_000)  # longer than the TIFF: must not survive as a tail
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer.write("a.tif", array, dir_fd=folder)
    finally:
        os.close(folder)
    tifffile.imwrite(tmp_path / "b.tif", array, photometric="minisblack")
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes() == writer.encode(array)
    assert b"".join(writer.segments(array)) == writer.encode(array)


def test_compressed_output_falls_back_to_tifffile_and_stays_identical(tmp_path):
    writer = TiffWriter((2, 32, 32), np.uint16, photometric="minisblack", compression="zlib")
    assert not writer.spliced
    array = np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32)
    writer.write(tmp_path / "a.tif", array)
    tifffile.imwrite(tmp_path / "b.tif", array, photometric="minisblack", compression="zlib")
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()


def test_an_array_of_another_shape_or_dtype_is_refused(tmp_path):
    writer = TiffWriter((2, 8, 8), np.uint16)
    with pytest.raises(ValueError, match="does not fit"):
        writer.write(tmp_path / "x.tif", np.zeros((2, 8, 9), np.uint16))
    with pytest.raises(ValueError, match="does not fit"):
        writer.write(tmp_path / "x.tif", np.zeros((2, 8, 8), np.uint8))


@pytest.mark.parametrize("compression", [None, "zlib"])  # zlib: tifffile's own bytes per file (no template)
def test_a_stack_written_at_once_gives_each_file_tifffile_writes(tmp_path, compression):
    writer = TiffWriter((2, 16, 16), np.uint16, photometric="minisblack", compression=compression)
    arrays = np.random.default_rng(3).integers(0, 60000, (5, 2, 16, 16)).astype(np.uint16)
    (tmp_path / "c2.tif").write_bytes(b"x" * 100_000)  # an old, longer file: truncated, no tail left
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer.write_stack([f"c{i}.tif" for i in range(5)], arrays, dir_fd=folder)
    finally:
        os.close(folder)
    for i, array in enumerate(arrays):
        tifffile.imwrite(tmp_path / "ref.tif", array, photometric="minisblack", compression=compression)
        assert (tmp_path / f"c{i}.tif").read_bytes() == (tmp_path / "ref.tif").read_bytes()
    with pytest.raises(ValueError, match="do not fit"):
        writer.encode_stack(arrays[:, :1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32])
@pytest.mark.parametrize("options", [{}, {"rowsperstrip": 7}, {"metadata": None}, {"photometric": "minisblack"}])
def test_plain_tiffs_read_directly_equal_tifffile(tmp_path, dtype, options):
    array = (np.random.default_rng(5).random((37, 23)) * 100).astype(dtype)
    tifffile.imwrite(tmp_path / "a.tif", array, **options)
    got, want = read_plain_tiff(tmp_path / "a.tif"), tifffile.imread(tmp_path / "a.tif")
    assert got is not None and got.dtype == want.dtype and got.flags.writeable
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "array, options",
    [
        (np.zeros((8, 8), np.float32), {}),  # not an integer image
        (np.zeros((2, 8, 8), np.uint16), {}),  # a 3-D series
        (np.zeros((1, 8, 8), np.uint16), {}),  # one page, but tifffile's series is (1, 8, 8)
        (np.zeros((8, 8), np.uint16), {"compression": "zlib"}),
        (np.zeros((8, 8), np.uint16), {"byteorder": ">"}),
        (np.zeros((8, 8), np.uint16), {"imagej": True}),
        (np.zeros((8, 8, 3), np.uint8), {"photometric": "rgb"}),
        (np.zeros((8, 8), np.uint16), {"bigtiff": True}),
    ],
)
def test_anything_but_a_plain_tiff_is_left_to_tifffile(tmp_path, array, options):
    tifffile.imwrite(tmp_path / "a.tif", array, **options)
    assert read_plain_tiff(tmp_path / "a.tif") is None


def test_a_short_or_missing_plain_tiff_is_left_to_tifffile_and_the_size_check_runs_first(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.ones((40, 30), np.uint16))
    data = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "short.tif").write_bytes(data[:-100])  # tifffile writes the pixels last: a cut-off image
    assert read_plain_tiff(tmp_path / "short.tif") is None
    assert read_plain_tiff(tmp_path / "missing.tif") is None
    seen = []
    assert read_plain_tiff(tmp_path / "a.tif", check=lambda h, w: seen.append((h, w))) is not None
    assert seen == [(40, 30)]
    with pytest.raises(RuntimeError, match="too large"):
        read_plain_tiff(tmp_path / "a.tif", check=lambda h, w: (_ for _ in ()).throw(RuntimeError("too large")))
