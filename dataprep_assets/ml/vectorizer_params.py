"""The vectorizer's parameters and quality metrics: names, valid ranges, logo types, aliases.

VTracer-style parameters (https://github.com/visioncortex/vtracer). Ranges are deliberately broad (what
the optimisers were allowed to try); a value outside them means a corrupt or mis-recorded result.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NumericParam:
    name: str
    low: float
    high: float
    integer: bool
    default: float


NUMERIC_PARAMS: tuple[NumericParam, ...] = (
    NumericParam("color_precision", 1, 10, True, 6),
    NumericParam("layer_difference", 1, 256, True, 16),
    NumericParam("filter_speckle", 0, 256, True, 4),
    NumericParam("corner_threshold", 0, 180, False, 60),
    NumericParam("length_threshold", 0.5, 20, False, 4.0),
    NumericParam("max_iterations", 1, 50, True, 10),
    NumericParam("splice_threshold", 0, 180, False, 45),
    NumericParam("path_precision", 0, 20, True, 3),
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in NUMERIC_PARAMS)
PARAM_BY_NAME = {p.name: p for p in NUMERIC_PARAMS}
MODES: tuple[str, ...] = ("spline", "polygon", "none")
METRICS: tuple[str, ...] = ("ssim", "mse", "psnr")
METHODS: tuple[int, ...] = (1, 2, 3)

LOGO_TYPES: tuple[str, ...] = ("simple", "text", "gradient", "complex")
TARGET_LOGO_MIX = {"simple": 0.30, "text": 0.25, "gradient": 0.25, "complex": 0.20}
"""The seed's intended logo-type balance; reported beside the achieved mix."""

LOGO_TYPE_ALIASES = {
    "simple": "simple",
    "simple_geometric": "simple",
    "geometric": "simple",
    "text": "text",
    "text_based": "text",
    "gradient": "gradient",
    "gradients": "gradient",
    "complex": "complex",
}

# Field names that different optimisation logs use for the same thing (first match wins).
IMAGE_KEYS = ("image_path", "image", "input_image", "file", "filename")
LOGO_TYPE_KEYS = ("logo_type", "category", "type")
METHOD_KEYS = ("method", "optimization_method", "method_id")
TIMESTAMP_KEYS = ("timestamp", "time", "created_at", "created")
PARAMS_KEYS = ("parameters", "params", "vtracer_params")
METRICS_KEYS = ("metrics", "quality", "quality_metrics")


def normalise_logo_type(value: object) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    return LOGO_TYPE_ALIASES.get(text)


def normalise_method(value: object) -> int | None:
    """`1`, `"2"`, `"method3"`, `"method1_correlation_mapping"` -> 1..3; anything else -> None."""
    if value is None:
        return None
    text = str(value).strip().lower().removeprefix("method").lstrip("_ ")
    digits = text[:1]
    if digits.isdigit() and int(digits) in METHODS and (len(text) == 1 or not text[1].isdigit()):
        return int(digits)
    return None


def out_of_range(name: str, value: float) -> bool:
    spec = PARAM_BY_NAME[name]
    if not spec.low <= value <= spec.high:
        return True
    return spec.integer and float(value) != int(value)
