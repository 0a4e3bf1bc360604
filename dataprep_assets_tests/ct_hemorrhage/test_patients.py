"""Patient ids from the seed's file-name convention, and a patient-level split in which rare classes
still reach the small splits (as the seed's validation demands), deterministically."""

from dataprep_assets.defs.ct_hemorrhage.patients import coverage_split, image_key, parse_name

FRACTIONS = {"train": 0.8, "valid": 0.15, "test": 0.05}


def test_file_name_convention():
    assert parse_name("520892552_14.png") == ("520892552", 14)
    assert parse_name("520892552_14_png.rf.0a1b2c3d.jpg") == ("520892552", 14)
    assert parse_name("images/CQ500-CT-310_21.jpg") == ("CQ500-CT-310", 21)
    assert parse_name("scan.png") is None and parse_name("_12.png") is None
    assert image_key("520892552", 14) == "520892552_14"


def test_rsna_style_names_keep_the_hex_id_as_the_patient():
    assert parse_name("ID_002f778d_000.png") == ("ID_002f778d", 0)
    assert parse_name("stage_2_train/ID_0a1b2c3d_17_png.rf.ff00.jpg") == ("ID_0a1b2c3d", 17)
    assert parse_name("ID_5.png") == ("ID", 5)  # a plain patient called "ID" still parses
    assert parse_name("p7_12abc.png") is None  # the slice number must end where the name part ends


def _patients():
    common = [{"IPH", "IVH", "SAH", "SDH"}, {"IPH", "SAH"}, {"IVH", "SDH"}, {"IPH", "SAH"}, {"IVH", "SDH"}]
    labels = {f"p{i:02d}": frozenset(common[i % 5]) for i in range(40)}
    labels |= {
        "r1": frozenset({"EDH"}),
        "r2": frozenset({"EDH"}),
        "r3": frozenset({"EDH", "HC"}),
        "h1": frozenset({"HC"}),
        "h2": frozenset({"HC", "IPH"}),
    }
    return labels


def test_rare_classes_reach_every_split_and_patients_are_whole():
    labels = _patients()
    assignment, uncovered = coverage_split(labels, FRACTIONS, seed=42)
    assert set(assignment) == set(labels) and uncovered == []
    for split in FRACTIONS:
        present = set().union(*(labels[p] for p, s in assignment.items() if s == split))
        assert {"EDH", "HC", "IPH", "IVH", "SAH", "SDH"} <= present, split
    counts = {s: sum(v == s for v in assignment.values()) for s in FRACTIONS}
    assert counts == {"train": 36, "valid": 7, "test": 2}


def test_split_is_deterministic_and_reports_what_the_data_cannot_cover():
    labels = _patients() | {"only": frozenset({"XYZ"})}
    first, uncovered = coverage_split(labels, FRACTIONS, seed=1)
    assert coverage_split(dict(reversed(list(labels.items()))), FRACTIONS, seed=1)[0] == first
    assert sorted(s for c, s in uncovered if c == "XYZ") == sorted(s for s in FRACTIONS if s != first["only"])
