"""Secrets stay secret through whole scenarios: a recognisable Bright Data token and Slack
webhook URL never appear in log output, alert documents, SNS messages, exception text (chained
causes included) or any item stored in DynamoDB."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from job_alerts.observability import logger as app_logger
from job_alerts.slack import OncePerMessage, SlackClient, deliver_sns_event
from local.simulator import BrightDataSimulator
from local.slack_sink import SlackSink
from local.stack import LocalStack
from tests.conftest import Configure
from tests.integration.faults import BrokenPublisher
from tests.support import (
    Ledger,
    as_text,
    exception_texts,
    failed_job,
    fast_client,
    fast_monitor,
    scan,
    sim_clock,
)

pytestmark = pytest.mark.integration

TOKEN = "tok-SECRET-7f3a9c"  # a marker to search for, not a real secret
COLLECTOR = "c_secret"


@pytest.fixture
def secret_sim() -> Iterator[BrightDataSimulator]:
    with BrightDataSimulator(token=TOKEN) as sim:
        yield sim


def test_secrets_never_leak_through_a_faulty_scenario(
    secret_sim: BrightDataSimulator,
    stack: LocalStack,
    configure: Configure,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    lambda_context: Any,
) -> None:
    sim = secret_sim
    cfg = configure(BRIGHTDATA_API_URL=sim.url, BRIGHTDATA_API_TOKEN=TOKEN, MAX_FAILS="100")
    # Our logger at its most talkative; the JSON lines exactly as Lambda would write them.
    caplog.set_level(logging.DEBUG, logger=app_logger.name)
    json_lines = io.StringIO()
    handler = logging.StreamHandler(json_lines)
    handler.setFormatter(app_logger.registered_formatter)
    logging.getLogger(app_logger.name).addHandler(handler)
    sim.add_collector(COLLECTOR, "secret-products")
    clock = sim_clock(sim)
    ledger = Ledger(stack)
    raised: list[BaseException] = []

    def run(**kwargs: Any) -> None:
        try:
            fast_monitor(clock, ledger=ledger, **kwargs).run()
        except Exception as exc:  # collected: its text is checked below
            raised.append(exc)
        clock.advance(5)

    with SlackSink() as sink:
        # Run 1: a failed job, SNS down (publish fails)
        failed_job(sim, "j_fail1", collector=COLLECTOR)
        run(publisher=BrokenPublisher())
        # Run 2: 401s everywhere, with the server echoing the token in its error text
        sim.inject("*", "status", times=None, code=401, body={"error": f"bad token {TOKEN}"})
        run()
        sim.clear_faults()
        # Run 3: 5xx echoing the token, then a 500 storm
        failed_job(sim, "j_fail2", collector=COLLECTOR)
        sim.inject("log", "status", times=None, code=500, body={"error": f"Bearer {TOKEN}"})
        run()
        sim.clear_faults()
        # Run 4, 5: healthy again; everything owed goes out
        run()
        run()
        # Direct client errors (what a CLI user would see)
        client = fast_client(sim.url, TOKEN)
        sim.inject("log", "status", times=3, code=503, body={"message": f"token={TOKEN}"})
        sim.inject("log", "unauthorized", times=1)
        for _ in range(2):
            try:
                client.get_log("j_fail1")
            except Exception as exc:
                raised.append(exc)
        # The Slack notifier: 500s then recovery, through the real handler path
        records = stack.lambda_records("slack")
        assert records
        once = OncePerMessage(stack.table_name, dynamodb_client=stack.client("dynamodb"))
        once.register_lambda_context(lambda_context)
        slack = SlackClient(backoff_base=0.01, max_attempts=2, budget_seconds=5)
        sink.fail(times=None)
        try:
            deliver_sns_event(records, sink.url, client=slack, once=once)
        except Exception as exc:
            raised.append(exc)
        sink.fail(times=0)
        deliver_sns_event(records, sink.url, client=slack, once=once)
        assert len(sink.posts) == len(records)
        slack_secrets = (sink.url, sink.path, sink.path.rsplit("/", 1)[-1])

    # The scenario really went through its faults and deliveries
    assert ledger.job_alerts() == {("job_failed", "j_fail1"): 1, ("job_failed", "j_fail2"): 1}
    assert "DEGRADED" in ledger.kinds("api_health")
    assert len(raised) >= 3

    logging.getLogger(app_logger.name).removeHandler(handler)
    captured = capfd.readouterr()
    places = {
        "JSON log lines": json_lines.getvalue(),
        "stdout/stderr": captured.out + captured.err,
        "log records": "\n".join(f"{r.getMessage()} {as_text(r.__dict__)}" for r in caplog.records),
        "alert documents": as_text(ledger.messages),
        "SNS messages": as_text(stack.drain("all")),
        "exceptions": "\n".join(t for exc in raised for t in exception_texts(exc)),
        "DynamoDB items": as_text(scan(stack)),
        "settings": repr(cfg) + repr(fast_client(sim.url, TOKEN)),
    }
    assert '"level":"WARNING"' in places["JSON log lines"]  # the logs were captured at all
    for secret in (TOKEN, *slack_secrets):
        for place, text in places.items():
            assert secret not in text, f"{secret[:12]}... appears in {place}"
