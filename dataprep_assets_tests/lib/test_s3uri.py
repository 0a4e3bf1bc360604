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


def test_listing_walks_every_page_under_the_prefix_only(s3_bucket, s3_env):
    import boto3

    from dataprep_assets.lib.s3uri import list_objects

    client = boto3.client("s3", endpoint_url=s3_env)
    for key in ("raw/a/1.bin", "raw/a/2.bin", "raw/a/sub/3.bin", "raw/ab.bin", "other/4.bin"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    listed = [o["Key"] for o in list_objects(client, s3_bucket, "raw/a/", page_size=2)]
    assert listed == ["raw/a/1.bin", "raw/a/2.bin", "raw/a/sub/3.bin"]
    assert {o["Size"] for o in list_objects(client, s3_bucket, "raw/a/")} == {11, 15}
