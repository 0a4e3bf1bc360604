"""perva_retrieval (seed 004): image catalog, concept-level splits, hard-negative retrieval per
category (one dynamic partition each), combined records and a HuggingFace dataset."""
