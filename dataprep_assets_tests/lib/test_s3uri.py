"""`s3://` URIs parse one way everywhere: bucket and prefix, slashes as written or stripped, bad URIs named."""

import pytest

from dataprep_assets.lib.s3uri import is_s3_uri, parse_s3_uri, split_s3_uri


def test_bucket_and_prefix_as_written_or_stripped():
    assert split_s3_uri("s3://bucket/raw/cell_qa/") == ("bucket", "raw/cell_qa/")
    assert parse_s3_uri("s3://bucket//raw/cell_qa/") == ("bucket", "raw/cell_qa")
    assert split_s3_uri("s3://bucket") == ("bucket", "") == parse_s3_uri("s3://bucket/")


@pytest.mark.parametrize(
    ("uri", "message"),
    [("s3:///prefix", "names no bucket"), ("s3://", "names no bucket"), ("/data/raw", "not an s3:// URI")],
)
def test_bad_uris_are_refused_naming_them(uri, message):
    with pytest.raises(ValueError, match=message) as raised:
        split_s3_uri(uri)
    assert repr(uri) in str(raised.value)


def test_only_the_s3_scheme_is_s3():
    assert is_s3_uri("s3://b/p") and not is_s3_uri("S3://b/p") and not is_s3_uri("file:///s3://b")
