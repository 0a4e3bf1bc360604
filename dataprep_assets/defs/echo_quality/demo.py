"""`make demo` for echo_quality: the whole job, with caps small enough that the sample data is capped."""

from dataprep_assets.demo import DemoPipeline

DEMO = DemoPipeline(
    "echo_quality",
    "echo_quality_job",
    run_config={
        "ops": {
            "echo_training_selection": {"config": {"max_high_quality": 30, "max_low_quality": 15}},
        }
    },
)
