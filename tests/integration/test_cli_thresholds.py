"""`job-alerts thresholds set|unset [--what-if]` over the simulator and moto server: validated,
shown as a difference, written to the override document (a file locally, SSM with --stack), and
replayed over the collector's recent settled jobs before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Run
from tests.integration.test_cli_status import deployed  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

COLLECTOR = "c_reviews"


@pytest.fixture
def overrides_file(
    tmp_path: Path,
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """An override document with another collector's limits; the account has COLLECTOR."""
    simulator.add_collector(COLLECTOR, "Google reviews")
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"collectors": {"c_other": {"min_lines": 5}}}), encoding="utf-8")
    monitor_env(THRESHOLDS_FILE=str(path))
    return path


def test_thresholds_set_validates_shows_the_difference_and_writes_the_file(
    overrides_file: Path, run_cli: Run
) -> None:
    # When a collector's limits are set
    code, out, err = run_cli(
        "thresholds", "set", "--collector", COLLECTOR, "min_success_rate=0.8", "max_fails=20"
    )
    # Then the difference is shown and the document keeps what it had
    assert code == 0, err
    assert "min_success_rate   0.9 (default) -> 0.8 (overrides.collectors.c_reviews)" in out
    assert "max_fails          off (default) -> 20 (overrides.collectors.c_reviews)" in out
    written = json.loads(overrides_file.read_text(encoding="utf-8"))
    assert written["collectors"] == {
        "c_other": {"min_lines": 5},
        COLLECTOR: {"min_success_rate": 0.8, "max_fails": 20},
    }
    # And `thresholds` reads it back
    code, out, _ = run_cli("thresholds", "--collector", COLLECTOR, "--json")
    assert json.loads(out)["thresholds"]["max_fails"]["value"] == 20
    # When one is unset, Then it falls back and the rest stays
    code, out, _ = run_cli("thresholds", "unset", "--collector", COLLECTOR, "max_fails")
    assert "max_fails          20 (overrides.collectors.c_reviews) -> off (default)" in out
    written = json.loads(overrides_file.read_text(encoding="utf-8"))
    assert written["collectors"][COLLECTOR] == {"min_success_rate": 0.8}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("min_success_rate=1.5", "collectors.c_reviews.min_success_rate: expected a number"),
        ("max_fails=2.5", "collectors.c_reviews.max_fails: expected a whole number"),
        ("min_lines=off", "collectors.c_reviews.min_lines: expected a whole number >= 0, got null"),
        ("max_queue_minutes=soon", 'max_queue_minutes: expected a number > 0, got "soon"'),
    ],
)
def test_thresholds_set_refuses_a_bad_value_and_writes_nothing(
    value: str, message: str, overrides_file: Path, run_cli: Run
) -> None:
    before = overrides_file.read_text(encoding="utf-8")
    code, out, err = run_cli("thresholds", "set", "--collector", COLLECTOR, value)
    assert (code, out) == (2, "")
    assert message in err
    assert overrides_file.read_text(encoding="utf-8") == before


def test_thresholds_set_without_a_document_says_where_one_goes(
    monitor_env: Callable[..., None], run_cli: Run
) -> None:
    code, _, err = run_cli("thresholds", "set", "--collector", COLLECTOR, "max_fails=3")
    assert code == 2
    assert "set THRESHOLDS_FILE" in err
    assert "ThresholdsParameterName" in err


