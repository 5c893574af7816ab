"""Where the CLI's settings come from: the environment, or with --stack what is deployed: the
table and topic from the stack's outputs, and thresholds, token parameter and override document
from the deployed monitor function's environment (never the local threshold variables)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from job_alerts.text import preview

if TYPE_CHECKING:
    from job_alerts.config import Settings

# CloudFormation outputs of template.yaml that the CLI reads with --stack.
STACK_OUTPUT_TABLE = "StateTableName"
STACK_OUTPUT_TOPIC = "AlertTopicArn"
STACK_OUTPUT_MONITOR = "MonitorFunctionName"
STACK_OUTPUT_DEAD_LETTERS = "SlackDeadLetterQueueUrl"
NO_REGION = (
    "no AWS region: pass --region REGION (the stack's region, e.g. --region eu-west-1) or set "
    "AWS_REGION / AWS_DEFAULT_REGION, or a region in your AWS profile"
)


@dataclasses.dataclass(frozen=True)
class Deployment:
    """The settings a command runs with and, with --stack, the stack's outputs."""

    settings: Settings
    stack: str | None = None
    outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)


def load_settings(args: argparse.Namespace, *, judges: bool = False) -> Settings:
    """Settings from the environment, or from the deployed stack (see load_deployment)."""
    return load_deployment(args, judges=judges).settings


def load_deployment(args: argparse.Namespace, *, judges: bool = False) -> Deployment:
    """Without --stack: the environment. With --stack: the stack's table and topic and, when
    the stack names its monitor function, that function's configuration (thresholds, token
    parameter, override document). A command that judges jobs (`judges`) refuses a stack
    without one rather than judge the live table by local limits."""
    from job_alerts.config import ConfigError, Settings

    if not args.stack:
        return Deployment(Settings.from_env())
    require_region()
    outputs = stack_outputs(args.stack)
    monitor = outputs.get(STACK_OUTPUT_MONITOR)
    if monitor:
        cfg = Settings.from_env(deployed_environment(monitor))
    elif judges:
        raise ConfigError(
            f"--stack {preview(args.stack, 128)} has no output {STACK_OUTPUT_MONITOR}, so its "
            "thresholds and token cannot be read; is it a job-alerts stack?"
        )
    else:
        cfg = Settings.from_env()
    cfg = dataclasses.replace(
        cfg, table_name=outputs[STACK_OUTPUT_TABLE], topic_arn=outputs[STACK_OUTPUT_TOPIC]
    )
    if monitor:
        # The deployed monitor reads its token from SSM; a local BRIGHTDATA_API_TOKEN is not
        # what it uses, and no threshold file of this machine applies either.
        cfg = dataclasses.replace(cfg, api_token=None, thresholds_file=None)
    return Deployment(cfg, args.stack, outputs)


def require_region() -> None:
    import boto3

    from job_alerts.config import ConfigError

    session = boto3.DEFAULT_SESSION or boto3.session.Session()
    if not session.region_name:
        raise ConfigError(NO_REGION)


def deployed_environment(function_name: str) -> dict[str, str]:
    """The monitor function's environment variables, as the Lambda runtime gives them to it."""
    from job_alerts import factory

    config = factory.aws_client("lambda").get_function_configuration(FunctionName=function_name)
    variables: Mapping[str, Any] = (config.get("Environment") or {}).get("Variables") or {}
    return {str(key): str(value) for key, value in variables.items()}


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    from job_alerts import factory
    from job_alerts.config import ConfigError

    try:
        stacks = factory.aws_client("cloudformation").describe_stacks(StackName=stack_name)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        raise ConfigError(f"--stack {preview(stack_name, 128)}: {message}") from None
    found = stacks.get("Stacks") or []
    if not found:
        raise ConfigError(f"--stack {preview(stack_name, 128)}: no such stack")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs") or []}
    missing = [key for key in (STACK_OUTPUT_TABLE, STACK_OUTPUT_TOPIC) if not outputs.get(key)]
    if missing:
        raise ConfigError(
            f"--stack {preview(stack_name, 128)} has no output {', '.join(missing)}; "
            "is it a job-alerts stack?"
        )
    return outputs


def dead_letter_depth(outputs: Mapping[str, str]) -> dict[str, Any] | None:
    """Messages waiting in the Slack dead-letter queue, or None when the stack has no Slack."""
    from job_alerts import factory

    url = outputs.get(STACK_OUTPUT_DEAD_LETTERS)
    if not url:
        return None
    attributes = factory.aws_client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    return {"queue_url": url, "messages": waiting + in_flight}


def stack_alarm_names(stack_name: str) -> list[str]:
    """The names of the CloudWatch alarms the stack created."""
    from job_alerts import factory

    names: list[str] = []
    pages = factory.aws_client("cloudformation").get_paginator("list_stack_resources")
    for page in pages.paginate(StackName=stack_name):
        names += [
            r["PhysicalResourceId"]
            for r in page.get("StackResourceSummaries", [])
            if r.get("ResourceType") == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")
        ]
    return names


def stack_alarms(stack_name: str) -> list[dict[str, Any]]:
    """State of every CloudWatch alarm the stack created."""
    from job_alerts import factory

    names = stack_alarm_names(stack_name)
    alarms: list[dict[str, Any]] = []
    cloudwatch = factory.aws_client("cloudwatch")
    for start in range(0, len(names), 100):
        found = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])
        alarms += [
            {
                "name": alarm["AlarmName"],
                "state": alarm.get("StateValue"),
                "reason": alarm.get("StateReason"),
                "since": alarm.get("StateUpdatedTimestamp"),
            }
            for alarm in found.get("MetricAlarms", [])
        ]
    return sorted(alarms, key=lambda alarm: alarm["name"])
