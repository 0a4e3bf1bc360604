"""Every `<pipeline>_uploads` asset (found in the code location's `uploads` group) accounts for each change of
its tick on a real materialization: written into the day's batch, a reject (an unsafe key), or set aside
(superseded by a later change of the same key in the same tick)."""

import dagster as dg

from dataprep_assets.common.uploads import UPLOADS_GROUP
from dataprep_assets_tests.harness import accounting_gaps, group_assets, materialize_group, metadata_value

DAY = "2026-11-28"
CHANGES = {"keys": ["a/t000.tif", "b/x.tif", "../escape.tif", "a/t000.tif"], "etags": ["1", "2", "3", "4"]}


def test_every_upload_batch_accounts_for_each_change_of_its_tick(store, instance):
    results = []
    for asset in group_assets(UPLOADS_GROUP):
        assert isinstance(asset, dg.AssetsDefinition) and asset.partitions_def is not None
        partitions = asset.partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name
        instance.add_dynamic_partitions(partitions.name, [DAY])
        name = asset.key.to_user_string()
        config = {**CHANGES, "sizes": [10, 20, 30, 40]}
        result = materialize_group(
            UPLOADS_GROUP, store, instance, selection=[name], ops={name: {"config": config}}, partition_key=DAY
        )
        assert metadata_value(result, name, "accounting/uploaded files") == {
            "records_in": 4,
            "records_out": 2,
            "records_rejected": 1,
            "records_set_aside": 1,
            "records_unaccounted": 0,
        }
        results.append(result)
    assert accounting_gaps(UPLOADS_GROUP, results) == {}
