"""The deployed stack, driven whole on the emulator: what no other tier can show — the template's
wiring, its IAM as enforced, the built layer running in Lambda, SNS fan-out to the Slack
notifier, the Function URL, the EventBridge track rule and the dead-letter queue.

The tests share one deployment and run in file order: the first run's alerts are what the
second run must not repeat and what `job-alerts --stack ... history` must show."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_event
from tests.fullstack.conftest import TOKEN, FullStack
from tests.fullstack.harness import ROOT, wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("emulator_log")]

FAILED_JOB = "j_fs_shop_failed"
THIN_JOB = "j_fs_news_thin"  # fine by the defaults, too few lines by the SSM override


def alert_documents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The v1 documents inside SNS notifications (the tap queue gets SNS's envelope)."""
    return [json.loads(message["Message"]) for message in messages]


def test_fullstack_scheduled_run_alerts_through_sns_to_slack(fullstack: FullStack) -> None:
    # Given a failed job and a job that is fine except for the SSM threshold override,
    simulator, stack = fullstack.simulator, fullstack.stack
    now = simulator.now()
    simulator.add_collector("c_fs_shop", "Shop pages")
    simulator.add_collector("c_fs_news", "News")
    simulator.add_job(
        FAILED_JOB, "c_fs_shop", "failed", inputs=10, success=2, fails=8, lines=2,
        created=now - timedelta(minutes=30), finished=now - timedelta(minutes=5),
    )  # fmt: skip
    simulator.add_job(
        THIN_JOB, "c_fs_news", "done", inputs=100, success=100, fails=0, lines=100,
        created=now - timedelta(minutes=30), finished=now - timedelta(minutes=5),
    )  # fmt: skip
    # When EventBridge's scheduled event invokes the monitor
    summary = stack.invoke("MonitorFunction", load_event("scheduled.json"))
    # Then the run read both jobs over TLS with the token from SSM,
    assert simulator.count("log", FAILED_JOB) >= 1, summary
    assert simulator.count("log", THIN_JOB) >= 1, summary
    # recorded them in DynamoDB,
    assert stack.job_item(FAILED_JOB) is not None
    assert stack.job_item(THIN_JOB) is not None
    # published one alert per collector (the override read from SSM made the second),
    documents = alert_documents(stack.drain(stack.tap_queue_url))
    by_collector = {d["collector"]["id"]: d for d in documents}
    assert sorted(by_collector) == ["c_fs_news", "c_fs_shop"], documents
    assert FAILED_JOB in json.dumps(by_collector["c_fs_shop"]["entries"])
    assert by_collector["c_fs_news"]["entries"][0]["rule"] == "output_below_min"
    # and the Slack notifier, subscribed to the topic, posted each one to the webhook.
    posts = wait_for(lambda: len(fullstack.sink.posts) >= 2 and fullstack.sink.posts, timeout=30)
    assert len(posts) == 2
    assert any(FAILED_JOB in json.dumps(post) for post in posts)
    assert TOKEN not in fullstack.emulator.log_text()


def test_fullstack_second_run_sends_nothing_new(fullstack: FullStack) -> None:
    # Given the first run's alerts went out
    stack, sink = fullstack.stack, fullstack.sink
    posted_before = len(sink.posts)
    # When the schedule fires again and nothing changed
    stack.invoke("MonitorFunction", load_event("scheduled.json"))
    # Then nothing is published and nothing reaches Slack
    assert stack.drain(stack.tap_queue_url) == []
    assert len(sink.posts) == posted_before


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def intake_token(fullstack: FullStack) -> str:
    secret_arn = fullstack.stack.outputs["IntakeTokenSecretArn"]
    value = fullstack.stack.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    return str(value["SecretString"])


def test_fullstack_intake_url_tracks_a_job_with_the_right_token(fullstack: FullStack) -> None:
    # Given the token generated into Secrets Manager at deploy
    token = intake_token(fullstack)
    assert len(token) == 48
    # When Bright Data's webhook calls the Function URL with it
    status = post(
        fullstack.stack.intake_url,
        json.dumps({"collection_id": "j_fs_hooked", "status": "done"}).encode(),
        {"x-job-alerts-token": token, "content-type": "application/json"},
    )
    # Then it is accepted and the job is recorded for the monitor's next run
    assert status == 202
    assert fullstack.stack.job_item("j_fs_hooked") is not None


