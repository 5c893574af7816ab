"""The Bright Data simulator itself, spoken to with a plain HTTP client: the answers the
client and the monitor rely on (400 without collector, paging, last_run, key casing, faults)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local.simulator import BrightDataSimulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sim-test-token"
NOW = datetime(2025, 4, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def bd_sim() -> Iterator[BrightDataSimulator]:
    with BrightDataSimulator(TOKEN, now=NOW) as simulator:
        yield simulator


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=2))
    yield pool
    pool.clear()


def call(
    http: urllib3.PoolManager,
    sim: BrightDataSimulator,
    path: str,
    *,
    method: str = "GET",
    token: str | None = TOKEN,
    body: Any = None,
) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    encoded = json.dumps(body).encode() if body is not None else None
    response = http.request(method, sim.url + path, headers=headers, body=encoded)
    try:
        payload = json.loads(response.data)
    except ValueError:
        payload = response.data
    return response.status, payload, response


def test_simulator_collector_jobs_without_collector_answers_400(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    status, payload, _ = call(http, bd_sim, "/dca/collector/jobs?from_date=2025-04-28")
    assert status == 400
    assert payload == {"error": "Missing collector parameter"}


@pytest.mark.parametrize("token", [None, "wrong"])
def test_simulator_refuses_a_missing_or_wrong_token(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager, token: str | None
) -> None:
    status, payload, _ = call(http, bd_sim, "/dca/collectors_list", token=token)
    assert status == 401
    assert "error" in payload
    assert bd_sim.count("collectors_list") == 1


def test_simulator_collector_jobs_pages_with_limit_capped_at_500(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given 620 jobs of one collector today
    for i in range(620):
        bd_sim.add_job(f"j_{i:04d}", "c_a", "done", created=NOW - timedelta(seconds=i))
    base = "/dca/collector/jobs?collector=c_a&from_date=2025-04-28&to_date=2025-04-28"
    # When asked for 1000 at once, then for the rest
    _, first, _ = call(http, bd_sim, base + "&limit=1000&sort_asc=-1")
    _, second, _ = call(http, bd_sim, base + "&limit=500&offset=500")
    _, default, _ = call(http, bd_sim, base)
    # Then pages hold at most 500, newest first, and the default page size is 50
    assert (first["total"], first["limit"], len(first["data"])) == (620, 500, 500)
    assert first["data"][0]["id"] == "j_0000"
    assert len(second["data"]) == 120
    assert second["data"][-1]["id"] == "j_0619"
    assert len(default["data"]) == 50
    row = first["data"][0]
    assert set(row) >= {
        "id", "status", "queued", "started", "finished", "inputs", "page_loads",
        "total_pages", "failed_pages", "data_lines", "expired",
    }  # fmt: skip


def test_simulator_collector_jobs_filters_by_created_day(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.add_job("j_today", "c_a", "done", created=NOW)
    bd_sim.add_job("j_old", "c_a", "done", created=NOW - timedelta(days=3))
    _, payload, _ = call(
        http, bd_sim, "/dca/collector/jobs?collector=c_a&from_date=2025-04-26&to_date=2025-04-28"
    )
    assert [row["id"] for row in payload["data"]] == ["j_today"]


def test_simulator_last_run_is_the_newest_job_and_can_be_omitted(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given two jobs, the newer one started at 11:30
    bd_sim.add_collector("c_a", "Alpha")
    bd_sim.add_job("j_1", "c_a", "done", created=NOW - timedelta(hours=3))
    bd_sim.add_job(
        "j_2",
        "c_a",
        "running",
        created=NOW - timedelta(hours=1),
        started=NOW - timedelta(minutes=30),
    )
    _, payload, _ = call(http, bd_sim, "/dca/collectors_list")
    assert payload["data"] == [
        {"id": "c_a", "name": "Alpha", "active": True, "last_run": "2025-04-28T11:30:00.000Z"}
    ]
    # When the account does not give last_run
    bd_sim.collector_last_run = False
    _, payload, _ = call(http, bd_sim, "/dca/collectors_list")
    assert "last_run" not in payload["data"][0]


@pytest.mark.parametrize(
    ("key_case", "keys"),
    [
        ("upper", {"Id", "Status", "Fails", "Success_rate", "Job_time", "Queue_time"}),
        ("lower", {"id", "status", "fails", "success_rate", "job_time", "queue_time"}),
    ],
)
def test_simulator_log_uses_the_requested_key_casing(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager, key_case: str, keys: set[str]
) -> None:
    bd_sim.add_job(
        "j_x", "c_a", "done", inputs=4, success=3, fails=1, key_case=key_case,
        created=NOW - timedelta(minutes=10), started=NOW - timedelta(minutes=9),
        finished=NOW - timedelta(minutes=1),
    )  # fmt: skip
    status, payload, _ = call(http, bd_sim, "/dca/log/j_x")
    assert status == 200
    assert keys <= set(payload)
    lower = {k.lower(): v for k, v in payload.items()}
    assert lower["success_rate"] == 0.75
    assert lower["job_time"] == 8 * 60 * 1000
    assert lower["queue_time"] == 60 * 1000


def test_simulator_advance_moves_a_job_to_done(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given a queued job
    bd_sim.add_job("j_x", "c_a", "queued", inputs=10, created=NOW)
    _, queued, _ = call(http, bd_sim, "/dca/log/j_x")
    # When it starts, then (5 minutes later) finishes with 2 failures
    bd_sim.tick(60)
    assert bd_sim.advance("j_x") == "running"
    _, running, _ = call(http, bd_sim, "/dca/log/j_x")
    bd_sim.tick(300)
    assert bd_sim.advance("j_x", fails=2) == "done"
    _, done, _ = call(http, bd_sim, "/dca/log/j_x")
    # Then finished appears only when done, with the counts
    assert queued["Status"] == "queued"
    assert "started" not in queued
    assert running["Status"] == "running"
    assert "finished" not in running
    assert (done["Status"], done["Success"], done["Fails"], done["Lines"]) == ("done", 8, 2, 8)
    assert done["finished"] == "2025-04-28T12:06:00.000Z"
    assert done["Job_time"] == 300_000


def test_simulator_removed_job_answers_404(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.add_job("j_x", "c_a", "done")
    bd_sim.remove_job("j_x")
    for path in ("/dca/log/j_x", "/dca/jobs/j_x/hp_errors"):
        status, payload, _ = call(http, bd_sim, path)
        assert status == 404
        assert payload == {"error": "Job expired"}


def test_simulator_rerun_creates_a_queued_job_of_the_failed_inputs(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, success=7, fails=3)
    status, payload, _ = call(
        http, bd_sim, "/dca/jobs/j_x/rerun", method="POST", body={"failed_only": 1}
    )
    assert status == 200
    _, log, _ = call(http, bd_sim, f"/dca/log/{payload['collection_id']}")
    assert (log["Status"], log["Inputs"], log["Collector"]) == ("queued", 3, "c_a")


@pytest.mark.parametrize(
    ("body", "inputs"),
    [({"failed_only": 1}, 3), ({"failed_only": 0}, 10), ({}, 10), (None, 10)],
    ids=["failed-only", "failed-only-0", "empty-object", "no-body"],
)
def test_simulator_rerun_takes_failed_or_all_inputs_and_records_what_it_reruns(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager, body: Any, inputs: int
) -> None:
    # Given a job of c_a that failed 3 of its 10 inputs
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, success=7, fails=3, template="t_1")
    # When it is re-run
    status, payload, _ = call(http, bd_sim, "/dca/jobs/j_x/rerun", method="POST", body=body)
    # Then one new job of the same collector, the rerun of j_x, with the inputs asked for
    assert status == 200
    new_id = payload["collection_id"]
    assert payload["start_eta"] == "2025-04-28T12:00:30.000Z"
    assert bd_sim.reruns_of("j_x") == [new_id]
    assert bd_sim.job_ids("c_a") == ["j_x", new_id]
    _, log, _ = call(http, bd_sim, f"/dca/log/{new_id}")
    assert (log["Inputs"], log["Template"]) == (inputs, "t_1")
    assert bd_sim.count("rerun") == 1
    assert bd_sim.count("rerun", job_id="j_x", method="POST") == 1


def test_simulator_rerun_job_settles_as_the_test_advances_it(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given the rerun of the 4 failed inputs of j_x
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, success=6, fails=4)
    _, payload, _ = call(
        http, bd_sim, "/dca/jobs/j_x/rerun", method="POST", body={"failed_only": 1}
    )
    new_id = payload["collection_id"]
    # When it starts after 30 s and settles 2 minutes later with 3 of its 4 inputs recovered
    bd_sim.tick(30)
    assert bd_sim.advance(new_id) == "running"
    bd_sim.tick(120)
    assert bd_sim.advance(new_id, fails=1) == "done"
    # Then its log tells that outcome, and the original job is unchanged
    _, log, _ = call(http, bd_sim, f"/dca/log/{new_id}")
    assert (log["Status"], log["Success"], log["Fails"], log["Job_time"]) == ("done", 3, 1, 120_000)
    _, original, _ = call(http, bd_sim, "/dca/log/j_x")
    assert (original["Success"], original["Fails"]) == (6, 4)


@pytest.mark.parametrize(
    ("how", "error"), [("unknown", "Job not found"), ("removed", "Job expired")]
)
def test_simulator_rerun_of_a_missing_job_answers_404_and_starts_nothing(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager, how: str, error: str
) -> None:
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, fails=3)
    if how == "removed":
        bd_sim.remove_job("j_x")
    job_id = "j_x" if how == "removed" else "j_nobody"
    status, payload, _ = call(http, bd_sim, f"/dca/jobs/{job_id}/rerun", method="POST")
    assert (status, payload) == (404, {"error": error})
    assert bd_sim.reruns_of(job_id) == []
    assert bd_sim.count("rerun") == 1


@pytest.mark.parametrize(
    ("kind", "params", "status"),
    [
        ("status", {"code": 503}, 503),
        ("rate_limit", {"retry_after": 5}, 429),
        ("unauthorized", {}, 401),
        ("not_found", {}, 404),
        ("forbidden", {}, 403),
        ("malformed", {}, 200),
    ],
)
def test_simulator_rerun_fault_answers_without_starting_a_job(
    bd_sim: BrightDataSimulator,
    http: urllib3.PoolManager,
    kind: str,
    params: dict[str, Any],
    status: int,
) -> None:
    # Given a fault on the rerun endpoint
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, fails=3)
    bd_sim.inject("rerun", kind, **params)
    # When a rerun is asked for / Then the fault answers, no job starts, the request counts
    answered, _, _ = call(
        http, bd_sim, "/dca/jobs/j_x/rerun", method="POST", body={"failed_only": 1}
    )
    assert answered == status
    assert bd_sim.reruns_of("j_x") == []
    assert bd_sim.count("rerun") == 1


def test_simulator_rerun_with_a_stall_starts_the_job_before_answering(
    bd_sim: BrightDataSimulator,
) -> None:
    # Given a rerun whose answer stalls past the client's read timeout
    bd_sim.add_job("j_x", "c_a", "done", inputs=10, fails=3)
    bd_sim.inject("rerun", "stall", seconds=2)
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=0.2))
    # When asked for / Then the client times out, yet the job was started: the case a client
    # must never retry
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        pool.request(
            "POST",
            bd_sim.url + "/dca/jobs/j_x/rerun",
            headers={"Authorization": f"Bearer {TOKEN}"},
            body=b'{"failed_only": 1}',
        )
    assert len(bd_sim.reruns_of("j_x")) == 1
    pool.clear()


def test_simulator_faults_are_consumed_per_endpoint_and_job(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given a 503 twice for j_a only, and a 429 with Retry-After once on any endpoint
    bd_sim.add_job("j_a", "c_a", "done")
    bd_sim.add_job("j_b", "c_a", "done")
    bd_sim.inject("log", "status", code=503, times=2, job_id="j_a")
    bd_sim.inject("*", "rate_limit", retry_after=7)
    # When requests arrive
    statuses = [call(http, bd_sim, path)[0] for path in ("/dca/log/j_b",) + ("/dca/log/j_a",) * 3]
    # Then the first fault that matches decides, and each runs out
    assert statuses == [429, 503, 503, 200]
    assert bd_sim.count("log", job_id="j_a") == 3
    assert bd_sim.count("/dca/log/{id}") == 4
    assert [r.status for r in bd_sim.requests] == [429, 503, 503, 200]
    bd_sim.reset_counts()
    assert bd_sim.count() == 0


def test_simulator_rate_limit_sends_retry_after(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "rate_limit", retry_after=7)
    status, _, response = call(http, bd_sim, "/dca/collectors_list")
    assert status == 429
    assert response.headers["Retry-After"] == "7"


def test_simulator_latency_delays_answers(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "latency", seconds=0.2)
    started = time.monotonic()
    status, _, _ = call(http, bd_sim, "/dca/collectors_list")
    assert status == 200
    assert time.monotonic() - started >= 0.2


def test_simulator_reset_closes_without_an_answer(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "reset")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(http, bd_sim, "/dca/collectors_list")
    assert bd_sim.requests[0].status is None


def test_simulator_stop_releases_stalled_requests_quickly() -> None:
    # Given a request stalled for a minute
    simulator = BrightDataSimulator(TOKEN).start()
    simulator.inject("collectors_list", "stall", seconds=60)
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=0.2))
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        pool.request("GET", simulator.url + "/dca/collectors_list")
    # When stopped / Then it does not wait for the stall
    started = time.monotonic()
    simulator.stop()
    assert time.monotonic() - started < 2


def test_simulator_trickle_sends_the_body_one_byte_at_a_time(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    # Given a trickle of one byte every 50 ms over a 6-byte body
    bd_sim.add_job("j_x", "c_a", "done")
    bd_sim.inject("log", "trickle", seconds=0.05, body='{"a":1')
    started = time.monotonic()
    # When the log is asked for
    response = http.request(
        "GET",
        bd_sim.url + "/dca/log/j_x",
        headers={"Authorization": f"Bearer {TOKEN}"},
        preload_content=False,
    )
    head_after = time.monotonic() - started
    body = response.read()
    # Then the head comes at once, announcing the length, and the body takes a pause per byte
    assert response.status == 200
    assert response.headers["Content-Length"] == "6"
    assert head_after < 0.2
    assert body == b'{"a":1'
    assert time.monotonic() - started >= 0.3
    assert bd_sim.requests[0].status == 200


def test_simulator_trickle_without_body_sends_the_normal_answer(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.add_collector("c_a", "Alpha")
    bd_sim.inject("collectors_list", "trickle", seconds=0.001)
    status, payload, _ = call(http, bd_sim, "/dca/collectors_list")
    assert status == 200
    assert payload["data"][0]["id"] == "c_a"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_simulator_huge_sends_valid_json_of_the_size_asked(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager, chunked: bool
) -> None:
    bd_sim.inject("log", "huge", size=300_000, chunked=chunked)
    status, payload, response = call(http, bd_sim, "/dca/log/j_any")
    assert status == 200
    assert len(response.data) == 300_000
    assert (payload["Id"], payload["Status"]) == ("j_any", "done")
    assert ("Content-Length" in response.headers) is not chunked
    assert (response.headers.get("Transfer-Encoding") == "chunked") is chunked


def test_simulator_html_answers_a_maintenance_page(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "html")
    status, payload, response = call(http, bd_sim, "/dca/collectors_list")
    assert status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert payload.startswith(b"<!DOCTYPE html>")
    assert b"Maintenance" in payload


def test_simulator_html_can_come_with_another_status(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "html", code=502, body="<html>Bad gateway</html>")
    status, payload, _ = call(http, bd_sim, "/dca/collectors_list")
    assert (status, payload) == (502, b"<html>Bad gateway</html>")


def test_simulator_forbidden_answers_403_as_text(
    bd_sim: BrightDataSimulator, http: urllib3.PoolManager
) -> None:
    bd_sim.inject("collectors_list", "forbidden")
    status, payload, response = call(http, bd_sim, "/dca/collectors_list")
    assert status == 403
    assert response.headers["Content-Type"].startswith("text/plain")
    assert payload == b"Automation not allowed"
    assert bd_sim.requests[0].status == 403


def test_simulator_stop_releases_a_trickling_answer_quickly() -> None:
    # Given an answer trickling one byte a minute
    simulator = BrightDataSimulator(TOKEN).start()
    simulator.inject("collectors_list", "trickle", seconds=60)
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=0.2))
    response = pool.request(
        "GET",
        simulator.url + "/dca/collectors_list",
        headers={"Authorization": f"Bearer {TOKEN}"},
        preload_content=False,
    )
    assert response.status == 200
    # When stopped / Then it does not wait for the trickle
    started = time.monotonic()
    simulator.stop()
    assert time.monotonic() - started < 2
    pool.clear()


def test_simulator_main_on_a_taken_port_says_so_in_one_line_and_exits_2(
    bd_sim: BrightDataSimulator,
) -> None:
    # Given a port already taken (by a running simulator)
    port = bd_sim.port
    # When another simulator is started on it from the command line
    result = subprocess.run(
        [sys.executable, "-m", "local.simulator", "--port", str(port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # Then one clear line naming the port, exit status 2, no traceback
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0]
    assert "in use" in lines[0]
