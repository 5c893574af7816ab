"""Every alert says which deployment sent it (stack, region, AWS account) in its subject or
header, its body, its JSON document and its SNS attributes; a pasted command acts on that
deployment; and a command that names none says what to add (issue 20, defect 2)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from job_alerts.alerts import (
    AlertEntry,
    AlertKind,
    from_document,
    render_cloudwatch_slack,
    render_email,
    render_slack,
    render_subject,
    to_document,
)
from job_alerts.config import ConfigError, Deployment, Settings
from job_alerts.decide import Decision
from job_alerts.models import JobRuleClaim
from job_alerts.publish import message_attributes, sns_publish_request
from job_alerts.recording import build_alerts
from job_alerts.rules import Rule, Severity
from tests.unit.test_alert_render import CASES, CLOUDWATCH_ALARM, STAGING

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAGING_ENV = {"STACK_NAME": "staging", "AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012"}
STAGING_TOPIC = "arn:aws:sns:eu-west-1:123456789012:staging-AlertTopic-1ABC"


# ---- where the deployment comes from ------------------------------------------------------------
def test_settings_deployment_is_the_functions_stack_region_and_account() -> None:
    # Given a function's environment (the template passes STACK_NAME, Lambda sets AWS_REGION;
    # an AWS_ACCOUNT_ID, when set, names the account) / When read / Then Settings names it
    assert Settings.from_env(STAGING_ENV).deployment == STAGING


def test_settings_deployment_reads_region_and_account_from_the_topic_when_not_given() -> None:
    # Given a deployed function's configuration as the CLI reads it with --stack (the variables
    # Lambda adds at run time, AWS_REGION among them, are not stored in it)
    env = {"STACK_NAME": "staging", "TOPIC_ARN": STAGING_TOPIC}
    # When read / Then its topic, which the stack created, says the region and account
    assert Settings.from_env(env).deployment == STAGING


@pytest.mark.parametrize(
    "env", [{}, {"AWS_REGION": "us-east-1", "AWS_ACCOUNT_ID": "123456789012"}], ids=["none", "aws"]
)
def test_settings_without_a_stack_name_is_a_local_run_with_no_deployment(
    env: dict[str, str],
) -> None:
    assert Settings.from_env(env).deployment is None


@pytest.mark.parametrize("name", ["prod; rm -rf ~", "-prod", "9lives", "x" * 129])
def test_settings_refuse_a_stack_name_cloudformation_never_gives(name: str) -> None:
    # Given a STACK_NAME no stack can have (it is pasted into commands) / Then a ConfigError
    with pytest.raises(ConfigError, match="STACK_NAME"):
        Settings.from_env({"STACK_NAME": name})


def test_recorded_alerts_carry_the_deployment_of_the_run() -> None:
    # Given a decision of the stack "staging"
    decision = Decision("c_shop", "shop")
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule=Rule.JOB_FAILED,
        severity=Severity.CRITICAL,
        message="job ended with status failed",
        job_ids=("j_failed1",),
    )
    decision.add(entry, JobRuleClaim("j_failed1", Rule.JOB_FAILED, NOW, 1))
    # When the record stage makes alerts of it
    [(alert, _)] = build_alerts(decision, {}, NOW, deployment=STAGING)
    # Then the alert names the deployment, and its document says so
    assert alert.deployment == STAGING
    assert to_document(alert)["deployment"] == {
        "stack": "staging",
        "region": "eu-west-1",
        "account": "123456789012",
    }


# ---- what an alert says -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alarm_success_rate", "degraded_token_rejected", "test"])
def test_alert_of_a_stack_names_it_in_subject_body_and_slack_header(name: str) -> None:
    # Given an alert the stack "staging" in eu-west-1 sent
    doc = to_document(CASES[f"staging_{name}"])
    # When it is rendered / Then the subject and the Slack header say the stack
    assert "[staging]" in render_subject(doc)
    slack = render_slack(doc)
    assert "[staging]" in slack["blocks"][0]["text"]["text"]
    assert "[staging]" in slack["text"]
    # And the body and the Slack summary say stack, region and account
    identity = "stack staging, region eu-west-1, account 123456789012"
    assert f"\nDeployment:    {identity}\n" in render_email(doc)
    assert f"*Deployment:* {identity}" in slack["blocks"][1]["text"]["text"]


def test_subject_of_a_stack_keeps_within_the_sns_limit() -> None:
    # Given the longest stack name CloudFormation allows, on a grouped alert
    long_stack = Deployment(stack="s" * 128, region="eu-west-1", account="123456789012")
    doc = to_document(dataclasses.replace(CASES["grouped"], deployment=long_stack))
    # Then the subject still fits SNS and still starts with the severity
    subject = render_subject(doc)
    assert len(subject) < 100
    assert subject.startswith("[CRITICAL] [sss")


def test_alert_of_a_local_run_says_nothing_of_a_deployment() -> None:
    doc = to_document(CASES["alarm_success_rate"])
    assert doc["deployment"] is None
    assert "Deployment" not in render_email(doc)
    assert "Deployment" not in json.dumps(render_slack(doc))


def test_document_of_version_1_without_a_deployment_is_still_read() -> None:
    # Given a document written before the field existed (schema_version 1 then as now: the
    # field is optional, so the version did not change)
    doc = to_document(CASES["staging_alarm_success_rate"])
    del doc["deployment"]
    # When it is read and rendered / Then it has no deployment, and renders as before
    assert doc["schema_version"] == 1
    assert from_document(doc).deployment is None
    assert render_email(doc) == render_email(to_document(CASES["alarm_success_rate"]))


@pytest.mark.parametrize(
    ("deployment", "problem"),
    [("staging", "deployment"), ({"stack": 7}, "deployment.stack"), ({"region": []}, "region")],
)
def test_document_with_a_malformed_deployment_is_refused(deployment: Any, problem: str) -> None:
    doc = {**to_document(CASES["staging_test"]), "deployment": deployment}
    with pytest.raises(ValueError, match=problem):
        from_document(doc)


# ---- what subscribers can filter on ----------------------------------------------------------
def test_sns_message_of_a_stack_carries_its_deployment_attributes() -> None:
    # Given the publish request of an alert the stack "staging" sent
    doc = to_document(CASES["staging_degraded_token_rejected"])
    request = sns_publish_request(doc, STAGING_TOPIC)
    # Then subscribers can tell (and filter) which deployment sent it
    attributes = {name: a["StringValue"] for name, a in request["MessageAttributes"].items()}
    assert attributes["stack"] == "staging"
    assert attributes["region"] == "eu-west-1"
    assert attributes["account"] == "123456789012"
    # And SNS's limit of 10 attributes a message holds
    assert len(attributes) <= 10


def test_sns_message_of_a_local_run_has_no_deployment_attributes() -> None:
    attributes = message_attributes(to_document(CASES["alarm_success_rate"]))
    assert not {"stack", "region", "account"} & set(attributes)


# ---- CloudWatch alarms of the stack --------------------------------------------------------------
def _alarm_text(payload: dict[str, Any]) -> str:
    return str(payload["blocks"][1]["text"]["text"])


def test_cloudwatch_alarm_names_the_stack_cloudformation_named_it_after() -> None:
    # Given an alarm of the stack "staging" (the template gives alarms no name, so CloudFormation
    # names them <stack>-<logical id>-<random suffix>) in eu-west-1
    name = "staging-MonitorHeartbeatAlarm-1Q2W3E4R5T6Y"
    alarm = {
        **CLOUDWATCH_ALARM,
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}",
    }
    # When rendered for Slack / Then it says stack, region and account
    text = _alarm_text(render_cloudwatch_slack(alarm))
    assert "*Deployment:* stack staging, region eu-west-1, account 123456789012" in text


def test_cloudwatch_alarm_with_another_name_says_region_and_account_only() -> None:
    # Given an alarm whose name is not one CloudFormation made / Then no stack is guessed
    text = _alarm_text(render_cloudwatch_slack(CLOUDWATCH_ALARM))
    assert "*Deployment:* region us-east-1, account 123456789012" in text
    assert "stack" not in text


# ---- a command that names no deployment ------------------------------------------------------
@pytest.mark.parametrize(
    ("need", "variable"), [("require_table", "TABLE_NAME"), ("require_topic", "TOPIC_ARN")]
)
def test_command_with_no_stack_and_no_table_says_what_to_add(need: str, variable: str) -> None:
    # Given no stack chosen and nothing configured (a pasted command run locally)
    with pytest.raises(ConfigError) as raised:
        getattr(Settings.from_env({}), need)()
    # Then the error says what to add, not only which variable is missing
    assert str(raised.value) == (
        f"no deployment chosen: add --stack NAME (the stack that sent the alert) or set {variable}"
    )
