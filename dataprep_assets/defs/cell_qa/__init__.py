"""cell_qa (seed 000): per-cell 2-channel crops, per-cell Jaccard, leak-free split by source image."""
