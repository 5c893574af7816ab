"""Alerts name the deployment that sent them, and their commands act on it (issue 20, defect 2),
over moto server: a stack "staging" in eu-west-1 made by CloudFormation from the template's own
state table, and a trap, a stack of the same name in us-east-1, the CLI's default region here.
Every command a staging alert shows (email and Slack) runs as pasted and acts on staging only."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from job_alerts import factory
from job_alerts.alerts import render_email, render_slack, to_document
from job_alerts.state import StateStore
from local.cfn_yaml import load_template
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import FAKE_CREDENTIALS, TEMPLATE, LocalStack, MotoServer
from tests.conftest import SIM_TOKEN, Run
from tests.unit.test_alert_render import CASES
from tests.unit.test_pasteable_commands import commands_in

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"  # moto's account
COLLECTOR = "c_m9im5n7v82p2y35la"  # the collector of the golden alerts
STAGING_CASES = ("staging_alarm_success_rate", "staging_degraded_token_rejected", "staging_test")


@dataclass
class Deployed:
    """One job-alerts stack on moto server, and a queue subscribed to its topic."""

    name: str
    region: str
    endpoint: str
    outputs: dict[str, str]
    queue_url: str

    def client(self, service: str) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.endpoint)

    def store(self) -> StateStore:
        return StateStore(self.outputs["StateTableName"], self.client("dynamodb"))

    def received(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        found = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return [json.loads(message["Body"]) for message in found.get("Messages", [])]


def _template(simulator_url: str, token_parameter: str, min_success_rate: str) -> dict[str, Any]:
    """What the CLI reads of a deployed stack: the template's own state table, a topic, the
    monitor function with its environment (named by the stack, as the template does) and the
    outputs naming them."""
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    environment = {
        "TABLE_NAME": {"Ref": "StateTable"},
        "TOPIC_ARN": {"Ref": "AlertTopic"},
        "STACK_NAME": {"Ref": "AWS::StackName"},
        "BRIGHTDATA_API_URL": simulator_url,
        "BRIGHTDATA_TOKEN_PARAMETER": token_parameter,
        "MIN_SUCCESS_RATE": min_success_rate,
        "COLLECTORS": COLLECTOR,
    }
    return {
        "Resources": {
            "StateTable": load_template(TEMPLATE)["Resources"]["StateTable"],
            "AlertTopic": {"Type": "AWS::SNS::Topic"},
            "MonitorRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": lambda_trust},
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
        },
        "Outputs": {
            "StateTableName": {"Value": {"Ref": "StateTable"}},
            "AlertTopicArn": {"Value": {"Ref": "AlertTopic"}},
            "MonitorFunctionName": {"Value": {"Ref": "MonitorFunction"}},
        },
    }


def _deploy(
    endpoint: str, region: str, simulator_url: str, *, token: str, min_success_rate: str
) -> Deployed:
    """Deploy a stack named "staging" in `region`, its Bright Data token in an SSM parameter of
    that region and a queue subscribed to its topic. (moto server outlives the test: the
    parameter and queue have names of their own, and `_remove` deletes the stack.)"""
    unique = uuid.uuid4().hex[:8]
    bare = Deployed("staging", region, endpoint, {}, "")
    token_parameter = f"/staging-{unique}/token"
    bare.client("ssm").put_parameter(Name=token_parameter, Type="SecureString", Value=token)
    cloudformation = bare.client("cloudformation")
    cloudformation.create_stack(
        StackName="staging",
        TemplateBody=json.dumps(_template(simulator_url, token_parameter, min_success_rate)),
        Capabilities=["CAPABILITY_IAM"],
    )
    [described] = cloudformation.describe_stacks(StackName="staging")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    sqs = bare.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"staging-{unique}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    bare.client("sns").subscribe(
        TopicArn=outputs["AlertTopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
    )
    return Deployed("staging", region, endpoint, outputs, queue_url)


def _remove(deployed: Deployed) -> None:
    deployed.client("cloudformation").delete_stack(StackName=deployed.name)


@pytest.fixture
def two_stagings(
    moto_server: MotoServer,
    stack: LocalStack,
    simulator: BrightDataSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Deployed, Deployed]]:
    """(staging in eu-west-1, the one that sent the alerts; staging in us-east-1, the region the
    CLI uses when none is given). Only the first has the right token; their limits differ. No
    TABLE_NAME or TOPIC_ARN is set: a pasted command finds its deployment by itself."""
    for name in ("TABLE_NAME", "TOPIC_ARN", "BRIGHTDATA_API_TOKEN", "STACK_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert stack.aws_env()["AWS_REGION"] == "us-east-1"
    sent = _deploy(
        moto_server.url, "eu-west-1", simulator.url, token=SIM_TOKEN, min_success_rate="0.7"
    )
    trap = _deploy(
        moto_server.url, "us-east-1", simulator.url, token="wrong-token", min_success_rate="0.5"
    )
    try:
        yield sent, trap
    finally:
        _remove(sent)
        _remove(trap)


@pytest.fixture
def paste(run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], tuple[int, str, str]]:
    """Run a command line as pasted into a fresh shell: split as a shell splits it, with nothing
    left over from an earlier command (boto3's default session that --region sets, cached
    clients and parameters)."""
    from aws_lambda_powertools.utilities import parameters

    def run(command: str) -> tuple[int, str, str]:
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        factory.aws_client.cache_clear()
        parameters.clear_caches()
        argv = shlex.split(command)
        assert argv[0] == "job-alerts", command
        return run_cli(*argv[1:])

    return run


def staging_commands() -> list[str]:
    """Every command the staging alerts show, in their email and their Slack message."""
    found: list[str] = []
    for name in STAGING_CASES:
        doc = to_document(CASES[name])
        found += commands_in(render_email(doc)) + commands_in(json.dumps(render_slack(doc)))
    return list(dict.fromkeys(found))


def _is_what_if(command: str) -> bool:
    return "--what-if" in shlex.split(command)


# ---- pasted, a command acts on the deployment that sent the alert -------------------------------
def test_every_command_a_staging_alert_shows_acts_on_that_stack_and_no_other(
    two_stagings: tuple[Deployed, Deployed],
    paste: Callable[[str], tuple[int, str, str]],
    simulator: BrightDataSimulator,
    clock: ManualClock,
) -> None:
    sent, trap = two_stagings
    commands = staging_commands()
    verbs = {shlex.split(c)[1] for c in commands}
    assert verbs == {"silence", "thresholds", "status", "test-alert"}, commands
    # When every command the staging alerts show runs as pasted (the what-if has a test below)
    outputs = {}
    for command in sorted(commands, key=lambda c: c.split()[1] == "status"):
        if _is_what_if(command):
            continue
        code, out, err = paste(command)
        assert (code, err) == (0, ""), f"{command}: {err}"
        outputs[shlex.split(command)[1]] = out
    # Then the silence is in staging's table, not in the trap's
    now = clock()
    assert sent.store().active_silence(COLLECTOR, now) is not None
    assert trap.store().active_silence(COLLECTOR, now) is None
    # And the limits shown are staging's (its monitor's environment; the trap's says 0.5)
    assert "min_success_rate   0.7      environment" in outputs["thresholds"]
    # And status read staging's table: it shows the silence just made of the collector it watches
    assert f"Silences (1):\n  {COLLECTOR} until " in outputs["status"]
    assert "CloudWatch alarms of stack staging" in outputs["status"]
    # And the test alert went out on staging's topic only, saying so
    [envelope] = sent.received()
    assert trap.received() == []
    assert envelope["Subject"].startswith("[TEST] [staging]")
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert (attributes["stack"], attributes["region"], attributes["account"]) == (
        "staging",
        "eu-west-1",
        ACCOUNT,
    )
    assert json.loads(envelope["Message"])["deployment"] == {
        "stack": "staging",
        "region": "eu-west-1",
        "account": ACCOUNT,
    }


def test_pasted_what_if_replays_with_the_token_of_that_stack(
    two_stagings: tuple[Deployed, Deployed],
    paste: Callable[[str], tuple[int, str, str]],
    simulator: BrightDataSimulator,
) -> None:
    # Given a settled job of the collector at 50% success (an alarm under staging's 0.7)
    simulator.add_job("j_half1", COLLECTOR, "done", inputs=10, success=5, fails=5, lines=5)
    [command] = [c for c in staging_commands() if _is_what_if(c)]
    # When the what-if the alarm offers runs as pasted
    code, out, err = paste(command)
    # Then it replays the job with staging's token (the trap's is wrong) and staging's limits
    assert (code, err) == (0, ""), f"{command}: {err}"
    assert "j_half1" in out
    assert "success_rate_below_min" in out


def test_without_its_region_a_pasted_command_would_act_on_the_trap(
    two_stagings: tuple[Deployed, Deployed],
    paste: Callable[[str], tuple[int, str, str]],
    clock: ManualClock,
) -> None:
    # Given the staging alert's silence command with its --region taken out
    [command] = [c for c in staging_commands() if c.startswith("job-alerts silence")]
    assert command.endswith(" --stack staging --region eu-west-1")
    # When it runs / Then it silences the other stack of that name: why --region is printed
    code, _, err = paste(command.removesuffix(" --region eu-west-1"))
    assert code == 0, err
    sent, trap = two_stagings
    assert trap.store().active_silence(COLLECTOR, clock()) is not None
    assert sent.store().active_silence(COLLECTOR, clock()) is None


def test_pasted_command_with_no_stack_and_no_table_says_what_to_add(
    two_stagings: tuple[Deployed, Deployed], paste: Callable[[str], tuple[int, str, str]]
) -> None:
    # Given a local alert's silence command and no TABLE_NAME set
    [command] = [
        c
        for c in commands_in(render_email(to_document(CASES["alarm_success_rate"])))
        if c.startswith("job-alerts silence")
    ]
    # When it runs / Then one line says which option to add
    code, out, err = paste(command)
    assert (code, out) == (2, "")
    assert err == (
        "job-alerts: error: no deployment chosen: add --stack NAME (the stack that sent the "
        "alert) or set TABLE_NAME\n"
    )


# ---- a run of a named stack says so in what it publishes --------------------------------------
def test_run_of_a_named_stack_publishes_alerts_that_name_it(
    monitor_env: Callable[..., None],
    stack: LocalStack,
    simulator: BrightDataSimulator,
    run_cli: Run,
) -> None:
    # Given the monitor of the stack "prod" (the template passes STACK_NAME, Lambda sets
    # AWS_REGION, the account is its topic's) and a failed job
    monitor_env(STACK_NAME="prod")
    simulator.add_job("j_fail1", "c_amazon", "failed", inputs=10, success=0, fails=10, lines=0)
    # When it runs
    code, _, err = run_cli("run")
    assert code == 0, err
    # Then the alert's subject, document and attributes name the deployment
    [envelope] = stack.drain("all")
    assert envelope["Subject"].startswith("[CRITICAL] [prod] ")
    document = json.loads(envelope["Message"])
    assert document["deployment"] == {"stack": "prod", "region": "us-east-1", "account": ACCOUNT}
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert (attributes["stack"], attributes["region"], attributes["account"]) == (
        "prod",
        "us-east-1",
        ACCOUNT,
    )
    # And every command its email shows points at that deployment
    for command in commands_in(render_email(document)):
        assert command.endswith(" --stack prod --region us-east-1"), command
