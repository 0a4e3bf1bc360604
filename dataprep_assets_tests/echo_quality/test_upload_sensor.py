"""The echo upload sensor sees every uploaded video, extension or not (Philips exports have none)."""

import dagster as dg

from dataprep_assets.defs.echo_quality.uploads import echo_quality_upload_sensor, echo_quality_uploads


def test_every_uploaded_video_is_in_the_batch_with_or_without_extension(store, store_root, sample, instance):
    raw = store_root / "raw/echo_quality/raw_data"
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert any("." not in name.rsplit("/", 1)[-1] for name in files), "the sample has extensionless (Philips) files"
    defs = dg.Definitions(
        assets=[echo_quality_uploads], sensors=[echo_quality_upload_sensor], resources={"store": store}
    )
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources={"store": store}, definitions=defs
    ) as context:
        result = echo_quality_upload_sensor.evaluate_tick(context)
    (request,) = result.run_requests
    assert sorted(request.run_config["ops"]["echo_quality_uploads"]["config"]["keys"]) == files
