"""ct_hemorrhage asset, seed step 3 [1-5.6]: the labelled sources (v3 4-class and Roboflow exports) remapped to the
6 classes and merged into one COCO file."""

from pathlib import Path

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import counts_table, rejects_metadata
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.ct_hemorrhage.config import LabelledCocoConfig
from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6, GROUP, LABELLED, RAW_PREFIX
from dataprep_assets.defs.ct_hemorrhage.labelled import Source, image_facts_name, load_source, merge_sources
from dataprep_assets.defs.ct_hemorrhage.uploads import ct_hemorrhage_uploads
from dataprep_assets.lib.accounting import ledgers_metadata
from dataprep_assets.lib.coco import CocoError, coco_from_frames
from dataprep_assets.lib.itemcache import StampedResults
from dataprep_assets.lib.rejects import RejectLog


@dg.asset(group_name=GROUP, deps=[ct_hemorrhage_uploads], kinds={"coco", "json"}, automation_condition=FOLLOW_UPSTREAM)
def labelled_coco(
    context: dg.AssetExecutionContext, config: LabelledCocoConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """The 4-class v3 and 8-category Roboflow sources remapped to EDH, HC, IPH, IVH, SAH, SDH and merged:
    boxes clipped first, degenerate ones removed, images missing on disk dropped; every refusal is a reject."""
    v3, roboflow = (  # the folders beside the COCO files, in the seed's layout (an undated view of dated uploads)
        raw_inputs(store, GROUP, RAW_PREFIX, Path(p).parent.as_posix()) + "/" + Path(p).name
        for p in (config.v3_annotations, config.roboflow_annotations)
    )
    sources = [
        Source("v3", v3, dict(config.v3_category_map), config.unknown_categories),
        Source("roboflow", roboflow, dict(config.roboflow_category_map), config.unknown_categories),
    ]
    rejects = RejectLog()
    results = []
    facts = StampedResults(store.local_root(), "labelled_images", image_facts_name())
    for source in sources:
        try:
            results.append(
                load_source(
                    store.local_root(),
                    source,
                    config.file_name_pattern,
                    config.min_box_size,
                    config.verify_image_size,
                    rejects,
                    facts,
                )
            )
        except CocoError as exc:
            raise dg.Failure(f"labelled source {source.name!r} cannot be used: {exc}") from exc
    if config.verify_image_size:
        facts.save()
        context.log.info(f"image sizes checked: {facts.computed} new or changed images opened, the rest remembered")
    images, boxes = merge_sources(results)
    if images.empty:
        rejects_path = store.write_rejects(LABELLED.asset, rejects)
        raise dg.Failure(
            "no usable labelled images in any source", metadata=rejects_metadata(store, rejects_path, rejects)
        )
    coco = coco_from_frames(
        images,
        boxes,
        CLASSES_6,
        extra_image_fields=["patient_id", "source", "source_path", "key"],
        info={"description": "labelled sources, 6 classes"},
    )
    manifest = store.write(LABELLED, coco)
    positive = images["id"].isin(boxes["image_id"])
    per_source = pd.DataFrame([{"source": s.name, **r.stats} for s, r in zip(sources, results, strict=True)]).fillna(0)
    per_class = (
        boxes.groupby("category_id")
        .agg(boxes=("id", "size"), images=("image_id", "nunique"))
        .reindex(range(len(CLASSES_6)), fill_value=0)
    )
    per_class.index = list(CLASSES_6)
    return materialized(
        store,
        LABELLED,
        manifest,
        rejects=rejects,
        metadata={
            "images": len(images),
            "annotations": len(boxes),
            "dagster/row_count": len(images),
            "patients": int(images["patient_id"].nunique()),
            "with_hemorrhage": int(positive.sum()),
            "no_hemorrhage": int((~positive).sum()),
            "no_hem_needed_for_50pct": int(positive.sum() - (~positive).sum()),
            "slices_in_both_sources": int(images.groupby("key")["source"].nunique().gt(1).sum()),
            "per_source": counts_table(per_source.set_index("source"), "source"),
            "per_class": counts_table(per_class, "class"),
            **ledgers_metadata(*(ledger for r in results for ledger in r.ledgers)),
        },
    )
