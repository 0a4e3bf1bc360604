"""echo_training_data is incremental per video: a rerun restores every verified video from the item cache
(no copy, no decode) and publishes the same bytes; another verification setting is verified anew."""

import dagster as dg

from dataprep_assets.defs.echo_quality.datasets import TRAINING_DATA
from dataprep_assets_tests.echo_quality.conftest import materialize_echo


def _training_meta(instance) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey("echo_training_data"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_a_rerun_restores_every_video_and_publishes_the_same_bytes(store, instance, sample):
    materialize_echo(store, instance)
    first = store.manifest(TRAINING_DATA.path)
    meta = _training_meta(instance)
    videos = meta["dagster/row_count"]
    assert videos > 0 and meta["videos_reused"] == 0

    materialize_echo(store, instance)
    assert _training_meta(instance)["videos_reused"] == videos
    assert store.manifest(TRAINING_DATA.path).dataset_hash == first.dataset_hash

    # another verification is another cache entry: everything is done again, once
    light = {"ops": {"echo_training_data": {"config": {"decode_first_frame": False}}}}
    materialize_echo(store, instance, run_config=light)
    assert _training_meta(instance)["videos_reused"] == 0
    materialize_echo(store, instance, run_config=light)
    assert _training_meta(instance)["videos_reused"] == videos
    assert store.manifest(TRAINING_DATA.path).dataset_hash == first.dataset_hash
