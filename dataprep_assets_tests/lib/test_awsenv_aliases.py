"""The brain-CT seed's `.env` names (`AWS_ACCESS_KEY`, `AWS_SECRET_KEY`) work as aliases of the standard AWS
variables: a store built from the environment with only the aliases set reads and writes the bucket (moto's
server on loopback), and the standard names win when both are set."""

import boto3
import pytest

from dataprep_assets.defs.resources import build_store
from dataprep_assets.lib.awsenv import apply_aliases


@pytest.fixture
def seed_names_only(s3_env, tmp_path, monkeypatch):
    """Credentials under the seed's `.env` names only: no standard variables, no credentials or config file."""
    monkeypatch.setenv("AWS_ACCESS_KEY", "seed-style-key")
    monkeypatch.setenv("AWS_SECRET_KEY", "seed-style-secret")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


def test_alias_names_alone_give_a_working_store(s3_bucket, s3_env, tmp_path, seed_names_only):
    assert boto3.Session().get_credentials() is None  # boto3 alone does not read the seed's names

    store = build_store(url=f"s3://{s3_bucket}/ct", cache_dir=str(tmp_path / "cache"))
    store.write_json("data/x.json", {"a": 1})
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_env).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "ct/data/x.json" in keys
    signed_with = store.client()._request_signer._credentials
    assert (signed_with.access_key, signed_with.secret_key) == ("seed-style-key", "seed-style-secret")


def test_standard_names_win_over_the_aliases():
    env = {"AWS_ACCESS_KEY_ID": "standard", "AWS_ACCESS_KEY": "alias", "AWS_SECRET_KEY": "alias-secret"}
    assert apply_aliases(env) == ["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_ACCESS_KEY_ID"] == "standard" and env["AWS_SECRET_ACCESS_KEY"] == "alias-secret"
    assert apply_aliases({}) == []


def test_sensors_list_with_the_stores_client_and_the_alias_names_alone(
    s3_bucket, s3_env, tmp_path, monkeypatch, seed_names_only
):
    from dataprep_assets.common.sensors import S3PrefixSource
    from dataprep_assets.common.uploads import UploadWatch, change_source

    uploader = boto3.client(
        "s3", endpoint_url=s3_env, aws_access_key_id="uploader", aws_secret_access_key="uploader-secret"
    )  # explicit keys: the environment holds the seed's names only
    uploader.put_object(Bucket=s3_bucket, Key="ct/raw/ct_hemorrhage/a.dcm", Body=b"a")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no credentials cached by earlier clients
    own = S3PrefixSource(bucket=s3_bucket, prefix="ct/raw/ct_hemorrhage")  # a source built on its own, first
    assert [o.key for o in own.list_objects()] == ["a.dcm"], "reads the seed's names too"
    store = build_store(url=f"s3://{s3_bucket}/ct", cache_dir=str(tmp_path / "cache"))
    source = change_source(store, UploadWatch(pipeline="ct_hemorrhage", prefix="raw/ct_hemorrhage"))
    assert source.client() is store.client(), "one S3 client: the store's settings apply to its sensors"
    assert [o.key for o in source.list_objects()] == ["a.dcm"]
