"""Hostile input over the real routes: job ids that try path or query tricks, markup in names
and error strings, hostile ids in the API's own job list, oversized webhook bodies, badly typed
override documents; plus the two intake routes (webhook Function URL, EventBridge track event)."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from job_alerts import factory
from job_alerts.alerts import render_email, render_slack, slack_payload_for_sns
from job_alerts.brightdata import InvalidId
from job_alerts.config import ConfigError, Settings
from job_alerts.intake import handle_webhook
from job_alerts.service import handle_monitor_event
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure, load_event
from tests.support import (
    Ledger,
    exception_texts,
    failed_job,
    fast_client,
    fast_monitor,
    load_function,
    scan,
    sim_clock,
)

pytestmark = pytest.mark.integration

COLLECTOR = "c_hostile"
HOSTILE_IDS = {
    "dot_dot": "../../dca/collectors_list",
    "query": "j_abc?collector=c_x",
    "fragment": "j_abc#x",
    "encoded_slash": "j_abc%2F..%2Fx",
    "unicode": "j_ab\u0441d",  # Cyrillic es, looks like a c
    "newline": "j_abc\r\nX-Injected: 1",
    "huge": "j_" + "a" * 10_000,
    "empty": "",
}
MARKUP = "<!channel> <https://evil.example|click> <script>alert(1)</script> &amp;"


def _job_items(stack: LocalStack) -> list[dict[str, Any]]:
    return [i for i in scan(stack) if i["sk"] == "JOB"]


@pytest.fixture
def env(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> Any:
    simulator.add_collector(COLLECTOR, "hostile-products")
    return simulator, stack


# ---- hostile job ids ---------------------------------------------------------------------------


def test_hostile_id_refused_everywhere_without_request_or_write(env: Any) -> None:
    sim, stack = env
    client = fast_client(sim.url)
    for name, job_id in HOSTILE_IDS.items():
        # When the id arrives by EventBridge track event, Then a clear error
        event = load_event("track.json")
        event["detail"] = {"job_id": job_id}
        with pytest.raises(InvalidId) as caught:
            handle_monitor_event(event)
        message = str(caught.value)
        assert "job id" in message, name
        assert len(message) < 300, name  # a 10 kB id is previewed, not echoed
        # When it arrives through the webhook, Then refused (no job id found), nothing tracked
        response = handle_webhook(
            {
                "requestContext": {"http": {"method": "POST"}},
                "headers": {"x-job-alerts-token": "t0ken"},
                "body": json.dumps({"collection_id": job_id}),
            },
            expected_token=lambda: "t0ken",
            track=lambda ids: pytest.fail(f"tracked {ids!r}"),
            max_body_bytes=64 * 1024,
        )
        assert response.status in (400, 413), name
        # When a client call is asked for it, Then InvalidId before any request
        for call in (client.get_log, client.get_errors, client.rerun):
            with pytest.raises(InvalidId):
                call(job_id)
    # Then not one request reached the API and nothing was written
    assert sim.requests == []
    assert _job_items(stack) == []


def test_hostile_ids_in_the_api_job_list_are_skipped(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim, stack = env
    clock = sim_clock(sim)
    ledger = Ledger(stack)
    # Given the API lists jobs with hostile ids next to a real failed job
    for job_id in HOSTILE_IDS.values():
        if job_id:
            sim.add_job(job_id, COLLECTOR, "failed", inputs=1, success=0, fails=1)
    failed_job(sim, "j_real1", collector=COLLECTOR)
    # When the monitor runs
    with caplog.at_level(logging.WARNING):
        summary = fast_monitor(clock, ledger=ledger).run()
    # Then the hostile ones are skipped with a warning and the real one is alerted
    assert summary.jobs_discovered == 1
    assert any("job id" in r.getMessage() for r in caplog.records)
    assert ledger.job_alerts() == {("job_failed", "j_real1"): 1}
    assert {r.job_id for r in sim.requests if r.endpoint == "log"} == {"j_real1"}
    assert [i["job_id"] for i in _job_items(stack)] == ["j_real1"]


# ---- markup in names and error strings ---------------------------------------------------------


def test_hostile_markup_is_escaped_in_slack_and_harmless_in_email(
    configure: Configure, simulator: BrightDataSimulator, stack: LocalStack
) -> None:
    # Given a collector name and per-input errors full of Slack/HTML control sequences
    configure(MAX_FAILS="100", MIN_LINES="0")
    sim = simulator
    sim.add_collector(COLLECTOR, f"shop {MARKUP}")
    errors = [{"url": f"https://example.com/{MARKUP}", "error": MARKUP, "consumer": MARKUP}]
    sim.add_job("j_mark1", COLLECTOR, "failed", inputs=10, success=0, fails=10, errors=errors)
    ledger = Ledger(stack)
    # When the monitor alerts
    fast_monitor(sim_clock(sim), ledger=ledger).run()
    [message] = ledger.messages
    doc = message["doc"]
    assert MARKUP in json.dumps(doc)  # the document keeps the raw facts
    # Then the Slack payloads show the markup only escaped
    for payload in (render_slack(doc), slack_payload_for_sns(json.dumps(doc))):
        text = json.dumps(payload)
        for control in ("<!channel>", "<https://evil", "<script>"):
            assert control not in text
        assert "&lt;!channel&gt;" in text
    # And the email renders as plain text without failing
    email = render_email(doc)
    assert "j_mark1" in email


# ---- webhook bodies and override documents ------------------------------------------------------


def test_hostile_oversized_webhook_body_is_refused(env: Any) -> None:
    sim, stack = env
    tracked: list[list[str]] = []
    body = json.dumps({"collection_id": "j_big1", "padding": "x" * 70_000})
    for encoded in (False, True):
        event = {
            "requestContext": {"http": {"method": "POST"}},
            "headers": {"x-job-alerts-token": "t0ken"},
            "body": base64.b64encode(body.encode()).decode() if encoded else body,
            "isBase64Encoded": encoded,
        }
        response = handle_webhook(
            event,
            expected_token=lambda: "t0ken",
            track=lambda ids: tracked.append(ids) or {},
            max_body_bytes=64 * 1024,
        )
        assert response.status == 413
    assert tracked == []
    assert _job_items(stack) == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        pytest.param(
            json.dumps({"collection_id": "j_m4x7hook0003\n"}),
            400,
            "no Bright Data job id",
            id="id_with_trailing_newline",
        ),
        pytest.param("[" * 20_000 + "]" * 20_000, 400, "deeper than 20", id="array_20000_deep"),
        pytest.param(
            json.dumps([{"id": f"j_flood{n:05d}"} for n in range(2_500)], separators=(",", ":")),
            413,
            "2500 job ids",
            id="2500_ids_in_60kb",
        ),
        pytest.param('{"collection_id": "j_m4x7hook0003"', 400, "not valid JSON", id="truncated"),
    ],
)
def test_hostile_webhook_body_is_refused_by_the_function(
    intake: tuple[ModuleType, str],
    stack: LocalStack,
    lambda_context: Any,
    body: str,
    status: int,
    says: str,
) -> None:
    # Given a call with the right token and a body reported to crash or flood the intake
    app, token = intake
    # When the intake function handles it
    response = app.handler(_webhook(token, body=body), lambda_context)
    # Then a clear 4xx, no token in the answer, and nothing tracked
    assert response["statusCode"] == status
    assert says in json.loads(response["body"])["error"]
    assert token not in response["body"]
    assert _job_items(stack) == []


def test_hostile_webhook_store_failure_is_a_5xx_for_a_retry(
    intake: tuple[ModuleType, str],
    lambda_env: Callable[..., None],
    stack: LocalStack,
    lambda_context: Any,
) -> None:
    # Given the intake pointed at a table that is not there (DynamoDB answers an error)
    app, token = intake
    lambda_env(TABLE_NAME=f"missing-{uuid.uuid4().hex[:8]}")
    # When a valid call arrives, Then the invocation fails, so the Function URL answers 5xx
    with pytest.raises(ClientError) as caught:
        app.handler(_webhook(token), lambda_context)
    assert token not in "\n".join(exception_texts(caught.value))
    assert _job_items(stack) == []


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"default": {"min_success_rate": "high"}}, "default.min_success_rate"),
        ({"collectors": {"c_x": {"max_fails": -1}}}, "collectors.c_x.max_fails"),
        ({"collectors": {"c_x": {"max_fails": True}}}, "collectors.c_x.max_fails"),
        ({"collectors": ["c_x"]}, "collectors"),
        ({"default": {"min_sucess_rate": 0.5}}, "min_sucess_rate"),
        ([], ""),
    ],
)
def test_hostile_override_document_is_a_config_error(
    tmp_path: Path, document: Any, where: str
) -> None:
    # Given a THRESHOLDS_FILE with a wrongly typed value
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    # When the thresholds are resolved, Then a ConfigError names the file and the place
    with pytest.raises(ConfigError) as caught:
        factory.thresholds_resolver(Settings(thresholds_file=str(path)))
    assert str(path) in str(caught.value)
    assert where in str(caught.value)


# ---- intake routes ------------------------------------------------------------------------------


@pytest.fixture
def intake(stack: LocalStack, lambda_env: Callable[..., None]) -> tuple[ModuleType, str]:
    """The intake function with its token in a (moto) Secrets Manager secret. Its environment is
    set as deployed (lambda_env, not `configure`): the session's IAM check names the secret the
    function reads by the variable that holds it."""
    token = f"intake-{uuid.uuid4().hex}"
    name = f"intake-token-{uuid.uuid4().hex[:8]}"
    stack.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps({"token": token})
    )
    lambda_env(TABLE_NAME=stack.table_name, INTAKE_TOKEN_SECRET=name)
    return load_function("intake"), token


def _webhook(token: str | None, **changes: Any) -> dict[str, Any]:
    event = load_event("webhook.json")
    event["queryStringParameters"] = {"token": token} if token is not None else {}
    event["rawQueryString"] = f"token={token}" if token is not None else ""
    event.update(changes)
    return event


def _live(stack: LocalStack) -> list[str]:
    return [i["job_id"] for i in _job_items(stack) if i.get("gsi1pk") == "LIVE"]


def test_intake_webhook_refusals_track_nothing(
    intake: tuple[ModuleType, str], stack: LocalStack, lambda_context: Any
) -> None:
    app, token = intake
    oversized = json.dumps({"collection_id": "j_x1", "p": "x" * 70_000})
    cases = {
        "wrong_token": (_webhook("not-" + token), 403),
        "missing_token": (_webhook(None), 403),
        "get": (_webhook(token, requestContext={"http": {"method": "GET"}}), 405),
        "oversized": (_webhook(token, body=oversized), 413),
    }
    for case, (event, status) in cases.items():
        response = app.handler(event, lambda_context)
        assert response["statusCode"] == status, case
        assert token not in response["body"], case
    assert _live(stack) == []


def test_intake_webhook_with_right_token_makes_the_job_live(
    intake: tuple[ModuleType, str], stack: LocalStack, lambda_context: Any
) -> None:
    app, token = intake
    plain = _webhook(token)
    encoded = _webhook(token, body=json.dumps({"collection_id": "j_m4x7hook0002"}))
    encoded["body"] = base64.b64encode(encoded["body"].encode()).decode()
    encoded["isBase64Encoded"] = True
    for event, job_id in ((plain, "j_m4x7hook0001"), (encoded, "j_m4x7hook0002")):
        response = app.handler(event, lambda_context)
        assert response["statusCode"] == 202
        assert json.loads(response["body"]) == {"tracked": {job_id: "tracked"}}
    assert sorted(_live(stack)) == ["j_m4x7hook0001", "j_m4x7hook0002"]
    # Bright Data calling again is harmless
    again = app.handler(plain, lambda_context)
    assert json.loads(again["body"]) == {"tracked": {"j_m4x7hook0001": "known"}}


def test_intake_track_event_through_the_monitor_handler(
    configure: Configure, stack: LocalStack, lambda_context: Any
) -> None:
    app = load_function("monitor")
    result = app.handler(load_event("track.json"), lambda_context)
    assert result == {"tracked": {"j_m4x7track0001": "tracked"}}
    assert _live(stack) == ["j_m4x7track0001"]
