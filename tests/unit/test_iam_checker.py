"""The IAM checker of tests/iam_recorder.py on hand-written policies: calls mapped to the
permissions they need, grants matched by action, resource and leading-key condition, missing and
unused permissions reported, and calls attributed to the right function by their call stack."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from tests.iam_recorder import (
    INTAKE,
    MONITOR,
    ROOT,
    SLACK_NOTIFIER,
    Call,
    Deployment,
    FunctionPolicy,
    Grant,
    Need,
    attribute,
    check,
    grants_of,
    needs_for,
)

ARNS = {
    "StateTable": "arn:aws:dynamodb:us-east-1:1:table/state",
    "AlertTopic": "arn:aws:sns:us-east-1:1:alerts",
    "AlertTopicKey": "arn:aws:kms:us-east-1:1:key/k",
    "SlackWebhookSecret": "arn:aws:secretsmanager:us-east-1:1:secret:slack-AbC",
}
TABLE = ARNS["StateTable"]
ENVIRON = {"TABLE_NAME": "local-state", "SLACK_WEBHOOK_SECRET": "local-slack"}


def _deployment(function: str, *grants: Grant) -> Deployment:
    return Deployment({function: FunctionPolicy(function, grants)}, dict(ARNS))


def _calls(function: str, *needs: Need) -> list[Call]:
    return [Call(function, need) for need in needs]


# ------------------------------------------------------------------ reporting


def test_iam_checker_reports_a_missing_action() -> None:
    # Given a role allowing PutItem only
    deployed = _deployment(INTAKE, Grant("Jobs", "dynamodb:PutItem", TABLE))

    # When the code also updated an item
    report = check(
        _calls(
            INTAKE,
            Need("dynamodb:PutItem", "StateTable"),
            Need("dynamodb:UpdateItem", "StateTable"),
        ),
        deployed,
    )

    # Then exactly the update is reported as not allowed
    assert [(c.need.action, why) for c, why in report.missing] == [
        ("dynamodb:UpdateItem", "no statement allows it")
    ]
    assert "MISSING" in report.table()


def test_iam_checker_reports_a_resource_mismatch() -> None:
    # Given Query allowed on the table, not on its indexes
    deployed = _deployment(MONITOR, Grant("Q", "dynamodb:Query", TABLE))

    # When the code queried the index
    report = check(_calls(MONITOR, Need("dynamodb:Query", "StateTable/index/gsi1")), deployed)

    # Then the call is reported
    assert [c.need.resource for c, _ in report.missing] == ["StateTable/index/gsi1"]


def test_iam_checker_reports_an_unused_grant_and_its_allowance() -> None:
    # Given a role with GetItem and PutItem, and code that only puts
    get = Grant("Items", "dynamodb:GetItem", TABLE)
    deployed = _deployment(SLACK_NOTIFIER, get, Grant("Items", "dynamodb:PutItem", TABLE))

    # When checked
    report = check(_calls(SLACK_NOTIFIER, Need("dynamodb:PutItem", "StateTable")), deployed)

    # Then GetItem is unused, unexplained until an allowance names it
    assert report.missing == []
    assert report.unused == [(SLACK_NOTIFIER, get)]
    assert report.unexplained_unused({}) == [(SLACK_NOTIFIER, get)]
    allowance = {(SLACK_NOTIFIER, "dynamodb:GetItem", "StateTable"): "fallback read"}
    assert report.unexplained_unused(allowance) == []
    assert "UNUSED, allowed: fallback read" in report.table(allowance)


@pytest.mark.parametrize(
    ("need", "reason"),
    [
        (Need("dynamodb:PutItem", "unknown table other"), "resource not in the stack"),
        (Need("dynamodb:PutItem", "StateTable"), "function not deployed"),
    ],
)
def test_iam_checker_reports_unknown_resources_and_functions(need: Need, reason: str) -> None:
    # Given a deployment without the Slack notifier
    deployed = _deployment(MONITOR, Grant("Items", "dynamodb:*", TABLE))
    function = MONITOR if reason != "function not deployed" else SLACK_NOTIFIER

    # When a call names something the stack does not have / Then it is reported
    assert [why for _, why in check(_calls(function, need), deployed).missing] == [reason]


def test_iam_checker_takes_key_policy_grants_as_allowed() -> None:
    # Given an SSM SecureString read: the aws/ssm key is usable through its own key policy
    deployed = _deployment(MONITOR)
    needs = [Need("kms:Decrypt", "aws/ssm key", implied=True)]

    # When checked / Then nothing is missing and the table says why
    report = check(_calls(MONITOR, *needs), deployed)
    assert report.missing == []
    assert "granted by key policy" in report.table()


# ------------------------------------------------------------------ grant matching


@pytest.mark.parametrize(
    ("grant", "need", "arn", "allowed"),
    [
        (Grant("s", "kms:GenerateDataKey*", "k"), Need("kms:GenerateDataKey", "K"), "k", True),
        (Grant("s", "DynamoDB:getitem", TABLE), Need("dynamodb:GetItem", "T"), TABLE, True),
        (Grant("s", "dynamodb:*", f"{TABLE}/index/*"), Need("dynamodb:Query", "T"), TABLE, False),
        (
            Grant("s", "dynamodb:Query", f"{TABLE}/index/gsi1"),
            Need("dynamodb:Query", "I"),
            f"{TABLE}/index/gsi2",
            False,
        ),
        (
            Grant("s", "ssm:GetParameter", "arn:p/a"),
            Need("ssm:GetParameters", "P"),
            "arn:p/a",
            False,
        ),
    ],
)
def test_iam_grant_matches_action_and_resource_patterns(
    grant: Grant, need: Need, arn: str, allowed: bool
) -> None:
    assert grant.allows(need, arn) is allowed


@pytest.mark.parametrize(
    ("condition", "keys", "allowed"),
    [
        ({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["JOB#*"]}}, ("JOB#j_1",), True),
        (
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["JOB#*"]}},
            ("JOB#j_1", "ALERT#a"),
            False,
        ),
        ({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["IDEM"]}}, ("IDEM",), True),
        # StringEquals takes "*" literally.
        ({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["JOB#*"]}}, ("JOB#j_1",), False),
        # A call whose keys are unknown (a Query) cannot be shown to meet the condition.
        ({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*"]}}, None, False),
    ],
)
def test_iam_grant_evaluates_the_leading_keys_condition(
    condition: dict[str, Any], keys: tuple[str, ...] | None, allowed: bool
) -> None:
    # Given a statement limited to some partition keys
    statement = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Condition": condition}
    [grant] = grants_of(statement, [TABLE])

    # When a put touches these keys / Then it is allowed only within the condition
    assert grant.allows(Need("dynamodb:PutItem", "StateTable", leading_keys=keys), TABLE) is allowed


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "sns:Publish"},
        {"Effect": "Allow", "NotAction": "sns:Publish"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Condition": {"Bool": {"aws:X": "true"}}},
    ],
)
def test_iam_grants_refuse_statements_they_cannot_evaluate(statement: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cannot evaluate"):
        grants_of(statement, ["*"])


# ------------------------------------------------------------------ calls -> needs


def test_iam_needs_of_a_transaction_are_its_item_actions() -> None:
    # Given a transaction with a put, an update, a delete and a condition check
    items = [
        {"Put": {"TableName": "local-state", "Item": {"pk": {"S": "ALERT#a"}}}},
        {"Update": {"TableName": "local-state", "Key": {"pk": {"S": "ALERT#a"}}}},
        {"Delete": {"TableName": "local-state", "Key": {"pk": {"S": "OUTBOX"}}}},
        {"ConditionCheck": {"TableName": "local-state", "Key": {"pk": {"S": "MONITOR"}}}},
    ]

    # When mapped / Then IAM sees each item's own action on the table named by TABLE_NAME
    needs = needs_for("dynamodb", "TransactWriteItems", {"TransactItems": items}, ENVIRON)
    assert [(n.action, n.resource, n.leading_keys) for n in needs] == [
        ("dynamodb:PutItem", "StateTable", ("ALERT#a",)),
        ("dynamodb:UpdateItem", "StateTable", ("ALERT#a",)),
        ("dynamodb:DeleteItem", "StateTable", ("OUTBOX",)),
        ("dynamodb:ConditionCheckItem", "StateTable", ("MONITOR",)),
    ]


@pytest.mark.parametrize(
    ("prefix", "operation", "params", "expected"),
    [
        (
            "dynamodb",
            "Query",
            {"TableName": "local-state", "IndexName": "gsi1"},
            [Need("dynamodb:Query", "StateTable/index/gsi1")],
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {
                "RequestItems": {
                    "local-state": [
                        {"PutRequest": {"Item": {"pk": {"S": "JOB#b"}}}},
                        {"DeleteRequest": {"Key": {"pk": {"S": "JOB#a"}}}},
                    ]
                }
            },
            [Need("dynamodb:BatchWriteItem", "StateTable", leading_keys=("JOB#a", "JOB#b"))],
        ),
        (
            "sns",
            "Publish",
            {"TopicArn": "arn:local:topic"},
            [
                Need("sns:Publish", "AlertTopic"),
                Need("kms:GenerateDataKey", "AlertTopicKey", implied=True),
                Need("kms:Decrypt", "AlertTopicKey", implied=True),
            ],
        ),
        (
            "ssm",
            "GetParameter",
            {"Name": "/other", "WithDecryption": True},
            [
                Need("ssm:GetParameter", "unknown parameter /other"),
                Need("kms:Decrypt", "aws/ssm key", implied=True),
            ],
        ),
        (
            "secretsmanager",
            "GetSecretValue",
            {"SecretId": "local-slack"},
            [
                Need("secretsmanager:GetSecretValue", "SlackWebhookSecret"),
                Need("kms:Decrypt", "aws/secretsmanager key", implied=True),
            ],
        ),
        ("sqs", "ReceiveMessage", {"QueueUrl": "q"}, [Need("sqs:ReceiveMessage", "*")]),
    ],
)
def test_iam_needs_for_each_kind_of_call(
    prefix: str, operation: str, params: dict[str, Any], expected: list[Need]
) -> None:
    assert list(needs_for(prefix, operation, params, ENVIRON)) == expected


# ------------------------------------------------------------------ attribution


def _stack_through(*files: str) -> Callable[[], FrameType]:
    """A function whose frame sits under frames "in" each file, outermost first (code compiled
    with those file names), so attribution sees the same stack as real calls would."""

    def innermost() -> FrameType:
        return sys._getframe()

    inner: Callable[[], FrameType] = innermost
    for path in reversed(files):
        namespace: dict[str, Any] = {"inner": inner}
        code = compile("def call():\n    return inner()\n", str(ROOT / path), "exec")
        exec(code, namespace)
        inner = namespace["call"]
    return inner


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["functions/monitor/app.py", "layers/common/job_alerts/state.py"], MONITOR),
        (["functions/intake/app.py", "layers/common/job_alerts/service.py"], INTAKE),
        (["layers/common/job_alerts/slack.py"], SLACK_NOTIFIER),
        (["layers/common/job_alerts/cli/app.py", "layers/common/job_alerts/service.py"], None),
        (["local/demo.py", "functions/monitor/app.py"], None),
        # The state store used directly by a test is no Lambda's call.
        (["layers/common/job_alerts/state.py"], None),
    ],
)
def test_iam_call_is_attributed_to_the_outermost_entry_point(
    files: list[str], expected: str | None
) -> None:
    assert attribute(_stack_through(*files)()) == expected
