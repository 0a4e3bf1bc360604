"""`s3://bucket/key-prefix` URIs and listings: the one parser and the one lister every S3 user of the project
goes through (the store, the change sensors, store GC)."""

from __future__ import annotations

from collections.abc import Iterator

SCHEME = "s3://"


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(SCHEME)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`(bucket, key prefix)` of `s3://bucket/prefix`, the prefix as written (slashes kept).

    Refuses a URI of another scheme or without a bucket, naming it.
    """
    if not is_s3_uri(uri):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket (expected s3://bucket/prefix)")
    return bucket, prefix


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`(bucket, prefix)` with the prefix's leading and trailing slashes dropped (a store root, a results folder)."""
    bucket, prefix = split_s3_uri(uri)
    return bucket, prefix.strip("/")


def list_objects(client, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[dict]:
    """Every object under the key `prefix` (boto3's dicts: `Key`, `ETag`, `Size`, `LastModified`), page by page."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        yield from page.get("Contents", ())
