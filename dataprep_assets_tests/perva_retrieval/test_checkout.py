"""A perva_retrieval version checks out byte for byte after later rebuilds with other inputs (a new concept,
then another): every dataset the first catalog + split run wrote, by run id."""

import numpy as np
from PIL import Image

from dataprep_assets_tests.checkout_roundtrip import assert_run_checks_out_byte_identically, snapshot
from dataprep_assets_tests.perva_retrieval.test_pipeline import build_all

PERVA = "raw/perva_retrieval/PerVA"


def _add_concept(store, name: str, shade: int) -> None:
    """A new concept in `bag`: the images of `ale`, each changed (the catalog refuses exact duplicates)."""
    for part in ("train", "test"):
        source, target = store.path(PERVA, part, "bag", "ale"), store.path(PERVA, part, "bag", name)
        target.mkdir()
        for image in sorted(source.glob("*.jpg")):
            with Image.open(image) as img:
                pixels = np.asarray(img.convert("RGB")).copy()
            pixels[:8, :8] = shade
            Image.fromarray(pixels).save(target / image.name, quality=95)


def test_the_first_version_checks_out_byte_identically_after_two_rebuilds(perva_store_root, store, instance, tmp_path):
    first = build_all(instance, store)["catalog"]
    written = snapshot(store)
    catalog_file = next(d for d in written if d.endswith(".json") and "catalog" in d)
    _add_concept(store, "zzz", 10)
    build_all(instance, store)
    _add_concept(store, "zzy", 240)
    build_all(instance, store)

    compared = assert_run_checks_out_byte_identically(store, first.run_id, written, tmp_path / "by_run", [catalog_file])
    assert compared >= 4