def test_thresholds_what_if_replays_recent_jobs_and_writes_nothing(
    overrides_file: Path,
    simulator: BrightDataSimulator,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given two settled jobs the monitor judged (one alerted at 85% success) and a running one
    simulator.add_job("j_low", COLLECTOR, "done", inputs=100, success=85, fails=15, lines=85)
    assert run_cli("run")[0] == 0
    clock.advance(5)
    simulator.add_job("j_ok", COLLECTOR, "done", inputs=100, success=97, fails=3, lines=97)
    simulator.add_job("j_run", COLLECTOR, "running", inputs=100, success=1, fails=0, lines=1)
    assert run_cli("run")[0] == 0
    clock.advance(5)
    before = overrides_file.read_text(encoding="utf-8")
    # When a stricter limit and a fails limit are tried
    code, out, err = run_cli(
        "thresholds", "set", "--collector", COLLECTOR, "min_success_rate=0.98",
        "max_fails=10", "--what-if", "--json",
    )  # fmt: skip
    # Then the replay says what would fire under each, and what did; nothing is written
    assert code == 0, err
    replay = {row["job_id"]: row for row in json.loads(out)["what_if"]}
    assert set(replay) == {"j_ok", "j_low"}
    assert replay["j_ok"]["fires_now"] == []
    assert replay["j_ok"]["would_fire"] == ["success_rate_below_min"]
    assert replay["j_low"]["fires_now"] == ["success_rate_below_min"]
    assert replay["j_low"]["would_fire"] == ["fails_above_max", "success_rate_below_min"]
    assert replay["j_low"]["alerted"] == ["success_rate_below_min"]
    assert overrides_file.read_text(encoding="utf-8") == before
    code, out, _ = run_cli(
        "thresholds", "set", "--collector", COLLECTOR, "min_success_rate=0.98", "--what-if"
    )
    assert "What if (nothing written): 2 recent settled jobs replayed" in out
    assert "1 job would raise more, 0 jobs would raise less." in out


def test_stack_thresholds_set_writes_the_deployed_ssm_document(
    deployed: str,  # noqa: F811 - the fixture
    stack: LocalStack,
    simulator: BrightDataSimulator,
    run_cli: Run,
) -> None:
    # Given the account has the collector
    simulator.add_collector(COLLECTOR)
    # When a limit is set for the deployed stack
    code, out, err = run_cli(
        "--stack", deployed, "thresholds", "set", "--collector", COLLECTOR, "max_fails=7"
    )
    # Then the deployed override document holds it, beside what it had
    assert code == 0, err
    assert "Written to SSM parameter" in out
    value = stack.client("ssm").get_parameter(Name=f"/{deployed}/thresholds")["Parameter"]
    assert json.loads(value["Value"])["collectors"][COLLECTOR] == {
        "min_success_rate": 0.4,
        "max_fails": 7,
    }


# ---- an id the account does not have ----------------------------------------------------------
LISTED = "c_m9im5n7v82p2y35la"
TYPO = "c_m9im5n7v82p2y35al"


def test_thresholds_set_refuses_a_collector_the_account_does_not_have(
    overrides_file: Path, simulator: BrightDataSimulator, run_cli: Run
) -> None:
    # Given an account whose collector ends in ...la
    simulator.add_collector(LISTED, "Amazon products")
    before = overrides_file.read_text(encoding="utf-8")
    # When a limit is set for ...al
    code, out, err = run_cli("thresholds", "set", "--collector", TYPO, "min_success_rate=0.8")
    # Then it is refused, saying why and what was meant, and nothing is written
    assert (code, out) == (2, "")
    assert err.startswith("job-alerts: error: ")
    assert f"{TYPO} is not one of this account's collectors" in err
    assert f"did you mean {LISTED} (Amazon products)?" in err
    assert "--force" in err
    assert overrides_file.read_text(encoding="utf-8") == before
    assert simulator.count("collectors_list") == 1
    # When --force is given / Then it is written, with a warning saying the same
    code, out, err = run_cli(
        "thresholds", "set", "--collector", TYPO, "min_success_rate=0.8", "--force"
    )
    assert code == 0, err
    assert f"job-alerts: warning: {TYPO} is not one of this account's collectors" in err
    assert f"did you mean {LISTED}" in err
    assert "Written to THRESHOLDS_FILE" in out
    written = json.loads(overrides_file.read_text(encoding="utf-8"))
    assert written["collectors"][TYPO] == {"min_success_rate": 0.8}


def test_thresholds_set_of_a_listed_collector_warns_of_nothing(
    overrides_file: Path, run_cli: Run
) -> None:
    code, out, err = run_cli("thresholds", "set", "--collector", COLLECTOR, "max_fails=4")
    assert (code, err) == (0, "")
    assert "Written to THRESHOLDS_FILE" in out


@pytest.mark.parametrize(
    ("fault", "answered"), [("forbidden", "403"), ("unauthorized", "401")], ids=["403", "401"]
)
def test_thresholds_set_refuses_when_the_listing_cannot_be_read(
    fault: str, answered: str, overrides_file: Path, simulator: BrightDataSimulator, run_cli: Run
) -> None:
    # Given a collectors listing Bright Data refuses
    simulator.inject("collectors_list", fault, times=None)
    before = overrides_file.read_text(encoding="utf-8")
    # When a limit is set / Then it is refused rather than guessed, saying why
    code, out, err = run_cli("thresholds", "set", "--collector", COLLECTOR, "max_fails=4")
    assert (code, out) == (2, "")
    assert f"whether {COLLECTOR} is one of this account's collectors cannot be told" in err
    assert "/dca/collectors_list" in err and answered in err
    assert "--force" in err
    assert overrides_file.read_text(encoding="utf-8") == before
    # When --force is given / Then it is written, with a warning
    code, out, err = run_cli(
        "thresholds", "set", "--collector", COLLECTOR, "max_fails=4", "--force"
    )
    assert code == 0, err
    assert "job-alerts: warning: whether" in err
    written = json.loads(overrides_file.read_text(encoding="utf-8"))
    assert written["collectors"][COLLECTOR] == {"max_fails": 4}


def test_thresholds_unset_of_an_unknown_id_reads_no_listing(
    tmp_path: Path,
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    run_cli: Run,
) -> None:
    # Given an override for an id the account does not have (written before the check existed)
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"collectors": {TYPO: {"max_fails": 3}}}), encoding="utf-8")
    monitor_env(THRESHOLDS_FILE=str(path))
    # When it is unset / Then it goes, and Bright Data is not asked
    code, out, err = run_cli("thresholds", "unset", "--collector", TYPO, "max_fails")
    assert code == 0, err
    assert json.loads(path.read_text(encoding="utf-8"))["collectors"] == {}
    assert simulator.count("collectors_list") == 0
