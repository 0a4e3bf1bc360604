"""Autoloaded Dagster definitions: one folder per pipeline, plus the shared resources."""
