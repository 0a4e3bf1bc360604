"""`make bench` (`python -m benchmarks`): one plan covering every benchmark script, each one's arguments accepted."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import PLAN, main, scripts_on_disk

ROOT = Path(__file__).resolve().parent.parent


def test_the_plan_runs_every_benchmark_script_once():
    names = [s.name for s in PLAN]
    assert len(names) == len(set(names))
    assert set(names) == scripts_on_disk()


def test_an_unknown_script_name_is_refused_naming_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "no_such_bench"])
    assert "no_such_bench" in capsys.readouterr().err


@pytest.mark.parametrize("script", PLAN, ids=lambda s: s.name)
def test_each_script_accepts_its_planned_arguments(script):
    """Each script parses its full and quick arguments (`--help` after them stops before any work)."""
    for args in (script.args, script.quick):
        done = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{script.name}", *args, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_logs_the_context_and_a_summary(tmp_path):
    """The smallest real run: the log opens with machine, date, load and commit and ends with each script's status."""
    log = tmp_path / "bench.txt"
    code = main(["--quick", "--only", "echo_results_tick", "--out", str(log)])
    text = log.read_text()
    assert code == 0, text[-3000:]
    for field in ("machine:", "load average at start", "commit:", "## echo_results_tick", "## summary"):
        assert field in text
    assert "echo_results_tick        ok" in text
