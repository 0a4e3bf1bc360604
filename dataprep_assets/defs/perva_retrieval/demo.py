"""`make demo` for perva_retrieval: the catalog job, then every category partition, then the export.

Run config is the seed README's example invocation (num_train 5, seed 42 for the catalog; seed 23
and K=3 for the rest), so the outputs land where the seed's scripts would put them.
"""

import dagster as dg

from dataprep_assets.defs.perva_retrieval.paths import PARTITIONS_NAME
from dataprep_assets.demo import DemoPipeline


def category_partitions(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """The categories image_catalog registered (it ran just before)."""
    return sorted(instance.get_dynamic_partitions(PARTITIONS_NAME))


DEMO = [
    DemoPipeline(
        "perva_retrieval:catalog",
        "perva_retrieval_catalog_job",
        run_config={
            "ops": {
                "image_catalog": {"config": {"num_train": 5, "seed": 42}},
                "concept_splits": {"config": {"seed": 23}},
            }
        },
    ),
    DemoPipeline(
        "perva_retrieval:categories",
        "perva_retrieval_per_category_job",
        partitions=category_partitions,
        run_config={"ops": {"retrieval_per_category": {"config": {"seed": 23, "top_k": 3}}}},
    ),
    DemoPipeline(
        "perva_retrieval:export",
        "perva_retrieval_export_job",
        run_config={
            "ops": {
                "retrieval_combined": {"config": {"seed": 23, "num_samples": 200}},
                "hf_retrieval_dataset": {"config": {"seed": 23}},
            }
        },
    ),
]
