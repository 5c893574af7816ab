"""Rotating the Bright Data token: the monitor reads it from SSM (moto server) and keeps it for
a few minutes; a 401 makes it read the parameter once more, bypassing that cache, and try the
new value before it calls the token rejected. Over the real monitor and the simulator, and the
client alone with token sources of the test's own."""

from __future__ import annotations

import threading
import uuid

import pytest

from job_alerts.brightdata import Unauthorized
from job_alerts.models import HealthState
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.support import (
    collector_world,
    delivered,
    exception_texts,
    failed_job,
    fast_client,
    good_job,
    kinds,
    make_monitor,
)

pytestmark = pytest.mark.integration

TOKEN_A = "tok-rotation-A-1f2e3d"  # markers, not real secrets
TOKEN_B = "tok-rotation-B-9c8b7a"


def test_rotated_token_is_used_within_the_cache_without_a_token_alert(
    simulator: BrightDataSimulator,
    stack: LocalStack,
    configure: Configure,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the monitor reading token A from its SSM parameter, and A accepted
    sim, _, clock = collector_world(simulator, stack)
    parameter = f"/job-alerts-{uuid.uuid4().hex[:8]}/brightdata-token"
    ssm = stack.client("ssm")
    ssm.put_parameter(Name=parameter, Type="SecureString", Value=TOKEN_A)
    sim.token = TOKEN_A
    # The IAM recorder knows the parameter by the variable a deployed function is given.
    monkeypatch.setenv("BRIGHTDATA_TOKEN_PARAMETER", parameter)
    configure(
        BRIGHTDATA_API_TOKEN="",
        BRIGHTDATA_TOKEN_PARAMETER=parameter,
        # Collector limits a failed job cannot breach: its one alert is the job_failed event.
        MAX_FAILS="100",
        MIN_SUCCESS_RATE="0",
        MIN_LINES="0",
    )
    good_job(sim, "j_good1")
    assert make_monitor(clock).run().health == HealthState.HEALTHY.value
    assert delivered(stack) == []

    # When the token is rotated (the parameter set to B, A revoked) and the next run comes
    # while A is still cached
    ssm.put_parameter(Name=parameter, Type="SecureString", Value=TOKEN_B, Overwrite=True)
    sim.token = TOKEN_B
    clock.advance(5)
    failed_job(sim, "j_fail1")
    sim.reset_counts()
    summary = make_monitor(clock).run()

    # Then that run judges the jobs and says nothing about the token: its first call was
    # refused, and the re-read parameter's value worked from then on
    assert summary.health == HealthState.HEALTHY.value
    assert [kinds(m) for m in delivered(stack)] == [[("JOB", "job_failed")]]
    assert [r.status for r in sim.requests].count(401) == 1
    # And the next run starts with B: no 401 to recover from
    clock.advance(5)
    sim.reset_counts()
    make_monitor(clock).run()
    assert [r.status for r in sim.requests].count(401) == 0
    assert delivered(stack) == []
    # And neither token shows in what the runs printed or logged
    captured = capfd.readouterr()
    assert not any(token in captured.out + captured.err for token in (TOKEN_A, TOKEN_B))


class RotatingToken:
    """A token source like the SSM one: `refresh()` reads the current value afresh, counted."""

    def __init__(self, cached: str, current: str) -> None:
        self.cached, self.current = cached, current
        self.refreshes = 0
        self.fail_refresh = False

    def __call__(self) -> str:
        return self.cached

    def refresh(self) -> str:
        self.refreshes += 1
        if self.fail_refresh:
            raise RuntimeError("parameter store unreachable")
        self.cached = self.current
        return self.cached


def test_client_retries_a_401_once_with_the_refreshed_token(
    simulator: BrightDataSimulator,
) -> None:
    # Given a client whose cached token is revoked and whose source now holds the accepted one
    simulator.add_collector("c_rot", "rotation")
    source = RotatingToken(cached=TOKEN_A, current=simulator.token)
    client = fast_client(simulator.url, source)  # type: ignore[arg-type]
    # When it calls, Then the 401 makes it refresh once and the call succeeds with the new token
    assert [c["id"] for c in client.list_collectors()] == ["c_rot"]
    client.list_collectors()
    assert source.refreshes == 1
    assert client.stats.snapshot()["errors_total"] == 0


def test_client_refreshes_at_most_once_and_a_same_token_401_stands(
    simulator: BrightDataSimulator,
) -> None:
    # Given a token that is refused, and whose source still holds the same value
    source = RotatingToken(cached=TOKEN_A, current=TOKEN_A)
    client = fast_client(simulator.url, source)  # type: ignore[arg-type]
    # When several calls, some at once, are refused
    refused: list[Exception] = []

    def call() -> None:
        try:
            client.list_collectors()
        except Unauthorized as exc:
            refused.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    call()
    # Then each is a 401, and the source was read afresh once for them all
    assert len(refused) == 7
    assert source.refreshes == 1


def test_client_keeps_the_401_when_the_refresh_fails(simulator: BrightDataSimulator) -> None:
    # Given a refused token whose source cannot be read again
    source = RotatingToken(cached=TOKEN_A, current=TOKEN_B)
    source.fail_refresh = True
    client = fast_client(simulator.url, source)  # type: ignore[arg-type]
    # When it calls, Then the caller sees the 401 (a BrightDataError it handles), token-free
    with pytest.raises(Unauthorized) as raised:
        client.list_collectors()
    assert source.refreshes == 1
    assert not any(TOKEN_A in text for text in exception_texts(raised.value))


def test_client_with_a_fixed_token_answers_a_401_at_once(simulator: BrightDataSimulator) -> None:
    # Given a plain token (BRIGHTDATA_API_TOKEN): nothing to re-read
    client = fast_client(simulator.url, TOKEN_A)
    # When it is refused, Then Unauthorized, after one request
    with pytest.raises(Unauthorized):
        client.list_collectors()
    assert simulator.count("collectors_list") == 1
