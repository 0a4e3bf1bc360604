"""Launchpad configuration of the echo_quality assets (every field has a description and a default)."""

from typing import Literal

from pydantic import Field, model_validator

from dataprep_assets.common.config import Fraction, LaunchpadConfig, SplitFractionsConfig
from dataprep_assets.defs.echo_quality.datasets import DICOM_PREFIX
from dataprep_assets.defs.echo_quality.grouping import DEFAULT_PLACEHOLDER_IDS
from dataprep_assets.defs.echo_quality.results import Status
from dataprep_assets.defs.echo_quality.selection import Criteria


class InferenceResultsConfig(LaunchpadConfig):
    results_uri: str = Field(
        default="",
        description="Where the inference results are: a local directory or `s3://bucket/prefix`. Empty = "
        "$ECHO_RESULTS_URI, "
        "else `raw/echo_quality/inference_output` in the dataset store. The sensor passes the location it watches.",
    )
    s3_endpoint_url: str = Field(
        default="",
        description="S3 endpoint (MinIO, ...) for an s3:// results_uri; empty = $AWS_ENDPOINT_URL_S3, else AWS.",
    )
    dicom_dir: str = Field(
        default=DICOM_PREFIX,
        description="Store-relative directory holding the DICOM videos the results refer to (`<folder>/<file>`).",
    )
    machine_aliases: dict[str, str] = Field(
        default={},
        description="Extra spellings of machine names, e.g. {'EPIQ 7C': 'Epiq7'}; both sides are normalised "
        "(lower-case letters and digits).",
    )
    allowed_modalities: list[str] = Field(
        default=["US"], description="DICOM Modality values accepted (echo videos are `US`); empty list = any."
    )
    min_frames: int = Field(
        ge=1, default=2, description="Videos with fewer frames (single stills) are rejected as `too_few_frames`."
    )
    max_workers: int = Field(
        ge=0, default=0, description="Processes reading DICOM headers; 0 = all cores (small inputs are read inline)."
    )


class SelectionConfig(LaunchpadConfig):
    high_quality_threshold: float = Field(ge=0, le=1, default=0.95, description="High quality needs score >= this.")
    high_quality_status: Status = Field(
        default="PASS", description="High quality needs this inference status (PASS or FAIL)."
    )
    high_quality_phrase: str = Field(
        default="Excellent quality", description="High quality needs the assessment to contain this text."
    )
    low_quality_threshold: float = Field(ge=0, le=1, default=0.1, description="Low quality needs score <= this.")
    low_quality_status: Status = Field(
        default="FAIL", description="Low quality needs this inference status (PASS or FAIL)."
    )
    low_quality_phrase: str = Field(
        default="Critical issues", description="Low quality needs the assessment to contain this text."
    )
    case_sensitive_phrases: bool = Field(
        default=True, description="Match the phrases case-sensitively (as the seed script does)."
    )
    max_high_quality: int = Field(ge=1, default=800, description="At most this many high-quality videos (>= 1).")
    max_low_quality: int = Field(ge=1, default=300, description="At most this many low-quality videos (>= 1).")
    machine_allocation: Literal["equal", "proportional"] = Field(
        default="equal",
        description="How a cap is shared across machine types: `equal` (max-min fair: small machines keep all their "
        "videos) or `proportional` (by share, at least one each).",
    )
    seed: int = Field(
        default=42,
        description="Seed of the sampling order when a class is capped (same seed + inputs = same selection).",
    )
    target_high_share: float | None = Field(
        gt=0,
        lt=1,
        default=None,
        description="Optional target share of high-quality videos, e.g. 0.67 for the seed's ~67/33: the class caps are "
        "lowered (never raised) "
        "to the largest set with that ratio. Null (default) = the caps alone.",
    )

    @property
    def criteria(self) -> Criteria:
        return Criteria(
            self.high_quality_threshold,
            self.high_quality_status,
            self.high_quality_phrase,
            self.low_quality_threshold,
            self.low_quality_status,
            self.low_quality_phrase,
            self.case_sensitive_phrases,
        )

    @model_validator(mode="after")
    def _low_below_high(self):
        if self.low_quality_threshold >= self.high_quality_threshold:
            raise ValueError(
                f"low_quality_threshold ({self.low_quality_threshold}) must be below high_quality_threshold "
                f"({self.high_quality_threshold})"
            )
        return self


class TrainingDataConfig(LaunchpadConfig):
    decode_first_frame: bool = Field(
        default=True, description="Verify every copied video by decoding its first frame (not only parsing it)."
    )
    max_workers: int = Field(
        default=0, description="Processes copying and verifying videos; 0 = all cores (small inputs are copied inline)."
    )


class EchoSplitConfig(SplitFractionsConfig):
    train_fraction: Fraction = Field(default=0.70, description="Share of groups (patients/studies) in train.")
    validation_fraction: Fraction = Field(default=0.15, description="Share of groups in validation.")
    test_fraction: Fraction = Field(default=0.15, description="Share of groups in test.")
    group_by: Literal["patient", "study", "folder"] = Field(
        default="patient",
        description="What keeps videos together: `patient` (folder + StudyInstanceUID + PatientID links), `study` "
        "(folder + StudyInstanceUID) or `folder`.",
    )
    placeholder_patient_ids: list[str] = Field(
        default=list(DEFAULT_PLACEHOLDER_IDS),
        description="PatientID values that identify nobody (anonymised exports) and so link nothing "
        "(case-insensitive).",
    )
    seed: int = Field(default=42, description="Seed of the shuffle of the sorted group ids.")
