"""The Bright Data client against the local simulator over real HTTP: retries, budgets (bodies
included), the body-size cap, typed errors (BadResponse reasons, 401 vs 403), paging, secrecy of
the token and refusal of hostile ids."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from job_alerts.brightdata import (
    BadResponse,
    BadResponseReason,
    BrightDataClient,
    BrightDataError,
    Endpoint,
    Forbidden,
    InvalidId,
    NotFound,
    RateLimited,
    RerunStarted,
    ResponseTooLarge,
    Transient,
    Unauthorized,
)
from local.simulator import ENDPOINTS, BrightDataSimulator
from tests.support import closed_port_url, exception_texts

pytestmark = pytest.mark.integration

TOKEN = "tok-SECRET-7f3a9c1e5b"  # recognisable, so a leak is easy to spot
BASE = 0.01  # backoff base: sleeps are recorded, not slept, but keep them small anyway
TODAY = date(2025, 4, 28)
NOW = datetime(2025, 4, 28, 18, 0, tzinfo=UTC)


class RecordingSleep:
    """Stands in for time.sleep: remembers the waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)


@pytest.fixture
def bd_sim() -> Iterator[BrightDataSimulator]:
    with BrightDataSimulator(TOKEN, now=NOW) as simulator:
        simulator.add_collector("c_shop", "Shop")
        simulator.add_job(
            "j_done",
            "c_shop",
            "done",
            inputs=10,
            success=8,
            fails=2,
            lines=80,
            created=NOW - timedelta(hours=1),
            errors=[{"url": f"https://example.com/{i}", "error": "Timeout", "consumer": "x"}
                    for i in range(3)],
        )  # fmt: skip
        yield simulator


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(
    bd_sim: BrightDataSimulator, sleeps: RecordingSleep
) -> Iterator[Callable[..., BrightDataClient]]:
    clients: list[BrightDataClient] = []

    def make(**overrides: Any) -> BrightDataClient:
        options: dict[str, Any] = {
            "connect_timeout": 1.0,
            "read_timeout": 2.0,
            "max_attempts": 4,
            "call_budget_seconds": 10.0,
            "backoff_base": BASE,
            "backoff_jitter": 0.0,
            "sleep": sleeps,
            "rng": lambda: 0.0,
        }
        options.update(overrides)
        token = options.pop("token", TOKEN)
        client = BrightDataClient(options.pop("base_url", bd_sim.url), token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- happy paths -----------------------------------------------------------------------------


def test_client_get_log_passes_both_key_casings_through(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given one job answering capitalised keys and one answering lowercase keys
    bd_sim.add_job("j_lower", "c_shop", "done", inputs=4, success=4, key_case="lower")
    client = make_client()
    # When both logs are read / Then each comes back exactly as the API sent it
    upper, lower = client.get_log("j_done"), client.get_log("j_lower")
    assert upper["Status"] == "done"
    assert upper["Fails"] == 2
    assert upper["Success_rate"] == 0.8
    assert lower["status"] == "done"
    assert lower["success"] == 4
    assert "Status" not in lower


def test_client_list_jobs_reads_every_page_of_500(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given 1203 jobs today plus one from last week
    for i in range(1202):
        bd_sim.add_job(f"j_p{i:04d}", "c_shop", "done", created=NOW - timedelta(seconds=i + 1))
    bd_sim.add_job("j_old", "c_shop", "done", created=NOW - timedelta(days=7))
    bd_sim.reset_counts()
    # When today's jobs are listed
    jobs = make_client().list_jobs("c_shop", TODAY, TODAY)
    # Then all 1203 come in 3 requests, newest first, none twice, last week's left out
    ids = [job["id"] for job in jobs]
    assert len(ids) == len(set(ids)) == 1203
    assert bd_sim.count("collector_jobs") == 3
    assert ids[0] == "j_p0000"
    assert "j_old" not in ids
    assert all(r.status == 200 for r in bd_sim.requests)


def test_client_list_jobs_sends_collector_dates_and_sort(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a job created yesterday
    bd_sim.add_job("j_yday", "c_shop", "done", created=NOW - timedelta(days=1))
    client = make_client()
    # When listing a window that covers only yesterday, then only today
    yesterday = client.list_jobs("c_shop", TODAY - timedelta(days=1), TODAY - timedelta(days=1))
    today = client.list_jobs("c_shop", TODAY, TODAY)
    # Then the day filter of the API decides
    assert [job["id"] for job in yesterday] == ["j_yday"]
    assert [job["id"] for job in today] == ["j_done"]


def test_client_list_jobs_rejects_a_reversed_window(
    make_client: Callable[..., BrightDataClient],
) -> None:
    with pytest.raises(ValueError, match="after"):
        make_client().list_jobs("c_shop", TODAY, TODAY - timedelta(days=1))


def test_client_list_collectors_follows_pages(
    make_client: Callable[..., BrightDataClient],
) -> None:
    # Given an account with 5 collectors answered 2 per page
    with BrightDataSimulator(TOKEN, now=NOW, collectors_page_size=2) as paged:
        for i in range(5):
            paged.add_collector(f"c_{i}", f"Collector {i}")
        # When listed
        collectors = make_client(base_url=paged.url).list_collectors()
        # Then all come, in 3 requests
        assert [c["id"] for c in collectors] == [f"c_{i}" for i in range(5)]
        assert paged.count("collectors_list") == 3


def test_client_get_errors_caps_at_limit_and_tolerates_none(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.add_job("j_clean", "c_shop", "done")
    client = make_client()
    assert len(client.get_errors("j_done")) == 3
    assert len(client.get_errors("j_done", limit=2)) == 2
    assert client.get_errors("j_clean") == []
    # Given an answer without the list at all / Then still no error
    bd_sim.inject("hp_errors", "wrong_type", body={})
    assert client.get_errors("j_done") == []


def test_client_rerun_asks_for_failed_inputs_only(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # When the 2 failed inputs of j_done are re-run
    started = make_client().rerun("j_done")
    # Then a new queued job with 2 inputs exists, the rerun of j_done, after exactly one request
    assert isinstance(started, RerunStarted)
    assert started.job_id.startswith("j_")
    assert started.start_eta == "2025-04-28T18:00:30.000Z"
    assert bd_sim.reruns_of("j_done") == [started.job_id]
    assert make_client().get_log(started.job_id)["Inputs"] == 2
    assert bd_sim.count("rerun", method="POST") == 1


def test_client_rerun_of_every_input_sends_no_body(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # When all 10 inputs of j_done are re-run
    started = make_client().rerun("j_done", failed_only=False)
    # Then the new job has all 10
    assert make_client().get_log(started.job_id)["Inputs"] == 10
    assert bd_sim.count("rerun", job_id="j_done") == 1


def test_client_rerun_job_turns_out_as_the_test_says(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a rerun of the 2 failed inputs of j_done
    client = make_client()
    new_id = client.rerun("j_done").job_id
    # When it starts a minute later and settles 4 minutes after that with 1 input failed
    bd_sim.tick(60)
    bd_sim.advance(new_id)
    bd_sim.tick(240)
    bd_sim.advance(new_id, fails=1)
    # Then its log says so
    log = client.get_log(new_id)
    assert (log["Status"], log["Inputs"], log["Success"], log["Fails"]) == ("done", 2, 1, 1)
    assert log["Job_time"] == 240_000


def test_client_token_callable_is_resolved_once_and_lazily(
    make_client: Callable[..., BrightDataClient],
) -> None:
    # Given a token source that counts its calls
    calls: list[int] = []

    def fetch_token() -> str:
        calls.append(1)
        return TOKEN + "\n"  # SSM values may carry a trailing newline

    # When the client is built, nothing is fetched; after two calls, one fetch
    client = make_client(token=fetch_token)
    assert calls == []
    client.get_log("j_done")
    client.get_log("j_done")
    assert calls == [1]


def test_client_shared_by_16_threads_counts_every_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    client = make_client(pool_maxsize=4)
    with ThreadPoolExecutor(16) as pool:
        logs = list(pool.map(lambda _: client.get_log("j_done"), range(200)))
    assert all(log["Id"] == "j_done" for log in logs)
    assert client.stats.snapshot()["requests"] == {Endpoint.LOG.value: 200}
    assert bd_sim.count("log") == 200


# -- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_client_retries_5xx_then_succeeds(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
    code: int,
) -> None:
    # Given two server errors before a good answer
    bd_sim.inject("log", "status", code=code, times=2)
    client = make_client()
    # When the log is read
    log = client.get_log("j_done")
    # Then it arrives on the third request after backoffs of base, 2*base
    assert log["Id"] == "j_done"
    assert bd_sim.count("log", job_id="j_done") == 3
    assert sleeps.calls == pytest.approx([BASE, 2 * BASE])
    assert client.stats.snapshot()["retries"] == {Endpoint.LOG.value: 2}


def test_client_5xx_forever_raises_transient_after_max_attempts(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.inject("log", "status", code=503, times=None)
    client = make_client(max_attempts=3)
    with pytest.raises(Transient) as caught:
        client.get_log("j_done")
    assert bd_sim.count("log") == 3
    assert caught.value.status == 503
    assert caught.value.endpoint == "/dca/log/{id}"
    assert caught.value.job_id == "j_done"
    assert client.stats.snapshot()["errors"] == {"transient": 1}


def test_client_429_with_retry_after_seconds_waits_that_long(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    bd_sim.inject("log", "rate_limit", retry_after=1)
    assert make_client().get_log("j_done")["Id"] == "j_done"
    assert sleeps.calls == [1]
    assert bd_sim.count("log") == 2


def test_client_429_with_retry_after_http_date_waits_until_then(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    # Given a Retry-After that names a moment about 3 s ahead (HTTP-dates have 1 s resolution)
    bd_sim.inject("log", "rate_limit", retry_after=datetime.now(UTC) + timedelta(seconds=3))
    assert make_client().get_log("j_done")["Id"] == "j_done"
    assert len(sleeps.calls) == 1
    assert 1.0 < sleeps.calls[0] <= 3.5


def test_client_429_without_retry_after_backs_off(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    bd_sim.inject("log", "rate_limit", retry_after=None, times=2)
    assert make_client().get_log("j_done")["Id"] == "j_done"
    assert sleeps.calls == pytest.approx([BASE, 2 * BASE])


def test_client_unreadable_retry_after_falls_back_to_backoff(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    bd_sim.inject("log", "rate_limit", retry_after="soon, maybe")
    assert make_client().get_log("j_done")["Id"] == "j_done"
    assert sleeps.calls == pytest.approx([BASE])


def test_client_retry_after_beyond_budget_raises_rate_limited_at_once(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    # Given a Retry-After of 2 minutes and a call budget of 5 s
    bd_sim.inject("log", "rate_limit", retry_after=120)
    started = time.monotonic()
    # When the log is read / Then RateLimited, without waiting, after one request
    with pytest.raises(RateLimited) as caught:
        make_client(call_budget_seconds=5).get_log("j_done")
    assert time.monotonic() - started < 2
    assert caught.value.retry_after == 120
    assert caught.value.status == 429
    assert sleeps.calls == []
    assert bd_sim.count("log") == 1


def test_client_429_forever_raises_rate_limited_after_max_attempts(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    bd_sim.inject("log", "rate_limit", retry_after=1, times=None)
    with pytest.raises(RateLimited) as caught:
        make_client(max_attempts=3).get_log("j_done")
    assert caught.value.retry_after == 1
    assert bd_sim.count("log") == 3
    assert sleeps.calls == [1, 1]


def test_client_backoff_respects_the_budget_with_real_sleep(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given real sleeping, a 0.4 s backoff base and a 1 s budget, against endless 503s
    bd_sim.inject("log", "status", code=503, times=None)
    client = make_client(sleep=time.sleep, backoff_base=0.4, call_budget_seconds=1.0)
    started = time.monotonic()
    # When the log is read / Then it gives up within the budget (0.4 s waited, 0.8 s would not fit)
    with pytest.raises(Transient):
        client.get_log("j_done")
    assert time.monotonic() - started < 1.5
    assert bd_sim.count("log") == 2


def test_client_connection_reset_is_retried_for_get(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.inject("log", "reset")
    assert make_client().get_log("j_done")["Id"] == "j_done"
    assert bd_sim.count("log") == 2


def test_client_read_stall_raises_transient_after_timeouts(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a server that stalls longer than the read timeout, every time
    bd_sim.inject("log", "stall", seconds=3, times=None)
    started = time.monotonic()
    with pytest.raises(Transient, match="read timed out") as caught:
        make_client(read_timeout=0.3, max_attempts=2).get_log("j_done")
    # Then both attempts timed out quickly
    assert time.monotonic() - started < 2
    assert bd_sim.count("log") == 2
    assert caught.value.status is None


def test_client_connection_refused_raises_transient(
    make_client: Callable[..., BrightDataClient], sleeps: RecordingSleep
) -> None:
    # Given a port nobody listens on
    client = make_client(base_url=closed_port_url(), max_attempts=3)
    with pytest.raises(Transient, match="connection failed"):
        client.get_log("j_done")
    assert client.stats.snapshot()["retries_total"] == 2
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize(
    ("kind", "params"),
    [("status", {"code": 503}), ("reset", {}), ("stall", {"seconds": 3})],
)
def test_client_rerun_is_not_retried_once_sent(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    kind: str,
    params: dict[str, Any],
) -> None:
    # Given a rerun that fails after the request reached the server
    bd_sim.inject("rerun", kind, **params)
    # When re-run / Then Transient after one request: a second POST could start a second job
    with pytest.raises(Transient):
        make_client(read_timeout=0.3).rerun("j_done")
    assert bd_sim.count("rerun") == 1
    # at most the one job the server may have started before the answer was lost
    assert len(bd_sim.job_ids("c_shop")) <= 2


def test_client_rerun_429_raises_rate_limited_without_waiting(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    # Given a rerun refused as rate limited, with a Retry-After that would fit the budget
    bd_sim.inject("rerun", "rate_limit", retry_after=1)
    # When re-run / Then RateLimited at once, after one request: the caller may try later
    with pytest.raises(RateLimited) as caught:
        make_client().rerun("j_done")
    assert caught.value.retry_after == 1
    assert (caught.value.endpoint, caught.value.job_id) == (Endpoint.RERUN, "j_done")
    assert sleeps.calls == []
    assert bd_sim.count("rerun") == 1
    assert bd_sim.reruns_of("j_done") == []


def test_client_rerun_is_retried_when_the_connection_could_not_be_opened(
    make_client: Callable[..., BrightDataClient], sleeps: RecordingSleep
) -> None:
    # Given a port nobody listens on: nothing can have been sent
    client = make_client(base_url=closed_port_url(), max_attempts=3)
    # When re-run / Then it was tried again, like any call, before giving up
    with pytest.raises(Transient, match="connection failed"):
        client.rerun("j_done")
    assert client.stats.snapshot()["retries"] == {Endpoint.RERUN.value: 2}
    assert len(sleeps.calls) == 2


# -- errors that are never retried --------------------------------------------------------


def test_client_wrong_token_raises_unauthorized_after_one_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    with pytest.raises(Unauthorized) as caught:
        make_client(token="not-the-token").get_log("j_done")
    assert caught.value.status == 401
    assert bd_sim.count() == 1


def test_client_injected_401_raises_unauthorized_after_one_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.inject("collector_jobs", "unauthorized")
    with pytest.raises(Unauthorized):
        make_client().list_jobs("c_shop", TODAY, TODAY)
    assert bd_sim.count() == 1


@pytest.mark.parametrize("how", ["unknown", "removed", "injected"])
def test_client_missing_job_raises_not_found_after_one_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], how: str
) -> None:
    job_id = "j_nobody" if how == "unknown" else "j_done"
    if how == "removed":
        bd_sim.remove_job("j_done")
    if how == "injected":
        bd_sim.inject("log", "not_found", job_id="j_done")
    with pytest.raises(NotFound) as caught:
        make_client().get_log(job_id)
    assert (caught.value.status, caught.value.job_id) == (404, job_id)
    assert bd_sim.count("log") == 1


def test_client_other_4xx_raises_brightdata_error_with_server_text(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.inject(
        "collector_jobs", "status", code=400, body={"error": "Missing collector parameter"}
    )
    with pytest.raises(BrightDataError, match="Missing collector parameter") as caught:
        make_client().list_jobs("c_shop", TODAY, TODAY)
    assert caught.value.status == 400
    assert bd_sim.count() == 1


@pytest.mark.parametrize("endpoint", ["collectors_list", "log", "rerun"])
def test_client_403_raises_forbidden_naming_the_endpoint_and_the_answer(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], endpoint: str
) -> None:
    # Given an account for which Bright Data refuses one endpoint with a text answer
    bd_sim.inject(endpoint, "forbidden", body="Automation not allowed\r\nfor this\x1b account")
    client = make_client()
    # When it is called
    with pytest.raises(Forbidden) as caught:
        _calls(client)[endpoint]()
    # Then Forbidden (not Unauthorized: the token may work elsewhere), after one request, says
    # which endpoint, the status and Bright Data's words, escaped on one line
    error = caught.value
    assert not isinstance(error, Unauthorized)
    assert (error.kind, error.status, error.endpoint) == ("forbidden", 403, _endpoint(endpoint))
    message = str(error)
    assert ENDPOINTS[endpoint] in message
    assert "403" in message
    assert "Automation not allowed for this\\x1b account" in message
    assert message.isprintable()
    assert bd_sim.count(endpoint) == 1
    assert client.stats.snapshot()["errors"] == {"forbidden": 1}


def test_client_403_on_one_endpoint_leaves_the_others_working(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given an account whose collector listing is refused while the token works
    bd_sim.inject("collectors_list", "forbidden", times=None)
    client = make_client()
    with pytest.raises(Forbidden):
        client.list_collectors()
    # When a job is read with the same client / Then it works
    assert client.get_log("j_done")["Id"] == "j_done"


@pytest.mark.parametrize(
    ("kind", "params", "error_type", "status"),
    [
        ("unauthorized", {}, Unauthorized, 401),
        ("forbidden", {}, Forbidden, 403),
        ("not_found", {}, NotFound, 404),
        ("rate_limit", {"retry_after": 3600}, RateLimited, 429),
        ("status", {"code": 503}, Transient, 503),
        ("status", {"code": 418}, BrightDataError, 418),
        ("malformed", {}, BadResponse, 200),
        ("html", {}, BadResponse, 200),
        ("huge", {"size": 5_000}, ResponseTooLarge, 200),
        ("trickle", {"seconds": 0.2}, Transient, 200),
        ("stall", {"seconds": 3}, Transient, None),
        ("reset", {}, Transient, None),
    ],
)
def test_client_every_error_carries_its_endpoint_and_status(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    kind: str,
    params: dict[str, Any],
    error_type: type[BrightDataError],
    status: int | None,
) -> None:
    # Given the job log failing one way, every time
    bd_sim.inject("log", kind, times=None, **params)
    client = make_client(
        max_attempts=2, read_timeout=0.3, call_budget_seconds=1, max_body_bytes=4_096
    )
    # When it is read
    with pytest.raises(error_type) as caught:
        client.get_log("j_done")
    # Then the error names the Endpoint, the job and the HTTP status there was
    assert type(caught.value) is error_type
    assert caught.value.endpoint is Endpoint.LOG
    assert caught.value.job_id == "j_done"
    assert caught.value.status == status


def test_client_token_that_cannot_be_sent_names_the_endpoint(
    make_client: Callable[..., BrightDataClient],
) -> None:
    with pytest.raises(Unauthorized) as caught:
        make_client(token="").list_collectors()
    assert caught.value.endpoint is Endpoint.COLLECTORS_LIST
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("kind", "params", "error_type", "status"),
    [
        ("unauthorized", {}, Unauthorized, 401),
        ("forbidden", {}, Forbidden, 403),
        ("not_found", {}, NotFound, 404),
        ("status", {"code": 500}, Transient, 500),
        ("malformed", {}, BadResponse, 200),
        ("html", {}, BadResponse, 200),
    ],
)
def test_client_rerun_errors_are_typed_like_reads_and_never_retried(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    kind: str,
    params: dict[str, Any],
    error_type: type[BrightDataError],
    status: int,
) -> None:
    # Given the rerun endpoint failing one way, every time
    bd_sim.inject("rerun", kind, times=None, **params)
    client = make_client()
    # When re-run / Then the same typed error a read gets, after exactly one request
    with pytest.raises(error_type) as caught:
        client.rerun("j_done")
    assert type(caught.value) is error_type
    assert (caught.value.status, caught.value.endpoint) == (status, Endpoint.RERUN)
    assert caught.value.job_id == "j_done"
    assert bd_sim.count("rerun") == 1
    assert client.stats.snapshot()["errors"] == {error_type.kind: 1}


def test_client_rerun_of_an_unknown_job_raises_not_found(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    with pytest.raises(NotFound, match="not found") as caught:
        make_client().rerun("j_nobody")
    assert (caught.value.status, caught.value.job_id) == (404, "j_nobody")
    assert bd_sim.count("rerun") == 1
    assert bd_sim.job_ids() == ["j_done"]


@pytest.mark.parametrize(
    "new_id",
    [
        "../../dca/collectors_list",
        "j_abc?collector=c_x",
        "j_abc\r\nX-Injected: 1",
        "c_m9im5n7v82p2y35la",
        "j_" + "a" * 10_000,
        "",
        None,
        7,
        ["j_abc"],
    ],
)
def test_client_rerun_answer_with_a_hostile_new_id_raises_bad_response(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], new_id: Any
) -> None:
    # Given a rerun answered with something that is not a job id as the new job's id
    bd_sim.inject("rerun", "wrong_type", fields={"collection_id": new_id})
    # When re-run
    with pytest.raises(BadResponse) as caught:
        make_client().rerun("j_done")
    # Then BadResponse quoting it short, escaped and on one line; the POST was sent once
    error = caught.value
    assert (error.reason, error.status, error.endpoint) == (SHAPE, 200, Endpoint.RERUN)
    assert "'collection_id' is not a job id" in str(error)
    assert error.sample.startswith('"collection_id": ')
    assert len(error.sample) <= 120
    assert error.sample.isprintable()
    assert bd_sim.count("rerun") == 1


def test_client_rerun_answer_without_start_eta_still_names_the_new_job(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a rerun answered without a usable start_eta: the job started all the same
    bd_sim.inject("rerun", "wrong_type", body={"collection_id": "j_new1", "start_eta": 30})
    # When re-run / Then the new job is known, its start_eta is not
    assert make_client().rerun("j_done") == RerunStarted("j_new1", None)


# -- size cap and deadline of the body ----------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_huge_body_raises_too_large_without_holding_it(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], chunked: bool
) -> None:
    # Given a job log of 50 MB of valid JSON, announced or not, and the default 1 MiB cap
    bd_sim.inject("log", "huge", size=50_000_000, chunked=chunked)
    client = make_client(pool_maxsize=1)
    # When it is read, with memory traced
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as caught:
            client.get_log("j_done")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then ResponseTooLarge after one request, and the body was never held whole
    error = caught.value
    assert (error.kind, error.status, error.endpoint, error.limit) == (
        "too_large",
        200,
        Endpoint.LOG,
        1 << 20,
    )
    assert "1048576 bytes" in str(error)
    assert peak < 8 * (1 << 20)
    assert bd_sim.count("log") == 1
    assert client.stats.snapshot()["errors"] == {"too_large": 1}
    # And its connection went back to the pool (the only one there is): the next call works
    assert client.get_log("j_done")["Id"] == "j_done"


def test_client_body_just_under_the_cap_is_read(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    bd_sim.inject("log", "huge", size=10_000, chunked=True)
    log = make_client(max_body_bytes=10_000).get_log("j_done")
    assert log["Id"] == "j_done"
    assert len(log["padding"]) > 9_900


def test_client_trickling_body_ends_within_budget_plus_one_read_timeout(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a log whose body arrives one byte every 0.1 s (minutes in all), each byte well
    # within the 0.5 s read timeout, and a 1 s call budget
    bd_sim.inject("log", "trickle", seconds=0.1, times=None)
    client = make_client(read_timeout=0.5, call_budget_seconds=1.0)
    started = time.monotonic()
    # When it is read
    with pytest.raises(Transient, match="timed out") as caught:
        client.get_log("j_done")
    elapsed = time.monotonic() - started
    # Then the call ends as a timeout within the budget plus one read timeout, not retried
    assert 0.9 <= elapsed < 1.5
    assert caught.value.status == 200
    assert "1 s call budget" in str(caught.value)
    assert bd_sim.count("log") == 1
    assert client.stats.snapshot()["errors"] == {"transient": 1}


def test_client_slow_body_that_ends_in_time_is_read(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a short body trickling 20 ms a byte (about 0.3 s in all), and a 2 s budget
    bd_sim.inject("log", "trickle", seconds=0.02, body='{"Id": "j_done"}')
    # When it is read / Then it arrives whole
    assert make_client(read_timeout=0.5, call_budget_seconds=2.0).get_log("j_done") == {
        "Id": "j_done"
    }


def test_client_body_that_stops_mid_way_is_read_again_for_get(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    sleeps: RecordingSleep,
) -> None:
    # Given a log whose head arrives but whose body then pauses longer than the read timeout,
    # once, with time left in the budget
    bd_sim.inject("log", "trickle", seconds=1.0)
    client = make_client(read_timeout=0.3, call_budget_seconds=5.0)
    # When it is read / Then the GET was retried after the usual backoff and succeeded
    assert client.get_log("j_done")["Id"] == "j_done"
    assert bd_sim.count("log") == 2
    assert sleeps.calls == pytest.approx([BASE])
    assert client.stats.snapshot()["retries"] == {Endpoint.LOG.value: 1}


def test_client_rerun_whose_answer_stops_mid_way_is_not_sent_again(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a rerun whose answer pauses mid-body longer than the read timeout
    bd_sim.inject("rerun", "trickle", seconds=1.0)
    # When re-run / Then Transient after one request: the job may already have started
    with pytest.raises(Transient, match="read timed out") as caught:
        make_client(read_timeout=0.3).rerun("j_done")
    assert bd_sim.count("rerun") == 1
    assert caught.value.endpoint is Endpoint.RERUN


def test_client_stall_past_the_budget_is_cut_at_the_budget(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a server that answers after 3 s, a 5 s read timeout and a 1 s budget
    bd_sim.inject("log", "stall", seconds=3)
    started = time.monotonic()
    # When the log is read / Then the attempt's read timeout was cut to the budget
    with pytest.raises(Transient, match="read timed out"):
        make_client(read_timeout=5.0, call_budget_seconds=1.0).get_log("j_done")
    assert time.monotonic() - started < 1.5


# -- bad answers --------------------------------------------------------------------------


def _calls(client: BrightDataClient) -> dict[str, Callable[[], object]]:
    """One call of the client per simulator endpoint name."""
    return {
        "log": lambda: client.get_log("j_done"),
        "collector_jobs": lambda: client.list_jobs("c_shop", TODAY, TODAY),
        "hp_errors": lambda: client.get_errors("j_done"),
        "collectors_list": client.list_collectors,
        "rerun": lambda: client.rerun("j_done"),
    }


def _endpoint(name: str) -> Endpoint:
    """The client's Endpoint for a simulator endpoint name."""
    return Endpoint(ENDPOINTS[name])


HTML, NOT_JSON, EMPTY, SHAPE = (
    BadResponseReason.HTML,
    BadResponseReason.NOT_JSON,
    BadResponseReason.EMPTY,
    BadResponseReason.WRONG_SHAPE,
)


@pytest.mark.parametrize(
    ("endpoint", "kind", "params", "reason", "sample"),
    [
        ("log", "malformed", {}, NOT_JSON, '{"status": "done", "fails":'),
        ("log", "malformed", {"body": "<html>Bad gateway</html>"}, HTML, "<html>Bad gateway"),
        ("log", "html", {}, HTML, "<!DOCTYPE html> <html><head><title>Bright Data - Mainten"),
        ("log", "malformed", {"body": "Service Unavailable"}, NOT_JSON, "Service Unavailable"),
        ("log", "malformed", {"body": ""}, EMPTY, ""),
        ("log", "wrong_type", {"body": [{"Id": "j_done"}]}, SHAPE, '[{"Id": "j_done"}]'),
        ("log", "wrong_type", {"body": "done"}, SHAPE, '"done"'),
        ("collector_jobs", "wrong_type", {"fields": {"data": {"id": "j_1"}}}, SHAPE, '"data": {'),
        ("collector_jobs", "wrong_type", {"fields": {"data": ["j_1"]}}, SHAPE, '"data": ["j_1"]'),
        ("collector_jobs", "wrong_type", {"fields": {"total": "many"}}, SHAPE, '"total": "many"'),
        ("collector_jobs", "wrong_type", {"body": []}, SHAPE, "[]"),
        ("collector_jobs", "html", {}, HTML, "<!DOCTYPE html>"),
        ("hp_errors", "wrong_type", {"body": {"errors": "none"}}, SHAPE, '"errors": "none"'),
        ("hp_errors", "wrong_type", {"body": {"errors": [7]}}, SHAPE, '"errors": [7]'),
        ("collectors_list", "malformed", {}, NOT_JSON, '{"status"'),
        ("rerun", "wrong_type", {"body": ["j_x"]}, SHAPE, '["j_x"]'),
    ],
)
def test_client_bad_answer_raises_bad_response_with_reason_and_sample(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    endpoint: str,
    kind: str,
    params: dict[str, Any],
    reason: BadResponseReason,
    sample: str,
) -> None:
    # Given a 200 answer that cannot be used
    bd_sim.inject(endpoint, kind, **params)
    client = make_client()
    # When the call is made
    with pytest.raises(BadResponse) as caught:
        _calls(client)[endpoint]()
    # Then BadResponse says why and quotes what came back, after one request (no retry)
    error = caught.value
    assert (error.reason, error.status) == (reason, 200)
    assert error.sample.startswith(sample)
    assert error.endpoint is _endpoint(endpoint)
    assert bd_sim.count(endpoint) == 1
    assert client.stats.snapshot()["errors"] == {"bad_response": 1}


def test_client_pages_that_repeat_forever_raise_bad_response_paging(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a listing that promises 10 collectors but answers the same page whatever the offset
    page = {"total": 10, "data": [{"id": "c_1", "name": "One"}]}
    bd_sim.inject("collectors_list", "wrong_type", body=page, times=None)
    # When collectors are listed / Then BadResponse(paging) after the second page
    with pytest.raises(BadResponse, match="no progress") as caught:
        make_client().list_collectors()
    assert caught.value.reason is BadResponseReason.PAGING
    assert caught.value.sample == '{"total": 10, "offset": null, "limit": null}'
    assert bd_sim.count("collectors_list") == 2


def test_client_bad_response_sample_is_short_single_line_and_token_free(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a maintenance page that is long, multi-line, has control characters and echoes
    # the token near its start
    page = (
        f"<html>\n<body>\r\n\tDown for maintenance.\x1b[0m Your key {TOKEN} is fine.\u00e9\n"
        + "<p>sorry</p>\n" * 500
    )
    bd_sim.inject("log", "html", body=page)
    # When the log is read
    with pytest.raises(BadResponse) as caught:
        make_client().get_log("j_done")
    sample = caught.value.sample
    # Then the sample is one short printable line, redacted, fit to quote in an alert
    assert len(sample) <= 120
    assert sample.isascii()
    assert sample.isprintable()
    assert TOKEN not in sample
    assert "[redacted]" in sample
    assert sample.startswith("<html> <body> Down for maintenance.\\x1b[0m Your key [redacted]")
    for text in exception_texts(caught.value):
        assert TOKEN not in text


def test_client_wrong_field_types_pass_through_to_the_parser(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient]
) -> None:
    # Given a log whose Fails is a word: the client checks shape, joblog checks fields
    bd_sim.inject("log", "wrong_type", fields={"Fails": "many"})
    assert make_client().get_log("j_done")["Fails"] == "many"


# -- secrets and hostile input ------------------------------------------------------------


def _fail_in_every_way(bd_sim: BrightDataSimulator, endpoint: str) -> dict[str, Callable[[], None]]:
    def injected(kind: str, **params: Any) -> Callable[[], None]:
        return lambda: bd_sim.inject(endpoint, kind, times=None, **params)

    def echo_token() -> None:
        body = {"error": f"token Bearer {TOKEN} is not valid for {TOKEN[:5]}"}
        bd_sim.inject(endpoint, "status", code=400, body=body, times=None)

    return {
        "401": injected("unauthorized"),
        "404": injected("not_found"),
        "429": injected("rate_limit", retry_after=1),
        "429-long": injected("rate_limit", retry_after=3600),
        "503": injected("status", code=503),
        "500-echo": injected("status", code=500, body={"error": f"bad {TOKEN}"}),
        "400-echo": echo_token,
        "malformed": injected("malformed", body=f"oops {TOKEN}"),
        "wrong-type": injected("wrong_type", body=[TOKEN]),
        "reset": injected("reset"),
        "stall": injected("stall", seconds=2),
        "refused": bd_sim.stop,
        "403-echo": injected("forbidden", body=f"not allowed for {TOKEN}"),
        "html-echo": injected("html", body=f"<html>key {TOKEN}</html>"),
        "too-large": injected("huge", size=2_000_000),
        "trickle": injected("trickle", seconds=1.0),
        "echoed-new-id": injected("wrong_type", fields={"collection_id": f"../{TOKEN}"}),
    }


FAILURES = [
    "401", "404", "429", "429-long", "503", "500-echo", "400-echo", "malformed", "wrong-type",
    "reset", "stall", "refused", "403-echo", "html-echo", "too-large", "trickle",
]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [("log", name) for name in FAILURES]
    + [("rerun", name) for name in [*FAILURES, "echoed-new-id"]],
)
def test_client_errors_never_contain_the_token(
    bd_sim: BrightDataSimulator,
    make_client: Callable[..., BrightDataClient],
    endpoint: str,
    name: str,
) -> None:
    # Given a read or a rerun failing in one of many ways (some servers even echo the token)
    arrange = _fail_in_every_way(bd_sim, endpoint)[name]
    client = make_client(read_timeout=0.3, max_attempts=2)
    arrange()
    # When it fails
    with pytest.raises(BrightDataError) as caught:
        _calls(client)[endpoint]()
    # Then no text of the exception, nor of anything chained to it, holds the token
    for text in exception_texts(caught.value):
        assert TOKEN not in text, f"{name}: token leaked in {text!r}"
    assert TOKEN not in repr(client)


@pytest.mark.parametrize("bad_token", ["", "   ", "tok en", "tok\r\nX-Evil: 1", "t\u00f6ken", None])
def test_client_unsendable_token_raises_unauthorized_without_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], bad_token: Any
) -> None:
    with pytest.raises(Unauthorized) as caught:
        make_client(token=lambda: bad_token).get_log("j_done")
    if bad_token and bad_token.strip():
        for text in exception_texts(caught.value):
            assert bad_token.strip() not in text
    assert bd_sim.count() == 0


HOSTILE = ["../x", "j_../x", "j_a?b=1", "j_%2F", "j_a b", "j_\u00e9", "j_" + "x" * 10_000, 7]


@pytest.mark.parametrize("bad", HOSTILE)
@pytest.mark.parametrize("call", ["get_log", "get_errors", "rerun", "list_jobs"])
def test_client_hostile_id_sends_no_request(
    bd_sim: BrightDataSimulator, make_client: Callable[..., BrightDataClient], bad: Any, call: str
) -> None:
    client = make_client()
    calls: dict[str, Callable[[], object]] = {
        "get_log": lambda: client.get_log(bad),
        "get_errors": lambda: client.get_errors(bad),
        "rerun": lambda: client.rerun(bad),
        "list_jobs": lambda: client.list_jobs(bad, TODAY, TODAY),
    }
    with pytest.raises(InvalidId):
        calls[call]()
    assert bd_sim.count() == 0
    assert client.stats.snapshot()["requests_total"] == 0
