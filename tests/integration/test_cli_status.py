"""`job-alerts status` and `--stack` meaning what is deployed, over moto server and the Bright
Data simulator: open alarms with what was observed against which limit, silences, live jobs,
unsent alerts, the monitor's health and last run; with a deployed stack the monitor function's
thresholds and SSM token, the Slack dead-letter queue and the stack's CloudWatch alarms."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN, Run

pytestmark = pytest.mark.integration

COLLECTOR = "c_reviews"


def status_json(run_cli: Run, *options: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(*options, "status", "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def low_success_job(sim: BrightDataSimulator, job_id: str) -> None:
    sim.add_job(job_id, COLLECTOR, "done", inputs=100, success=50, fails=50, lines=50)


# ---- status over the local environment --------------------------------------------------------
def test_status_of_an_empty_table_is_nothing_open(monitor_env: Callable[..., None], run_cli: Run):
    # Given a table no run has written to
    # When status is asked / Then nothing is open and no run is recorded yet
    code, document = status_json(run_cli)
    assert code == 0
    assert document["open"] is False
    assert document["schema_version"] == 1
    assert document["monitor"]["health"] == "HEALTHY"
    assert document["monitor"]["last_run"] is None
    assert (document["open_alarms"], document["silences"], document["unsent_alerts"]) == (
        [],
        [],
        [],
    )
    code, out, _ = run_cli("status")
    assert code == 0
    assert "last run: none recorded yet" in out
    assert out.rstrip().endswith("Nothing is open.")


def test_status_shows_the_open_alarm_with_observed_limit_and_latest_job(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given a run that opened a success-rate alarm, and a job still running
    simulator.add_collector(COLLECTOR, "Google reviews")
    low_success_job(simulator, "j_low1")
    simulator.add_job("j_run1", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    assert run_cli("run")[0] == 0
    clock.advance(5)
    # When status is asked
    code, document = status_json(run_cli)
    # Then it exits 1 and names the alarm: rule, since, observed vs limit, the latest job
    assert code == 1
    assert document["open"] is True
    (alarm,) = document["open_alarms"]
    assert alarm["collector"] == {"id": COLLECTOR, "name": "Google reviews"}
    assert (alarm["rule"], alarm["state"], alarm["severity"]) == (
        "success_rate_below_min",
        "ALARM",
        "critical",
    )
    assert (alarm["observed"], alarm["limit"]) == (0.5, 0.9)
    assert alarm["latest_job"] == "j_low1"
    assert alarm["since"].startswith("2026-11-29T06:00:00")
    # And the run that did it, and the job it still watches
    last = document["monitor"]["last_run"]
    assert (last["outcome"], last["health"]) == ("ok", "HEALTHY")
    assert last["finished_at"].startswith("2026-11-29T06:00:00")
    assert document["jobs"] == {"live": 1, "live_by_source": {"discovered": 1}}
    # And the text says the same
    code, out, _ = run_cli("status")
    assert code == 1
    assert "c_reviews (Google reviews)  success_rate_below_min  ALARM since 2026-11-29" in out
    assert "success rate 50% < 90% · latest job j_low1" in out


def test_status_lists_silences_and_a_resolved_alarm_closes(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given an open alarm on a silenced collector
    low_success_job(simulator, "j_low1")
    run_cli("run")
    assert run_cli("silence", COLLECTOR, "--for", "2h", "--reason", "vendor maintenance")[0] == 0
    _, document = status_json(run_cli)
    (silence,) = document["silences"]
    assert (silence["collector_id"], silence["reason"]) == (COLLECTOR, "vendor maintenance")
    assert silence["until"].startswith("2026-11-29T08:00:00")
    # When a good job resolves the alarm
    clock.advance(5)
    simulator.add_job("j_ok1", COLLECTOR, "done", inputs=100, success=100, fails=0, lines=100)
    run_cli("run")
    # Then nothing is open any more (a silence is no alarm), and the silence ends on time
    code, document = status_json(run_cli)
    assert (code, document["open_alarms"]) == (0, [])
    clock.advance(121)
    assert status_json(run_cli)[1]["silences"] == []


def test_status_shows_unsent_alerts_and_the_run_that_could_not_publish(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    run_cli: Run,
) -> None:
    # Given a run whose alert could not be published (the topic is gone)
    simulator.add_job("j_fail1", COLLECTOR, "failed", inputs=10, success=0, fails=10, lines=0)
    monitor_env(TOPIC_ARN=stack.topic_arn + "-gone")
    assert run_cli("run")[0] == 1
    # When status is asked / Then the alert waits in the outbox and the run says why
    _, document = status_json(run_cli)
    (unsent,) = document["unsent_alerts"]
    assert "j_fail1" in unsent["subject"]
    assert document["monitor"]["last_run"]["outcome"] == "alerts_failed"
    _, out, _ = run_cli("status")
    assert "Unsent alerts: 1" in out
    assert "last run: 2026-11-29 06:00:00 UTC, some alerts could not be published" in out


def test_status_shows_a_degraded_monitor_with_its_reason(
    monitor_env: Callable[..., None], simulator: BrightDataSimulator, run_cli: Run
) -> None:
    # Given a run whose token was rejected
    simulator.add_job("j_a1", COLLECTOR, "running")
    monitor_env(BRIGHTDATA_API_TOKEN="not-the-token")
    run_cli("run")
    # When status is asked / Then the monitor is degraded since that run: something is open
    code, document = status_json(run_cli)
    assert code == 1
    assert document["monitor"]["health"] == "TOKEN_REJECTED"
    assert document["monitor"]["degraded_since"].startswith("2026-11-29T06:00:00")
    _, out, _ = run_cli("status")
    assert out.startswith("Monitor: DEGRADED (TOKEN_REJECTED) since 2026-11-29 06:00:00 UTC")


def test_status_without_a_table_is_one_error_line(
    monitor_env: Callable[..., None], run_cli: Run
) -> None:
    monitor_env(TABLE_NAME="job-alerts-no-such-table")
    code, out, err = run_cli("status")
    assert (code, out) == (2, "")
    assert err.startswith("job-alerts: error: ")
    assert "ResourceNotFoundException" in err


# ---- --stack: what is deployed ----------------------------------------------------------------


def deployed_template(
    stack: LocalStack, environment: dict[str, str], thresholds_parameter: str
) -> dict[str, Any]:
    """What `sam deploy` leaves that the CLI reads: the monitor function and its environment, the
    override document, the Slack dead-letter queue, and the outputs naming them. (moto's
    CloudFormation cannot create CloudWatch alarms; the test creates those itself.)"""
    role_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return {
        "Resources": {
            "MonitorRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": role_policy},
            },
            "MonitorFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "app.handler",
                    "Role": {"Fn::GetAtt": ["MonitorRole", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
                    "Environment": {"Variables": environment},
                },
            },
            "ThresholdsParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": thresholds_parameter,
                    "Type": "String",
                    "Value": json.dumps({"collectors": {COLLECTOR: {"min_success_rate": 0.4}}}),
                },
            },
            "SlackDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        },
        "Outputs": {
            "StateTableName": {"Value": stack.table_name},
            "AlertTopicArn": {"Value": stack.topic_arn},
            "MonitorFunctionName": {"Value": {"Ref": "MonitorFunction"}},
            "SlackDeadLetterQueueUrl": {"Value": {"Ref": "SlackDeadLetterQueue"}},
        },
    }


@pytest.fixture
def deployed(
    stack: LocalStack,
    simulator: BrightDataSimulator,
    monitor_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A stack deployed on moto whose monitor watches the simulator with MIN_SUCCESS_RATE 0.6,
    reads the token from SSM and the override document from SSM. The local environment has
    other limits and a wrong token, which --stack must not use."""
    # moto server outlives the test: every name is the stack's own (its table name is unique).
    name = stack.table_name.removesuffix("-state")
    token_parameter, thresholds_parameter = f"/{name}/token", f"/{name}/thresholds"
    stack.client("ssm").put_parameter(Name=token_parameter, Type="SecureString", Value=SIM_TOKEN)
    environment = {
        "BRIGHTDATA_API_URL": simulator.url,
        "BRIGHTDATA_TOKEN_PARAMETER": token_parameter,
        "THRESHOLDS_PARAMETER": thresholds_parameter,
        "MIN_SUCCESS_RATE": "0.6",
        "TABLE_NAME": stack.table_name,
        "TOPIC_ARN": stack.topic_arn,
    }
    stack.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(deployed_template(stack, environment, thresholds_parameter)),
        Capabilities=["CAPABILITY_IAM"],
    )
    monitor_env(MIN_SUCCESS_RATE="0.99", MAX_FAILS="0", BRIGHTDATA_API_TOKEN="local-wrong-token")
    for variable in ("TABLE_NAME", "TOPIC_ARN"):
        monkeypatch.delenv(variable)
    return name


