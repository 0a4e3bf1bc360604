"""Pure, Dagster-free building blocks shared by every pipeline (fast, unit-tested on their own)."""
