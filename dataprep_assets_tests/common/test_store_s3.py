"""`S3DatasetStore` against a real S3 protocol server (moto's, on loopback): writes land in the bucket
under the prefix, a second working copy pulls them, only changed objects move (ETag and size, multipart
included), a rewritten dataset directory replaces the old one in the bucket while a plain push never deletes
anything and a pull removes only cached files whose objects were deleted upstream (never local work), keys from
data never escape the prefix or the cache,
transport failures are retried then reported, and credentials never leave the environment."""

import os
import socket

import boto3
import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore, S3DatasetStore
from dataprep_assets.defs.ct_hemorrhage.feedback import FetchSettings, fetch_slice
from dataprep_assets.defs.resources import build_store
from dataprep_assets.lib.storage import UnsafePathError


def _keys(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def client(s3_env):
    return boto3.client("s3", endpoint_url=s3_env)


def _store(bucket, cache, prefix="team/datasets"):
    return S3DatasetStore(bucket=bucket, prefix=prefix, cache_dir=str(cache))


def test_writes_land_under_the_prefix_and_a_fresh_cache_reads_them(s3_bucket, client, tmp_path):
    writer = _store(s3_bucket, tmp_path / "a")
    writer.write_json("data/x.json", {"a": 1})
    with writer.write_dir("data/set") as staged:
        (staged.path / "train").mkdir()
        (staged.path / "train" / "img.png").write_bytes(b"png")
        (staged.path / "metadata.yaml").write_text("k: v\n")
    keys = _keys(client, s3_bucket)
    assert [k for k in keys if not k.startswith(("team/datasets/_objects/", "team/datasets/_versions/"))] == [
        "team/datasets/_manifests/data/set.json",
        "team/datasets/_manifests/data/x.json.json",
        "team/datasets/data/set/metadata.yaml",
        "team/datasets/data/set/train/img.png",
        "team/datasets/data/x.json",
    ]
    # every distinct file once under its hash, and one record + file list per version
    assert sum(k.startswith("team/datasets/_objects/") for k in keys) == 3
    assert sum(k.startswith("team/datasets/_versions/") for k in keys) == 4
    reader = _store(s3_bucket, tmp_path / "b")
    assert reader.read_json("data/x.json") == {"a": 1}
    assert reader.pull("data/set") == tmp_path / "b" / "data" / "set"
    assert (tmp_path / "b" / "data/set/train/img.png").read_bytes() == b"png"
    assert (
        reader.manifest("data/set") is None and reader.pull("_manifests") and reader.manifest("data/set").dataset_hash
    )
    assert reader.uri("data/set") == f"s3://{s3_bucket}/team/datasets/data/set"
    assert reader.exists("data/set") and reader.exists("data/x.json") and not reader.exists("data/nothing")


def test_pull_moves_only_changed_objects_and_never_deletes_local_files(s3_bucket, client, tmp_path):
    writer = _store(s3_bucket, tmp_path / "a")
    with writer.write_dir("raw") as staged:
        for name in ("one.bin", "two.bin"):
            (staged.path / name).write_bytes(name.encode() * 100)
        (staged.path / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # multipart upload: ETag "<md5>-2"
    assert client.head_object(Bucket=s3_bucket, Key="team/datasets/raw/big.bin")["ETag"].strip('"').endswith("-2")
    reader = _store(s3_bucket, tmp_path / "b")
    reader.pull("raw")
    inodes = {p.name: p.stat().st_ino for p in (tmp_path / "b/raw").iterdir()}
    (tmp_path / "b/raw/local-only.txt").write_text("written here, not pushed yet")
    client.put_object(Bucket=s3_bucket, Key="team/datasets/raw/two.bin", Body=b"changed")
    reader.pull("raw")
    after = {p.name: p.stat().st_ino for p in (tmp_path / "b/raw").iterdir()}
    assert set(after) == {"one.bin", "two.bin", "big.bin", "local-only.txt"}
    assert (
        after["one.bin"] == inodes["one.bin"] and after["big.bin"] == inodes["big.bin"]
    )  # unchanged: not downloaded again
    assert (tmp_path / "b/raw/two.bin").read_bytes() == b"changed"


def test_write_dir_replaces_the_directory_in_the_bucket_and_push_only_adds(s3_bucket, client, tmp_path):
    store = _store(s3_bucket, tmp_path / "a", prefix="")
    for names in (("keep.txt", "drop.txt"), ("keep.txt",)):
        with store.write_dir("d") as staged:
            for name in names:
                (staged.path / name).write_text(name)
            (staged.path / ".hidden").write_text("staging files are never published")
    assert [k for k in _keys(client, s3_bucket) if k.startswith("d/")] == ["d/keep.txt"]
    other = _store(s3_bucket, tmp_path / "b", prefix="")
    other.pull("d")
    (tmp_path / "b/d/new.txt").write_text("added here")
    other.push("d")  # a partial local copy never deletes what others wrote
    assert [k for k in _keys(client, s3_bucket) if k.startswith("d/")] == ["d/keep.txt", "d/new.txt"]
    client.put_object(Bucket=s3_bucket, Key="d/keep.txt.bak", Body=b"a sibling sharing the name as a prefix")
    third = _store(s3_bucket, tmp_path / "c", prefix="")
    third.pull("d/keep.txt")
    assert sorted(p.name for p in (tmp_path / "c/d").iterdir()) == ["keep.txt"]


def test_keys_from_data_never_escape(s3_bucket, client, tmp_path):
    store = _store(s3_bucket, tmp_path / "cache")
    for bad in ("../outside", "/etc/passwd", "a/../../b"):
        with pytest.raises(UnsafePathError):
            store.pull(bad)
        with pytest.raises(UnsafePathError):
            store.uri(bad)
    client.put_object(Bucket=s3_bucket, Key="team/datasets/raw/../../../escaped.txt", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="team/datasets/raw/fine.txt", Body=b"y")
    store.pull("raw")
    assert (tmp_path / "cache/raw/fine.txt").read_bytes() == b"y"
    assert not list(tmp_path.rglob("escaped.txt"))
    client.put_object(Bucket=s3_bucket, Key="other-team/secret.txt", Body=b"z")
    store.pull("")
    assert not list(tmp_path.rglob("secret.txt"))  # outside the prefix: never seen


def test_unreachable_endpoint_is_retried_then_a_named_failure(tmp_path, s3_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3DatasetStore(
        bucket="nowhere", cache_dir=str(tmp_path), endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1
    )
    out = fetch_slice(
        {"patient_id": "p"}, "raw/x.dcm", store.pull, FetchSettings((5.0,), 0.01, attempts=2, backoff_s=0.0)
    )
    assert (out["status"], out["reason"], out["attempts"]) == ("failed", "download_failed", 2)
    assert "EndpointConnectionError" in out["detail"] or "Could not connect" in out["detail"]


def test_store_is_chosen_from_the_environment_and_holds_no_credentials(monkeypatch, tmp_path, s3_env):
    monkeypatch.setenv("DATAPREP_STORE_URL", "s3://my-bucket/some/prefix")
    monkeypatch.setenv("DATAPREP_STORE_ROOT", str(tmp_path / "cache"))
    store = build_store()
    assert isinstance(store, S3DatasetStore)
    assert (store.bucket, store.prefix, store.cache_dir) == ("my-bucket", "some/prefix", str(tmp_path / "cache"))
    dumped = repr(store.model_dump()) + repr(store)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in dumped and os.environ["AWS_ACCESS_KEY_ID"] not in dumped
    monkeypatch.delenv("DATAPREP_STORE_URL")
    assert isinstance(build_store(), LocalDatasetStore)
    with pytest.raises(ValueError, match="s3://"):
        S3DatasetStore.from_url("https://bucket/x")


def test_an_asset_materializes_through_s3_and_its_metadata_has_no_secret(s3_bucket, client, tmp_path, instance):
    @dg.asset
    def tiny(store: S3DatasetStore) -> dg.MaterializeResult:
        manifest = store.write_json("data/tiny.json", {"rows": 3})
        return dg.MaterializeResult(
            data_version=dg.DataVersion(manifest.dataset_hash),
            metadata={"path": dg.MetadataValue.path(store.uri("data/tiny.json"))},
        )

    result = dg.materialize([tiny], instance=instance, resources={"store": _store(s3_bucket, tmp_path)})
    assert result.success
    assert "team/datasets/data/tiny.json" in _keys(client, s3_bucket)
    text = repr([e.event_specific_data for e in result.all_events])
    assert f"s3://{s3_bucket}/team/datasets/data/tiny.json" in text
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in text and os.environ["AWS_ACCESS_KEY_ID"] not in text


def test_pull_drops_cached_inputs_deleted_from_the_bucket_but_keeps_local_work(s3_bucket, client, tmp_path):
    """An object deleted upstream does not linger in the cache as if present; a file written here and not pushed
    (or changed here since it was pulled) stays."""
    for name in ("a.tif", "b.tif", "c.tif"):
        client.put_object(Bucket=s3_bucket, Key=f"team/datasets/raw/cell_qa/{name}", Body=name.encode())
    reader = _store(s3_bucket, tmp_path / "b")
    raw = reader.pull("raw/cell_qa")
    assert sorted(p.name for p in raw.iterdir()) == ["a.tif", "b.tif", "c.tif"]
    (raw / "local.tif").write_bytes(b"written here, not pushed yet")
    (raw / "c.tif").write_bytes(b"edited here after the pull")
    client.delete_objects(
        Bucket=s3_bucket,
        Delete={"Objects": [{"Key": f"team/datasets/raw/cell_qa/{n}"} for n in ("b.tif", "c.tif", "local.tif")]},
    )
    reader.pull("raw/cell_qa")
    assert sorted(p.name for p in raw.iterdir()) == ["a.tif", "c.tif", "local.tif"]
    client.delete_object(Bucket=s3_bucket, Key="team/datasets/raw/cell_qa/a.tif")
    reader.pull("raw/cell_qa/a.tif")  # pulling the file itself
    assert not (raw / "a.tif").exists()
    # a dataset this cache pushed and someone else deleted from the bucket goes too
    reader.write_json("data/x.json", {"a": 1})
    client.delete_object(Bucket=s3_bucket, Key="team/datasets/data/x.json")
    reader.pull("data")
    assert not (tmp_path / "b/data/x.json").exists()


def test_an_inventory_on_s3_does_not_see_a_frame_deleted_upstream(s3_bucket, client, tmp_path, instance):
    from dataprep_assets.defs.cell_qa.assets import cell_qa_inventory
    from dataprep_assets.defs.cell_qa.datasets import INVENTORY
    from dataprep_assets.sample_data.cell_qa import generate

    local = tmp_path / "sample"
    generate(local)
    for path in sorted(p for p in (local / "raw").rglob("*") if p.is_file()):
        client.upload_file(str(path), s3_bucket, f"team/datasets/{path.relative_to(local).as_posix()}")
    store = _store(s3_bucket, tmp_path / "cache")
    assert dg.materialize([cell_qa_inventory], instance=instance, resources={"store": store}).success
    first = store.read_table(INVENTORY.path)
    victim = sorted(first["raw_path"].dropna())[0]
    client.delete_object(Bucket=s3_bucket, Key=f"team/datasets/{victim}")
    assert dg.materialize([cell_qa_inventory], instance=instance, resources={"store": store}).success
    second = store.read_table(INVENTORY.path)
    assert victim not in set(second["raw_path"].dropna()) and len(second) < len(first)


def test_gc_in_the_bucket_frees_the_objects_only_dropped_versions_used(s3_bucket, client, tmp_path):
    from dataprep_assets.lib import versions as V

    store = _store(s3_bucket, tmp_path / "cache")
    for i in range(3):
        store.write_json("data/set.json", {"round": i})
    policy = V.RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0)
    dry = store.gc(policy, dry_run=True)
    assert len(dry.versions_dropped) == 2 and dry.objects_deleted == 2 and dry.objects_kept == 1
    objects = [k for k in _keys(client, s3_bucket) if "/_objects/" in k]
    assert len(objects) == 3, "a dry run deletes nothing"
    report = store.gc(policy, dry_run=False)
    assert report.objects_deleted == 2 and report.bytes_freed == dry.bytes_freed > 0
    assert len([k for k in _keys(client, s3_bucket) if "/_objects/" in k]) == 1
    fresh = _store(s3_bucket, tmp_path / "other-cache")  # what is left reads back from the bucket alone
    assert fresh.read_json("data/set.json") == {"round": 2}
