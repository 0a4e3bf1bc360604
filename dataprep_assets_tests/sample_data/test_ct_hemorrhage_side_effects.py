"""Sample-data generators write only where they are told: with the store on S3 in the environment,
`generate(root)` leaves the bucket untouched; `upload_to=` is the one way to upload (moto on loopback)."""

import boto3

from dataprep_assets.sample_data.ct_hemorrhage import generate

TINY = {"v3_patients": 6, "roboflow_patients": 6, "pool_patients": 6}


def _keys(endpoint: str, bucket: str) -> list[str]:
    pages = boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_ct_generator_writes_only_under_root_unless_asked_to_upload(s3_bucket, s3_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPREP_STORE_URL", f"s3://{s3_bucket}/store")
    base = generate(tmp_path / "here", **TINY)
    assert base.is_dir() and any(base.rglob("*.dcm"))
    assert _keys(s3_env, s3_bucket) == [], "the environment's store is not where it was told to write"

    generate(tmp_path / "again", upload_to=f"s3://{s3_bucket}/elsewhere", **TINY)
    keys = _keys(s3_env, s3_bucket)
    assert keys and all(k.startswith("elsewhere/raw/ct_hemorrhage/") for k in keys)


def test_ct_sample_data_is_byte_identical_for_the_same_seed(tmp_path):
    """Compressed DICOMs keep the SOP Instance UID the feedback CSV names (pydicom would draw a random one)."""
    from dataprep_assets.sample_data.ct_hemorrhage import generate

    trees = []
    for name in ("a", "b"):
        base = generate(tmp_path / name, v3_patients=4, roboflow_patients=3, pool_patients=6)
        trees.append({p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()})
    assert trees[0].keys() == trees[1].keys()
    assert [k for k in trees[0] if trees[0][k] != trees[1][k]] == []
