"""The whole ct_hemorrhage graph through S3 (moto's real server on loopback): the sample generator uploads
its DICOM archive and labelled sources to the bucket, a store with an empty cache fetches them, and
every output lands in the bucket in the seed's layout with every check passing; no credential appears
in any event."""

import json
import os

import boto3

from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.sample_data.ct_hemorrhage import generate
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize
from dataprep_assets_tests.harness import check_results


def test_whole_graph_through_s3(s3_bucket, s3_env, tmp_path, instance):
    # a smaller sample than the local tests' (S3 round trips cost), hence wider valid/test shares
    url = f"s3://{s3_bucket}/brain-ct"
    generate(
        tmp_path / "uploader", seed=0, v3_patients=18, roboflow_patients=12, pool_patients=14, upload_to=url
    )  # local, then pushed
    client = boto3.client("s3", endpoint_url=s3_env)
    raw = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=s3_bucket, Prefix="brain-ct/raw/ct_hemorrhage/"
        )
        for o in page.get("Contents", [])
    ]
    assert any(k.endswith(".dcm") for k in raw) and any(k.endswith("no_hemorrhage_positive_feedback.csv") for k in raw)

    store = S3DatasetStore(bucket=s3_bucket, prefix="brain-ct", cache_dir=str(tmp_path / "worker-cache"))
    config = {
        "ops": {"patient_splits": {"config": {"train_fraction": 0.7, "valid_fraction": 0.2, "test_fraction": 0.1}}}
    }
    result = materialize(store, instance, run_config=config)
    assert result.success
    failed = [k for k, e in check_results(result).items() if not e.passed]
    assert not failed

    def get(rel):
        return client.get_object(Bucket=s3_bucket, Key=f"brain-ct/{rel}")["Body"].read()

    for dataset in (D.SIX_CLASS.path, D.FOUR_CLASS.path):
        for split in D.SPLIT_ORDER:
            coco = json.loads(get(f"{dataset}/{split}/{D.ANNOTATIONS}"))
            first = coco["images"][0]["file_name"]
            assert get(f"{dataset}/{split}/{first}")[:2] in (
                b"\xff\xd8",
                b"\x89P",
            )  # JPEG or PNG, uploaded with the COCO file
    assert json.loads(get(D.NO_HEM_COCO.path))["annotations"] == []
    assert get(D.CSV_6CLASS.path).startswith(b"split,file_name,patient_id")
    assert b"slice_thickness" in get("rejects/no_hem_dicoms.csv")

    meta = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    assert meta["augmented_coco_6class"]["path"] == f"s3://{s3_bucket}/brain-ct/{D.SIX_CLASS.path}"
    assert meta["no_hem_dicoms"]["successful"] > 0 and meta["no_hem_dicoms"]["failed"] > 0
    events = repr([e.event_specific_data for e in result.all_events])
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in events and os.environ["AWS_ACCESS_KEY_ID"] not in events
