"""Patient ids from file names, and a patient-level split in which every class reaches every split.

File names follow `<patient>_<slice>...` (Roboflow appends `_png.rf.<hash>`; the RSNA intracranial
hemorrhage set names slices `ID_<hex>_<slice>`, whose patient is `ID_<hex>`); the pattern is configurable.
`coverage_split` assigns whole patients: first, for each class from the rarest up, a
split that lacks it (smallest split first) receives the unassigned patient who has it and brings
the most classes that split still lacks, while the split has room; then the remaining patients, in a seeded order, fill
the splits up to their
targets. Same patients, labels, fractions and seed: same assignment, whatever the input order.
With a previous assignment, existing patients stay in their split and only new patients are assigned
(`lib.splits.extend_assignment`: largest-deficit fill towards the fractions of the new total).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping

import numpy as np

from dataprep_assets.lib.splits import allocate_counts, extend_assignment, validate_fractions

DEFAULT_NAME_PATTERN = r"^(?P<patient>(?:ID_)?[A-Za-z0-9.\-]+)_(?P<slice>\d+)(?![0-9A-Za-z])"
"""`<patient>_<slice>` at the start of the name; the slice number must end there (`_`, `.` or the end follows)."""


def parse_name(file_name: str, pattern: str | re.Pattern = DEFAULT_NAME_PATTERN) -> tuple[str, int] | None:
    """(patient, slice) from a file name by the naming convention, or None when it does not match. Pass a
    compiled pattern when parsing many names."""
    match = (pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)).match(
        file_name.rsplit("/", 1)[-1] if "/" in file_name else file_name
    )
    if not match:
        return None
    patient, slice_number = match.group("patient", "slice")
    return patient, int(slice_number)


def image_key(patient: str, slice_number: int) -> str:
    """The key shared by the labelled images and the feedback CSV: `<patient>_<slice>`."""
    return f"{patient}_{int(slice_number)}"


def coverage_split(
    patient_labels: Mapping[Hashable, frozenset], fractions: Mapping[str, float], seed: int
) -> tuple[dict[Hashable, str], list[tuple[str, str]]]:
    """Patient -> split, and the (label, split) pairs the data could not cover."""
    validate_fractions(fractions, field="split fractions")
    patients = sorted(patient_labels, key=str)
    rank = dict(zip(patients, np.random.default_rng(seed).permutation(len(patients)).tolist(), strict=True))
    ordered = sorted(patients, key=lambda p: rank[p])
    targets = allocate_counts(len(patients), fractions)
    splits = [s for s in sorted(fractions, key=lambda s: (fractions[s], list(fractions).index(s))) if targets[s] > 0]
    assignment: dict = {}
    counts = dict.fromkeys(fractions, 0)
    present = {s: set() for s in fractions}

    def place(patient, split):
        assignment[patient] = split
        counts[split] += 1
        present[split] |= patient_labels[patient]

    labels = sorted(
        {lab for labs in patient_labels.values() for lab in labs},
        key=lambda lab: (sum(lab in v for v in patient_labels.values()), str(lab)),
    )
    for label in labels:
        for split in splits:
            if label in present[split] or counts[split] >= targets[split]:
                continue
            # the patient who brings the most labels this split still lacks (earliest in the seeded order on ties)
            pool = [p for p in ordered if p not in assignment and label in patient_labels[p]]
            if pool:
                place(max(pool, key=lambda p: (len(patient_labels[p] - present[split]), -rank[p])), split)
    position = {s: i for i, s in enumerate(fractions)}
    for patient in ordered:
        if patient not in assignment:
            place(patient, max(fractions, key=lambda s: (targets[s] - counts[s], -position[s])))
    uncovered = [(str(label), split) for label in labels for split in splits if label not in present[split]]
    return assignment, uncovered


def uncovered_labels(
    assignment: Mapping[Hashable, str], patient_labels: Mapping[Hashable, frozenset], fractions
) -> list:
    """(label, split) pairs with no patient of that label in that split (among splits with a non-zero fraction)."""
    present = {s: set() for s in fractions}
    for patient, split in assignment.items():
        present.setdefault(split, set()).update(patient_labels[patient])
    labels = sorted({lab for labs in patient_labels.values() for lab in labs}, key=str)
    return [(str(lab), s) for lab in labels for s in fractions if fractions[s] > 0 and lab not in present[s]]


def split_images(images, classes_col: str, fractions: Mapping[str, float], seed: int, previous: Mapping | None = None):
    """Each image's split from its patient's: `coverage_split` over patients and their class sets on the
    first build; with a `previous` patient -> split assignment, existing patients stay put."""
    per_patient: dict = {}
    for patient, classes in zip(images["patient_id"].tolist(), images[classes_col].tolist(), strict=True):
        per_patient.setdefault(patient, set()).update(classes)
    patient_labels = {p: frozenset(c) for p, c in per_patient.items()}
    if previous and any(p in previous for p in patient_labels):
        assignment = extend_assignment(previous, patient_labels, fractions, seed)
        uncovered = uncovered_labels(assignment, patient_labels, fractions)
    else:
        assignment, uncovered = coverage_split(patient_labels, fractions, seed)
    out = images.copy()
    out["split"] = out["patient_id"].map(assignment)
    return out, uncovered