def test_stack_thresholds_are_the_deployed_ones(deployed: str, run_cli: Run) -> None:
    # When thresholds are shown for the deployed stack
    code, out, _ = run_cli("--stack", deployed, "thresholds", "--collector", COLLECTOR, "--json")
    # Then they are the function's environment plus the SSM document; local ones play no part
    assert code == 0
    thresholds = json.loads(out)["thresholds"]
    assert thresholds["min_success_rate"] == {
        "value": 0.4,
        "source": f"overrides.collectors.{COLLECTOR}",
    }
    assert thresholds["max_fails"] == {"value": None, "source": "default"}
    code, out, _ = run_cli("--stack", deployed, "thresholds", "--json")
    assert json.loads(out)["thresholds"]["min_success_rate"] == {
        "value": 0.6,
        "source": "environment",
    }


def test_stack_check_and_run_use_the_deployed_token_and_limits(
    deployed: str, simulator: BrightDataSimulator, run_cli: Run
) -> None:
    # Given a job at 50% success: an alarm under the local limit (0.99), fine under the deployed
    # one for this collector (0.4); the local token is wrong, the SSM one right
    low_success_job(simulator, "j_low1")
    # When it is checked and run against the stack / Then the deployed limits and token judge it
    code, out, err = run_cli("--stack", deployed, "check", "--json", "j_low1")
    assert code == 0, err
    assert json.loads(out)[0]["verdict"] == "ok"
    code, out, err = run_cli("--stack", deployed, "run", "--json")
    assert code == 0, err
    assert json.loads(out)["findings"] == {}
    code, document = status_json(run_cli, "--stack", deployed)
    assert (code, document["open_alarms"]) == (0, [])


