"""Model-side code (PyTorch): not autoloaded by Dagster, so definitions load without importing torch."""
