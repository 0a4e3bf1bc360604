"""Dagster-aware pieces shared by every pipeline: the dataset store, metadata helpers, check factories."""
