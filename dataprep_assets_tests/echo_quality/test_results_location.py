"""With the store on S3, the echo results location is listed on S3 itself (moto on loopback): a sensor
tick downloads nothing into the local cache, and sees exactly the result files in the bucket."""

import boto3
import dagster as dg

from dataprep_assets.common.sensors import S3PrefixSource
from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.defs.echo_quality.automation import echo_inference_results_sensor
from dataprep_assets.defs.echo_quality.datasets import RESULTS_PREFIX
from dataprep_assets.defs.echo_quality.results_location import results_source


def test_results_in_the_s3_store_are_listed_on_s3_not_pulled(s3_bucket, s3_env, tmp_path, instance):
    client = boto3.client("s3", endpoint_url=s3_env)
    for i in range(3):
        client.put_object(
            Bucket=s3_bucket, Key=f"store/{RESULTS_PREFIX}/EPIQ7-000{i}/inference_results.json", Body=b"{}"
        )
    client.put_object(Bucket=s3_bucket, Key=f"store/{RESULTS_PREFIX}/notes.txt", Body=b"not a result")
    cache = tmp_path / "cache"
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(cache))
    source = results_source(store)
    assert isinstance(source, S3PrefixSource) and source.describe() == f"s3://{s3_bucket}/store/{RESULTS_PREFIX}/"

    with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
        result = echo_inference_results_sensor.evaluate_tick(context)
    (request,) = result.run_requests
    assert request.tags["dataprep/changed_files"] == "3"
    assert not (cache / RESULTS_PREFIX).exists(), "the tick pulled the results into the local cache"