def test_stack_status_adds_dead_letters_and_cloudwatch_alarms(
    deployed: str, stack: LocalStack, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a dead letter and one of the stack's alarms firing
    outputs = stack.client("cloudformation").describe_stacks(StackName=deployed)["Stacks"][0]
    queue = next(o for o in outputs["Outputs"] if o["OutputKey"] == "SlackDeadLetterQueueUrl")
    stack.client("sqs").send_message(QueueUrl=queue["OutputValue"], MessageBody="{}")
    cloudwatch = stack.client("cloudwatch")
    names = [f"{deployed}-MonitorErrorsAlarm", f"{deployed}-MonitorHeartbeatAlarm"]
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="OK", StateReason="no errors")
    cloudwatch.set_alarm_state(AlarmName=names[1], StateValue="ALARM", StateReason="no run")
    monkeypatch.setattr("job_alerts.cli.deployed.stack_alarm_names", lambda _stack: names)
    # When status is asked for the stack
    code, document = status_json(run_cli, "--stack", deployed)
    # Then the queue's depth and the alarm states are in it, and a firing alarm is open
    assert code == 1
    assert document["stack"]["slack_dead_letter_queue"]["messages"] == 1
    states = {a["name"]: a["state"] for a in document["stack"]["alarms"]}
    assert states == {names[0]: "OK", names[1]: "ALARM"}
    _, out, _ = run_cli("--stack", deployed, "status")
    assert "Slack dead-letter queue: 1 message" in out
    assert f"ALARM             {names[1]}" in out


def test_stack_without_a_monitor_output_refuses_to_judge(
    stack: LocalStack, monitor_env: Callable[..., None], run_cli: Run
) -> None:
    # Given a stack that names only the table and topic
    stack.client("cloudformation").create_stack(
        StackName=stack.table_name.replace("-state", "-partial"),
        TemplateBody=json.dumps(
            {
                "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {
                    "StateTableName": {"Value": stack.table_name},
                    "AlertTopicArn": {"Value": stack.topic_arn},
                },
            }
        ),
    )
    # When a command that judges jobs names it / Then it refuses instead of judging by local limits
    partial = stack.table_name.replace("-state", "-partial")
    code, _, err = run_cli("--stack", partial, "thresholds")
    assert code == 2
    assert "has no output MonitorFunctionName" in err


def test_stack_without_a_region_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, run_cli: Run
) -> None:
    # Given no region anywhere
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setattr("boto3.DEFAULT_SESSION", None)
    # When --stack is used / Then one line says to pass --region, and nothing else happens
    code, out, err = run_cli("--stack", "job-alerts", "history")
    assert (code, out) == (2, "")
    assert err.startswith("job-alerts: error: no AWS region: pass --region REGION")


