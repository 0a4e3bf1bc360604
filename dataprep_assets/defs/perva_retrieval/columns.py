"""One-line descriptions of the columns of the tables perva_retrieval writes (their `dagster/column_schema`)."""

IMAGES = {
    "category": "object category (one Dagster partition each)",
    "concept": "the personal concept (instance) within the category: the leak group",
    "split": "train, test or negative (catalog split within the concept)",
    "catalog_path": "path as written in the catalog JSON (relative to data_root if `relative`)",
    "store_path": "store-relative path of the image",
    "sha256": "SHA-256 of the image file",
    "width": "image width, pixels",
    "height": "image height, pixels",
    "bytes": "file size, bytes",
}

CATEGORY_IMAGES = {
    "path": "store-relative path of the image",
    "concept": "the concept the image shows",
    "category": "object category",
}
