"""An echo_quality version checks out byte for byte after later rebuilds with other inputs: every dataset the
first run wrote (by run id), and the first release with every part it pins."""

import dagster as dg

from dataprep_assets import versions
from dataprep_assets.defs.echo_quality.datasets import RELEASE, SPLITS, TRAINING_DATA
from dataprep_assets.sample_data.echo_quality import write_exam
from dataprep_assets_tests.checkout_roundtrip import assert_run_checks_out_byte_identically, restored, snapshot
from dataprep_assets_tests.echo_quality.conftest import materialize_echo


def test_the_first_version_checks_out_byte_identically_after_two_rebuilds(
    store, instance, sample, store_root, tmp_path
):
    first = materialize_echo(store, instance)
    written = snapshot(store)
    write_exam(store_root, "EPIQ7-0009", [0.97, 0.03], seed=3, patient_id="PAT-NEW")
    assert materialize_echo(store, instance).success
    write_exam(store_root, "EPIQ7-0010", [0.96, 0.02, 0.99], seed=4, patient_id="PAT-NEW2")
    assert materialize_echo(store, instance).success

    compared = assert_run_checks_out_byte_identically(
        store, first.run_id, written, tmp_path / "by_run", [TRAINING_DATA.path, SPLITS.path, RELEASE.path]
    )
    assert compared >= 5
    release = store.versions(RELEASE.path)[0]
    out = tmp_path / "release"
    versions.checkout(RELEASE.path, out, version=release.version_id, store=store)
    for part in (RELEASE.path, TRAINING_DATA.path, SPLITS.path):
        kind = store.versions(part)[0].kind
        assert restored(out, part, kind) == written[part], part
    assert instance.get_latest_materialization_event(dg.AssetKey("echo_dataset_release")).run_id != first.run_id
