"""One-line descriptions of the columns of the tables quality_prediction writes (their `dagster/column_schema`).

A column name means the same thing in every table of the pipeline, so the tables share one glossary.
"""

from dataprep_assets.ml.vectorizer_params import NUMERIC_PARAMS

COLUMNS = {
    "result_id": "one conversion result: log file and record number",
    "source_file": "the results log the row came from",
    "source_format": "json, jsonl or csv log",
    "record": "record number within its log",
    "image_path": "path of the source logo image under the results root",
    "image_id": "the logo image (path under the results root)",
    "image_group": "content hash prefix of the image pixels: the leak group (copies share it)",
    "content_hash": "SHA-256 of the decoded image pixels",
    "logo_type": "simple, text, gradient or complex",
    "logo_type_raw": "logo type as written in the log",
    "method": "conversion method (1, 2 or 3)",
    "method_raw": "method as written in the log",
    "timestamp": "when the conversion ran",
    **{p.name: f"VTracer parameter {p.name} ({p.low}-{p.high})" for p in NUMERIC_PARAMS},
    "mode": "VTracer curve mode: spline, polygon or none",
    "ssim": "structural similarity of the SVG render to the source, 0-1",
    "mse": "mean squared error of the SVG render",
    "psnr": "peak signal-to-noise ratio of the SVG render, dB",
    "parse_issues": "fields the parser had to coerce or could not read",
    "width": "image width, pixels",
    "height": "image height, pixels",
    "image_format": "image file format",
    "format": "image file format",
    "results": "conversion results of the image that pass cleaning",
    "split": "train, validation or test (assigned per image_group)",
    "stratum": "logo type and SSIM bin the split is stratified by",
    "ssim_bin": "SSIM bin of the result",
    "cv_fold": "cross-validation fold within train (-1 outside train)",
    "row": "row of the image's vector in the HDF5 feature matrix",
}


INSPECTION_COLUMNS = {
    "image_id": "the source image to look at (store-relative under the results' image root)",
    "image_group": "the source-image group (all conversions of one logo)",
    "stratum": "the logo type x quality bin stratum it was sampled from (10% of each)",
    "split": "the split the image is in",
    "verdict": "filled in by a person: ok / bad (bad = a reject at the next cleaning run); empty = pending",
    "note": "free text from the person inspecting",
}