# ---- live job problems: red without being an alarm ---------------------------------------------
def test_status_shows_a_job_stuck_in_the_queue_until_it_runs_and_settles(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given a job queued 90 minutes ago (the limit is 60), alerted by a run
    queued_at = clock.now - timedelta(minutes=90)
    simulator.add_job("j_queued", COLLECTOR, "queued", inputs=10, created=queued_at)
    code, out, _ = run_cli("run", "--json")
    assert (code, json.loads(out)["findings"]) == (0, {"stuck_queued": 1})
    clock.advance(5)
    # When status is asked
    code, document = status_json(run_cli)
    # Then it is red: the stuck job is named, with since when and for how long
    assert (code, document["open"], document["open_alarms"]) == (1, True, [])
    (problem,) = document["job_problems"]
    assert (problem["job_id"], problem["collector_id"], problem["problem"]) == (
        "j_queued",
        COLLECTOR,
        "stuck_queued",
    )
    assert problem["red"] is True
    assert problem["since"].startswith("2026-11-29T04:30:00")
    assert problem["for_minutes"] == 95
    assert problem["detail"] == "still queued at the latest read; alerted stuck_queued"
    assert (document["job_problems_total"], document["job_problems_red"]) == (1, 1)
    code, out, _ = run_cli("status")
    assert code == 1
    assert "Job problems (1, 1 red):" in out
    assert (
        "j_queued  c_reviews  stuck_queued  RED since 2026-11-29 04:30:00 UTC, for 1 h 35 min"
        in out
    )
    # When it starts running and a run reads it / Then it is no longer stuck in the queue
    simulator.advance("j_queued")
    assert run_cli("run")[0] == 0
    code, document = status_json(run_cli)
    assert (code, document["job_problems"], document["jobs"]["live"]) == (0, [], 1)
    # When it settles / Then it is gone altogether
    clock.advance(5)
    simulator.advance("j_queued", fails=0)
    assert run_cli("run")[0] == 0
    code, document = status_json(run_cli)
    assert (code, document["job_problems"], document["jobs"]["live"]) == (0, [], 0)
    assert "Job problems: none" in run_cli("status")[1]


def test_status_shows_an_unreadable_job_and_turns_red_when_it_is_alerted(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given a running job whose log is always an HTML page, read once
    simulator.add_job("j_odd", COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
    simulator.inject("log", "html", times=None, job_id="j_odd")
    run_cli("run")
    # When status is asked / Then the job is shown, not red yet (not alerted yet)
    code, document = status_json(run_cli)
    (problem,) = document["job_problems"]
    assert (code, problem["job_id"], problem["problem"], problem["red"]) == (
        0,
        "j_odd",
        "job_unreadable",
        False,
    )
    assert problem["detail"] == "html: 1 read in a row could not be judged; red after 3"
    # When two more reads fail and the job is alerted / Then it is red
    for _ in range(2):
        clock.advance(5)
        run_cli("run")
    code, document = status_json(run_cli)
    (problem,) = document["job_problems"]
    assert (code, problem["red"], document["job_problems_red"]) == (1, True, 1)
    assert problem["detail"] == "html: 3 reads in a row could not be judged"
    code, out, _ = run_cli("status")
    assert (
        "j_odd  c_reviews  job_unreadable  RED  html: 3 reads in a row could not be judged" in out
    )
    # When it can be read again / Then it is no problem any more
    simulator.clear_faults()
    clock.advance(5)
    run_cli("run")
    code, document = status_json(run_cli)
    assert (code, document["job_problems"]) == (0, [])


# ---- overrides for collectors the monitor has not listed ---------------------------------------
def test_status_shows_override_ids_no_listed_collector_has(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    tmp_path: Path,
    run_cli: Run,
) -> None:
    # Given an override document with limits for ...la (listed) and for ...al (no such collector)
    listed, typo = "c_m9im5n7v82p2y35la", "c_m9im5n7v82p2y35al"
    simulator.add_collector(listed, "Amazon products")
    path = tmp_path / "thresholds.json"
    limits = {"min_success_rate": 0.8}
    path.write_text(json.dumps({"collectors": {listed: limits, typo: limits}}), encoding="utf-8")
    monitor_env(THRESHOLDS_FILE=str(path))
    # When status is asked before any run / Then it cannot tell yet, and says nothing of it
    _, document = status_json(run_cli)
    assert document["unknown_overrides"] is None
    # When a run has listed the account's collectors
    assert run_cli("run")[0] == 0
    listings = simulator.count("collectors_list")
    code, document = status_json(run_cli)
    # Then status names the override that judges nothing, with the id it may have meant,
    # from the collectors the monitor stored: it asks Bright Data nothing itself
    assert code == 0
    assert document["open"] is False
    assert document["unknown_overrides"] == [{"collector_id": typo, "did_you_mean": [listed]}]
    code, out, _ = run_cli("status")
    assert code == 0
    assert "Overrides for collectors the monitor has not listed (1):" in out
    assert f"  {typo}  did you mean {listed} (Amazon products)?" in out
    assert "status calls no Bright Data" in out
    assert simulator.count("collectors_list") == listings


def test_status_without_overrides_shows_no_unknown_ones(
    monitor_env: Callable[..., None], simulator: BrightDataSimulator, run_cli: Run
) -> None:
    simulator.add_collector(COLLECTOR)
    assert run_cli("run")[0] == 0
    _, document = status_json(run_cli)
    assert document["unknown_overrides"] == []
    assert "Overrides for collectors" not in run_cli("status")[1]
