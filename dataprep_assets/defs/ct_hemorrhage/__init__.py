"""ct_hemorrhage: the balanced, leak-free, augmented brain-CT COCO dataset (seed 001)."""
