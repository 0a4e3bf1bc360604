"""echo_quality (seed 003): echo video training data from inference results, refreshed when new results land."""
