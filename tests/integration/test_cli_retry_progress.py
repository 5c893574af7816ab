"""A command that waits on Bright Data's retries says so on stderr, over the simulator: what
failed, the wait and the attempt, never the token, and stdout stays what the command prints.
The Lambda handler retrying the same way prints no such line. Each test waits through one
real backoff (about 1 s): the production client is what is under test."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from types import ModuleType

import pytest

from job_alerts import cli
from local.simulator import BrightDataSimulator
from tests.conftest import ROOT, SIM_TOKEN, FakeLambdaContext, load_event

pytestmark = pytest.mark.integration

RETRY_LINE = "retrying in"


def _check_job(sim: BrightDataSimulator, job_id: str) -> None:
    sim.add_job(job_id, "c_amazon", "done", inputs=100, success=100, fails=0, lines=100)


@pytest.fixture
def api_only(simulator: BrightDataSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what `check` needs: the simulator's URL and token."""
    for name in ("TABLE_NAME", "TOPIC_ARN", "AWS_ENDPOINT_URL", "THRESHOLDS_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIGHTDATA_API_URL", simulator.url)
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", SIM_TOKEN)


@pytest.mark.usefixtures("api_only")
def test_cli_check_says_on_stderr_while_it_waits_to_retry(
    simulator: BrightDataSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a job whose log Bright Data answers with a 503 once
    _check_job(simulator, "j_retry1")
    simulator.inject("log", "status", code=503, job_id="j_retry1")

    # When it is checked with --json
    code = cli.main(["check", "--json", "j_retry1"])
    out, err = capsys.readouterr()

    # Then the read was retried and judged, stdout is only the JSON report
    assert code == 0
    assert simulator.count("log", job_id="j_retry1") == 2
    (report,) = json.loads(out)
    assert report["verdict"] == "ok"
    # and stderr said why it was quiet, once, without the token
    lines = [line for line in err.splitlines() if RETRY_LINE in line]
    assert len(lines) == 1
    assert lines[0].startswith("job-alerts: Bright Data answered 503 for GET /dca/log/j_retry1; ")
    assert lines[0].endswith(" s (attempt 2 of 4)")
    assert SIM_TOKEN not in out + err


def test_cli_run_says_on_stderr_while_it_waits_to_retry(
    simulator: BrightDataSimulator,
    monitor_env: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a collectors listing that a connection reset interrupts once
    _check_job(simulator, "j_retry2")
    simulator.inject("collectors_list", "reset")

    # When the monitor runs once from the CLI
    code = cli.main(["run", "--dry-run"])
    _, err = capsys.readouterr()

    # Then the run went on, and stderr said what it waited for
    assert code == 0
    assert simulator.count("collectors_list") == 2
    lines = [line for line in err.splitlines() if RETRY_LINE in line]
    assert len(lines) == 1
    assert lines[0].startswith(
        "job-alerts: Bright Data did not answer GET /dca/collectors_list "
        "(connection dropped without a complete response); retrying in "
    )
    assert SIM_TOKEN not in err


def _monitor_handler() -> ModuleType:
    """functions/monitor/app.py imported as Lambda imports it."""
    spec = importlib.util.spec_from_file_location(
        "monitor_app_retry", ROOT / "functions" / "monitor" / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("configure")
def test_monitor_handler_prints_no_retry_progress(
    simulator: BrightDataSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a listing that Bright Data answers with a 503 once
    _check_job(simulator, "j_retry3")
    simulator.inject("collectors_list", "status", code=503)

    # When the scheduled Lambda handler runs
    handler = _monitor_handler().handler
    result = handler(load_event("scheduled.json"), FakeLambdaContext())
    out, err = capsys.readouterr()

    # Then it retried and read the job, and no progress line reached the Lambda's output
    assert simulator.count("collectors_list") == 2
    assert result["jobs_read"] == 1
    assert RETRY_LINE not in out + err