WITH_TOKEN = None  # the case sends the right token
WRONG_TOKEN = {"x-job-alerts-token": "x" * 48}
LARGE_BODY = b'{"job_id": "j_fs_large", "pad": "' + b"x" * 70_000 + b'"}'
MANY_IDS_BODY = json.dumps([{"job_id": f"j_fs_many_{i}"} for i in range(51)]).encode()
DEEP_BODY = b'{"a":' * 30 + b'{"job_id": "j_fs_deep"}' + b"}" * 30
HOSTILE = [
    # (case, headers, body, method, documented status)
    ("wrong token", WRONG_TOKEN, b'{"job_id": "j_fs_wrong_token"}', "POST", 403),
    ("no token", {}, b'{"job_id": "j_fs_no_token"}', "POST", 403),
    ("not POST", WITH_TOKEN, b"", "GET", 405),
    ("too large", WITH_TOKEN, LARGE_BODY, "POST", 413),
    ("too many ids", WITH_TOKEN, MANY_IDS_BODY, "POST", 413),
    ("not JSON", WITH_TOKEN, b"<html>j_fs_html</html>", "POST", 400),
    ("too deep", WITH_TOKEN, DEEP_BODY, "POST", 400),
    ("no job id", WITH_TOKEN, b'{"status": "done", "job_id": "not-a-job"}', "POST", 400),
]  # fmt: skip
REFUSED_JOB_IDS = ["j_fs_wrong_token", "j_fs_no_token", "j_fs_large", "j_fs_many_0", "j_fs_deep"]


@pytest.mark.parametrize(
    ("headers", "body", "method", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in HOSTILE],
)
def test_fullstack_intake_url_refuses_and_tracks_nothing(
    fullstack: FullStack, headers: dict[str, str] | None, body: bytes, method: str, expected: int
) -> None:
    if headers is WITH_TOKEN:
        headers = {"x-job-alerts-token": intake_token(fullstack)}
    # When the Function URL gets a hostile or unauthenticated call
    status = post(fullstack.stack.intake_url, body, headers, method)
    # Then it refuses with the documented status, and tracks nothing
    assert status == expected
    for job_id in REFUSED_JOB_IDS:
        assert fullstack.stack.job_item(job_id) is None


def test_fullstack_eventbridge_track_event_reaches_the_monitor(fullstack: FullStack) -> None:
    # Given a job Bright Data knows but discovery would not list (its collector is unknown)
    event = load_event("track.json")
    event_detail = {"job_id": "j_fs_tracked"}
    # When a producer puts the track event on the default bus
    answer = fullstack.stack.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event_detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    # Then the rule invokes the monitor, which records the job
    wait_for(lambda: fullstack.stack.job_item("j_fs_tracked"), timeout=60, what="tracked job")


def test_fullstack_slack_refusing_retries_then_dead_letters(fullstack: FullStack) -> None:
    # Given Slack refuses every post (a revoked webhook)
    stack, sink = fullstack.stack, fullstack.sink
    sink.fail(None, status=404, body="no_service")
    event = copy.deepcopy(load_event("sns_alert.json"))
    message_id = str(uuid.uuid4())
    event["Records"][0]["Sns"]["MessageId"] = message_id
    attempts_before = len(sink.requests)
    try:
        # When SNS hands the notifier an alert (asynchronously, as on AWS)
        stack.invoke_async("SlackNotifierFunction", event)
        # Then Lambda tries it three times (MaximumRetryAttempts 2) and sends it to the DLQ
        queue_url = stack.outputs["SlackDeadLetterQueueUrl"]
        dead = wait_for(
            lambda: stack.drain(queue_url, settle_seconds=0.5), timeout=90, what="the DLQ"
        )
        attempts = len(sink.requests) - attempts_before
    finally:
        sink.reset()
    assert attempts == 3  # a refusal is not retried within one invocation
    assert len(dead) == 1
    assert message_id in json.dumps(dead[0])
    assert TOKEN not in fullstack.emulator.log_text()


def job_alerts(fullstack: FullStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator CLI from the app's virtualenv, against the deployed stack."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        **fullstack.emulator.env(),
        "BRIGHTDATA_API_URL": fullstack.api_url,
        "BRIGHTDATA_API_TOKEN": TOKEN,
        "SSL_CERT_FILE": str(fullstack.cert),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    cli = Path(ROOT / ".venv" / "bin" / "job-alerts")
    return subprocess.run(
        [str(cli), "--stack", fullstack.stack.name, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fullstack_cli_history_reads_the_deployed_stack(fullstack: FullStack) -> None:
    done = job_alerts(fullstack, "history", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert FAILED_JOB in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_fullstack_cli_thresholds_and_run(fullstack: FullStack) -> None:
    thresholds = job_alerts(fullstack, "thresholds", "--json")
    assert thresholds.returncode == 0, thresholds.stdout + thresholds.stderr
    json.loads(thresholds.stdout)
    # A run from the operator's machine: same code path, the deployed table and topic; the jobs
    # were all judged by the Lambda already, so there is nothing new to send.
    posted_before = len(fullstack.sink.posts)
    run = job_alerts(fullstack, "run", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    json.loads(run.stdout)
    assert fullstack.stack.drain(fullstack.stack.tap_queue_url) == []
    assert len(fullstack.sink.posts) == posted_before
    assert TOKEN not in run.stdout + run.stderr
