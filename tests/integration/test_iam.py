"""Least privilege checked against reality: each Lambda handler runs over moto server while its AWS
calls are recorded; every call must be allowed by that function's role in the SAM-translated
template, and every grant must be used by the code or carry a documented allowance."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from job_alerts.slack import SlackDeliveryError
from local.simulator import BrightDataSimulator
from local.slack_sink import SlackSink
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN, load_event
from tests.iam_recorder import (
    INTAKE,
    MONITOR,
    RECORDER,
    SLACK_NOTIFIER,
    Call,
    Deployment,
    Need,
    arn_of,
    check,
    deployment,
)
from tests.support import load_function

# The notifier call that fails on purpose flushes no metrics, which Powertools warns about.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:No application metrics:UserWarning"),
]

COLLECTOR = "c_amazon"
# The token events/webhook.json sends.
WEBHOOK_TOKEN = "replace-with-your-intake-token"

# Grants the suite never sees used, and why they stay: (function, action, resource) -> reason.
ALLOWED_UNUSED = {
    (SLACK_NOTIFIER, "dynamodb:GetItem", "StateTable"): (
        "Powertools idempotency reads the record when a conditional put does not return it; "
        "DynamoDB and moto always return it, so the read is a fallback path"
    ),
    (SLACK_NOTIFIER, "sqs:SendMessage", "SlackDeadLetterQueue"): (
        "added by SAM for the on-failure destination; Lambda itself sends failed events"
    ),
}

# Permissions the code must exercise in these runs: proof the recording sees each path.
EXPECTED_ACTIONS = {
    MONITOR: {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "sns:Publish",
        "kms:GenerateDataKey",
        "ssm:GetParameter",
    },
    SLACK_NOTIFIER: {
        "secretsmanager:GetSecretValue",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    INTAKE: {"secretsmanager:GetSecretValue", "dynamodb:PutItem"},
}


@pytest.fixture(autouse=True)
def _fresh_parameters() -> Iterator[None]:
    """Powertools keeps parameter providers (and their clients' endpoints) across tests."""
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture(scope="module")
def deployed() -> Deployment:
    return deployment()


# The handlers below read their real process environment, set through `lambda_env` rather than
# `configure`: these tests check the deployed functions, and the recorder names each resource
# called by the variable that holds it (TABLE_NAME -> StateTable, ...).
def _stack_variables(stack: LocalStack) -> dict[str, str]:
    return {"TABLE_NAME": stack.table_name, "TOPIC_ARN": stack.topic_arn}


@pytest.fixture
def monitor_calls(
    stack: LocalStack,
    simulator: BrightDataSimulator,
    lambda_env: Callable[..., None],
    lambda_context: Any,
) -> set[Call]:
    # Given the token as an SSM SecureString and overrides as an SSM String, as deployed
    ssm = stack.client("ssm")
    token, overrides = f"/{stack.table_name}/token", f"/{stack.table_name}/thresholds"
    ssm.put_parameter(Name=token, Type="SecureString", Value=SIM_TOKEN)
    document = {"default": {"min_success_rate": 0.5}}
    ssm.put_parameter(Name=overrides, Type="String", Value=json.dumps(document))
    lambda_env(
        **_stack_variables(stack),
        BRIGHTDATA_API_URL=simulator.url,
        BRIGHTDATA_API_TOKEN=None,
        BRIGHTDATA_TOKEN_PARAMETER=token,
        THRESHOLDS_PARAMETER=overrides,
    )
    # And a failed job (an alert to publish) and a running one (a live job to come back to)
    simulator.add_collector(COLLECTOR, "amazon-products")
    simulator.add_job("j_fail1", COLLECTOR, "failed", inputs=10, success=0, fails=10, lines=0)
    simulator.add_job("j_run1", COLLECTOR, "running", inputs=10)
    app = load_function("monitor")
    # When the monitor handles a scheduled run, a track event and the next scheduled run
    with RECORDER.capture() as calls:
        app.handler(load_event("scheduled.json"), lambda_context)
        app.handler(load_event("track.json"), lambda_context)
        app.handler(load_event("scheduled.json"), lambda_context)
    assert stack.drain("all"), "the monitor should have published the failed job's alert"
    return calls


@pytest.fixture
def notifier_calls(
    stack: LocalStack, lambda_env: Callable[..., None], lambda_context: Any
) -> set[Call]:
    secrets = stack.client("secretsmanager")
    name = f"{stack.table_name}-slack"
    event = {"Records": [{"EventSource": "aws:sns", "Sns": _sns_message()}]}
    lambda_env(**_stack_variables(stack), SLACK_WEBHOOK_SECRET=name)
    app = load_function("slack_notifier")
    with SlackSink() as sink, RECORDER.capture() as calls:
        # Given a revoked webhook: the post fails and the in-progress record is deleted
        revoked = sink.url.rsplit("/", 1)[0] + "/revoked"
        secrets.create_secret(Name=name, SecretString=json.dumps({"webhook_url": revoked}))
        with pytest.raises(SlackDeliveryError):
            app.handler(event, lambda_context)
        # When the webhook is fixed and SNS delivers the message twice
        secrets.put_secret_value(SecretId=name, SecretString=json.dumps({"webhook_url": sink.url}))
        parameters.clear_caches()
        assert app.handler(event, lambda_context) == {"posted": 1, "duplicates": 0}
        assert app.handler(event, lambda_context) == {"posted": 0, "duplicates": 1}
    return calls


def _sns_message() -> dict[str, Any]:
    return {
        "MessageId": "iam-check-message-1",
        "Subject": "job-alerts test",
        "Message": json.dumps({"text": "least privilege check"}),
    }


@pytest.fixture
def intake_calls(
    stack: LocalStack, lambda_env: Callable[..., None], lambda_context: Any
) -> set[Call]:
    name = f"{stack.table_name}-intake"
    stack.client("secretsmanager").create_secret(Name=name, SecretString=WEBHOOK_TOKEN)
    lambda_env(**_stack_variables(stack), INTAKE_TOKEN_SECRET=name)
    app = load_function("intake")
    with RECORDER.capture() as calls:
        response = app.handler(load_event("webhook.json"), lambda_context)
    assert response["statusCode"] == 202, response
    return calls


def _actions(calls: set[Call]) -> set[str]:
    return {c.need.action for c in calls}


@pytest.mark.parametrize(
    ("function", "fixture"),
    [
        (MONITOR, "monitor_calls"),
        (SLACK_NOTIFIER, "notifier_calls"),
        (INTAKE, "intake_calls"),
    ],
)
def test_iam_function_calls_are_allowed_by_its_role(
    request: pytest.FixtureRequest, deployed: Deployment, function: str, fixture: str
) -> None:
    # Given the AWS calls one handler made (recorded in the fixture)
    calls: set[Call] = request.getfixturevalue(fixture)

    # When they are checked against the translated template's role of that function
    report = check(calls, deployed)

    # Then every call is the handler's own, covers the expected paths, and is allowed
    assert {c.function for c in calls} == {function}
    assert _actions(calls) >= EXPECTED_ACTIONS[function]
    assert report.missing == [], report.table()


def test_iam_roles_grant_nothing_the_code_does_not_use(
    deployed: Deployment,
    monitor_calls: set[Call],
    notifier_calls: set[Call],
    intake_calls: set[Call],
) -> None:
    # Given every function's calls / When checked against all roles
    report = check(monitor_calls | notifier_calls | intake_calls, deployed)
    print(report.table(ALLOWED_UNUSED))

    # Then each grant was used, or is a documented allowance that is still needed
    assert report.missing == []
    assert report.unexplained_unused(ALLOWED_UNUSED) == [], report.table(ALLOWED_UNUSED)
    unused = {(fn, g.action, g.resource) for fn, g in report.unused}
    stale = [
        key for key in ALLOWED_UNUSED if (*key[:2], arn_of(key[2], deployed.arns)) not in unused
    ]
    assert stale == [], "allowances for grants the code now uses (or that are gone)"


@pytest.mark.parametrize(
    ("function", "need"),
    [
        # The public intake URL must never reach the Slack webhook or Bright Data token.
        (INTAKE, Need("secretsmanager:GetSecretValue", "SlackWebhookSecret")),
        (INTAKE, Need("ssm:GetParameter", "BrightDataTokenParameter")),
        (INTAKE, Need("dynamodb:PutItem", "StateTable", leading_keys=("COLLECTOR#c_x",))),
        (INTAKE, Need("dynamodb:UpdateItem", "StateTable", leading_keys=("JOB#j_x",))),
        (INTAKE, Need("dynamodb:Query", "StateTable/index/gsi1")),
        # The notifier only posts: no publishing (loops), no state beyond its own records.
        (SLACK_NOTIFIER, Need("sns:Publish", "AlertTopic")),
        (SLACK_NOTIFIER, Need("secretsmanager:GetSecretValue", "IntakeTokenSecret")),
        (SLACK_NOTIFIER, Need("dynamodb:PutItem", "StateTable", leading_keys=("JOB#j_x",))),
        (SLACK_NOTIFIER, Need("dynamodb:Query", "StateTable")),
        (MONITOR, Need("secretsmanager:GetSecretValue", "SlackWebhookSecret")),
        (MONITOR, Need("secretsmanager:GetSecretValue", "IntakeTokenSecret")),
        (MONITOR, Need("dynamodb:Scan", "StateTable")),
        (MONITOR, Need("dynamodb:DeleteTable", "StateTable")),
    ],
)
def test_iam_role_denies_what_the_function_must_not_do(
    deployed: Deployment, function: str, need: Need
) -> None:
    # Given a permission the function must not have / When checked against its role
    report = check([Call(function, need)], deployed)

    # Then it is denied
    assert [call.need for call, _ in report.missing] == [need]


def test_iam_slack_notifier_role_cannot_publish_anywhere(deployed: Deployment) -> None:
    # Given every grant of the notifier / Then none allows sns:Publish, on any resource
    publish = Need("sns:Publish", "AlertTopic")
    grants = deployed.policies[SLACK_NOTIFIER].grants
    assert not [g for g in grants if g.allows(publish, g.resource)]
