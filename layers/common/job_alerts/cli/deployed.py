"""Where the CLI's settings come from: the environment, or with --stack the deployed stack."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from job_alerts.cli.values import preview

if TYPE_CHECKING:
    from job_alerts.config import Settings

# CloudFormation outputs of template.yaml that the CLI reads with --stack.
STACK_OUTPUT_TABLE = "StateTableName"
STACK_OUTPUT_TOPIC = "AlertTopicArn"


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment; with --stack, the table and topic from its outputs."""
    from job_alerts.config import Settings

    cfg = Settings.from_env()
    if args.stack:
        outputs = stack_outputs(args.stack)
        cfg = dataclasses.replace(
            cfg, table_name=outputs[STACK_OUTPUT_TABLE], topic_arn=outputs[STACK_OUTPUT_TOPIC]
        )
    return cfg


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
