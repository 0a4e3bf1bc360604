"""ct_hemorrhage's job: the whole asset group, from the labelled sources to the CSV exports and the card."""

import dagster as dg

from dataprep_assets.defs.ct_hemorrhage.datasets import GROUP

ct_hemorrhage_job = dg.define_asset_job(
    "ct_hemorrhage_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="The whole v4 workflow: labelled sources, no-hemorrhage pool from S3, patient splits, balance, "
    "augmentation, 4-class, analysis, CSVs.",
)
