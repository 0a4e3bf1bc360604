"""echo_quality tests."""
