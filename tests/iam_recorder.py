"""IAM least privilege checked against what the code really does: a pytest plugin that records
every AWS call the Lambda code makes (per function), and the checker that compares those calls
with the function roles of the SAM-translated template.

Recording hooks botocore's `before-parameter-build` event on every client created while pytest
runs; a call is attributed to a function by the outermost Lambda entry module on the stack
(calls from the CLI, local tooling and tests' own setup are not a Lambda's and are ignored)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MONITOR = "MonitorFunction"
SLACK_NOTIFIER = "SlackNotifierFunction"
INTAKE = "IntakeFunction"
FUNCTIONS = (MONITOR, SLACK_NOTIFIER, INTAKE)
# The scenario of tests/integration/test_template.py that deploys every function and option.
FULL_SCENARIO = "everything"

_CODE = ROOT / "layers" / "common" / "job_alerts"
# File -> the function whose code it is; None: not a Lambda (CLI). The outermost match wins, so
# service.track_jobs under functions/intake/app.py is the intake's, under the CLI nobody's.
_ENTRY_FILES: dict[str, str | None] = {
    str(ROOT / "functions" / "monitor" / "app.py"): MONITOR,
    str(ROOT / "functions" / "slack_notifier" / "app.py"): SLACK_NOTIFIER,
    str(ROOT / "functions" / "intake" / "app.py"): INTAKE,
    str(_CODE / "service.py"): MONITOR,
    str(_CODE / "monitor.py"): MONITOR,
    str(_CODE / "slack.py"): SLACK_NOTIFIER,
    str(_CODE / "intake.py"): INTAKE,
    str(_CODE / "__main__.py"): None,
}
# Local tooling (stack provisioning, demo, simulator), scripts and the CLI are never a Lambda.
_IGNORED_DIRS = (
    str(ROOT / "local") + os.sep,
    str(ROOT / "scripts") + os.sep,
    str(_CODE / "cli") + os.sep,
)
_NOT_AN_ENTRY = "-"

# Environment variable naming a resource -> the template resource it stands for.
ENV_ROLES = {
    "TABLE_NAME": "StateTable",
    "TOPIC_ARN": "AlertTopic",
    "BRIGHTDATA_TOKEN_PARAMETER": "BrightDataTokenParameter",
    "THRESHOLDS_PARAMETER": "ThresholdsParameter",
    "SLACK_WEBHOOK_SECRET": "SlackWebhookSecret",
    "INTAKE_TOKEN_SECRET": "IntakeTokenSecret",
}
# The stack has exactly one table and one topic, so a test that hands the code its own table or
# topic without setting the variable still means these.
_SINGLETON_ROLES = {"table": "StateTable", "topic": "AlertTopic"}
# Implied KMS use on AWS managed keys: their key policies let every principal of the account use
# them through the owning service, so no identity-policy statement is needed (or possible).
KEY_POLICY_ROLES = {
    "aws/ssm key": "AWS managed key; its key policy allows use via SSM in this account",
    "aws/secretsmanager key": (
        "AWS managed key; its key policy allows use via Secrets Manager in this account"
    ),
}
# What SAM's managed policies grant: Lambda's own logging and X-Ray, never called by our code.
MANAGED_POLICY_GRANTS = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        "logs:CreateLogGroup/CreateLogStream/PutLogEvents *"
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        "xray:PutTraceSegments/PutTelemetryRecords/GetSampling* *"
    ),
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
PARTITION_KEY = "pk"


# ------------------------------------------------------------------ what a call needs


@dataclass(frozen=True, order=True)
class Need:
    """One IAM permission a call needs. `resource` is a template resource name (with an
    `/index/<name>` suffix for a DynamoDB index); `implied` marks a permission AWS uses on the
    caller's behalf (KMS behind SNS, SSM, Secrets Manager); `leading_keys` are the partition
    keys an item operation touches (None when not item-level)."""

    action: str
    resource: str
    implied: bool = False
    leading_keys: tuple[str, ...] | None = None


@dataclass(frozen=True, order=True)
class Call:
    function: str
    need: Need


def _role(kind: str, name: str, environ: Mapping[str, str]) -> str:
    for variable, role in ENV_ROLES.items():
        if environ.get(variable) == name:
            return role
    return _SINGLETON_ROLES.get(kind, f"unknown {kind} {name}")


def _scalar(value: Any) -> str:
    """A key attribute in the low-level form ({"S": "x"}) or plain."""
    if isinstance(value, Mapping):
        return str(next(iter(value.values()), ""))
    return str(value)


def _keys(items: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({_scalar(item.get(PARTITION_KEY)) for item in items}))


def needs_for(
    prefix: str, operation: str, params: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Need, ...]:
    """The IAM permissions one API call needs (service prefix as IAM spells it)."""
    if prefix == "dynamodb":
        return _dynamodb_needs(operation, params, environ)
    if prefix == "sns" and operation == "Publish":
        topic = _role("topic", str(params.get("TopicArn") or params.get("TargetArn")), environ)
        key = "AlertTopicKey" if topic == "AlertTopic" else f"key of {topic}"
        return (
            Need("sns:Publish", topic),
            Need("kms:GenerateDataKey", key, implied=True),
            Need("kms:Decrypt", key, implied=True),
        )
    if prefix == "ssm" and operation in {"GetParameter", "GetParameters"}:
        names = params.get("Names") or [params.get("Name")]
        found = [Need(f"ssm:{operation}", _role("parameter", str(n), environ)) for n in names]
        if params.get("WithDecryption"):
            found.append(Need("kms:Decrypt", "aws/ssm key", implied=True))
        return tuple(found)
    if prefix == "secretsmanager" and operation == "GetSecretValue":
        secret = _role("secret", str(params.get("SecretId")), environ)
        return (
            Need("secretsmanager:GetSecretValue", secret),
            Need("kms:Decrypt", "aws/secretsmanager key", implied=True),
        )
    return (Need(f"{prefix}:{operation}", "*"),)


def _dynamodb_needs(
    operation: str, params: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Need, ...]:
    def table(name: Any) -> str:
        return _role("table", str(name), environ)

    if operation in {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}:
        item = params.get("Key") or params.get("Item") or {}
        return (Need(f"dynamodb:{operation}", table(params["TableName"]), False, _keys([item])),)
    if operation in {"Query", "Scan"}:
        resource = table(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return (Need(f"dynamodb:{operation}", resource),)
    if operation == "BatchGetItem":
        return tuple(
            Need("dynamodb:BatchGetItem", table(name), False, _keys(request["Keys"]))
            for name, request in params["RequestItems"].items()
        )
    if operation == "BatchWriteItem":
        return tuple(
            Need(
                "dynamodb:BatchWriteItem",
                table(name),
                False,
                _keys(
                    (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {})["Key"]
                    for r in requests
                ),
            )
            for name, requests in params["RequestItems"].items()
        )
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        # IAM authorizes a transaction item by item, with the single-item actions.
        found = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            item = body.get("Key") or body.get("Item") or {}
            found.append(
                Need(
                    f"dynamodb:{_TRANSACT_ACTIONS[kind]}",
                    table(body["TableName"]),
                    False,
                    _keys([item]),
                )
            )
        return tuple(found)
    name = params.get("TableName")
    return (Need(f"dynamodb:{operation}", table(name) if name else "*"),)


# ------------------------------------------------------------------ attribution


@functools.lru_cache(maxsize=4096)
def _entry_of(filename: str) -> str | None:
    """The function a source file belongs to; None for non-Lambda entry points; "-" when the
    file says nothing (libraries, tests, pytest)."""
    if filename in _ENTRY_FILES:
        return _ENTRY_FILES[filename]
    if filename.startswith(_IGNORED_DIRS):
        return None
    return _NOT_AN_ENTRY


def _attribute_stack(frame: FrameType | None) -> str | None:
    outermost: str | None = _NOT_AN_ENTRY
    while frame is not None:
        entry = _entry_of(frame.f_code.co_filename)
        if entry != _NOT_AN_ENTRY:
            outermost = entry
        frame = frame.f_back
    return outermost


def attribute(frame: FrameType | None) -> str | None:
    """The Lambda function whose code made the call on this stack, or None. A call made in an
    executor worker (the monitor reads Bright Data in a thread pool) has no caller frames of its
    own; it belongs to whatever the main thread, which waits on the pool, is running."""
    found = _attribute_stack(frame)
    if found == _NOT_AN_ENTRY and threading.current_thread() is not threading.main_thread():
        worker = frame
        while worker is not None and not worker.f_code.co_filename.endswith(
            os.path.join("concurrent", "futures", "thread.py")
        ):
            worker = worker.f_back
        if worker is not None:
            main = sys._current_frames().get(threading.main_thread().ident or -1)
            found = _attribute_stack(main)
    return None if found == _NOT_AN_ENTRY else found


# ------------------------------------------------------------------ recording


class Recorder:
    """Collects Calls from every botocore client created while installed."""

    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self._sinks: list[set[Call]] = []
        self._original: Any = None

    def install(self) -> None:
        from botocore.session import Session

        if self._original is not None:
            return
        original = Session.create_client
        on_call = self._on_call

        @functools.wraps(original)
        def create_client(session: Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            # Emitted once per API call (not per retry), with the caller's own parameters.
            client.meta.events.register("before-parameter-build", on_call)
            return client

        self._original = original
        Session.create_client = create_client

    def uninstall(self) -> None:
        from botocore.session import Session

        if self._original is not None:
            Session.create_client = self._original
            self._original = None

    @contextlib.contextmanager
    def capture(self) -> Iterator[set[Call]]:
        """The calls made inside the block (they are recorded for the session as well)."""
        sink: set[Call] = set()
        self._sinks.append(sink)
        try:
            yield sink
        finally:
            self._sinks.remove(sink)

    def _on_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = attribute(sys._getframe(1))
        if function is None:
            return
        prefix = model.service_model.signing_name
        for need in needs_for(prefix, model.name, params, os.environ):
            call = Call(function, need)
            self.calls.add(call)
            for sink in self._sinks:
                sink.add(call)


RECORDER = Recorder()


def write_calls(calls: Iterable[Call], path: Path) -> None:
    rows = [
        {
            "function": c.function,
            "action": c.need.action,
            "resource": c.need.resource,
            "implied": c.need.implied,
            "leading_keys": c.need.leading_keys,
        }
        for c in sorted(calls)
    ]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


# ------------------------------------------------------------------ policies


def _iam_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    text = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(text, re.IGNORECASE if ignore_case else 0)


@dataclass(frozen=True, order=True)
class Grant:
    """One (action, resource) pair an Allow statement grants. `leading_keys` holds the
    statement's dynamodb:LeadingKeys condition as (operator, values), if it has one."""

    sid: str
    action: str
    resource: str
    leading_keys: tuple[str, tuple[str, ...]] | None = None

    def allows(self, need: Need, arn: str) -> bool:
        if not _iam_pattern(self.action, ignore_case=True).fullmatch(need.action):
            return False
        if not _iam_pattern(self.resource).fullmatch(arn):
            return False
        if self.leading_keys is None:
            return True
        if need.leading_keys is None:
            return False  # the condition cannot be shown to hold
        operator, values = self.leading_keys
        patterns = [
            _iam_pattern(v) if operator.endswith("Like") else re.compile(re.escape(v))
            for v in values
        ]
        return all(any(p.fullmatch(key) for p in patterns) for key in need.leading_keys)


@dataclass(frozen=True)
class FunctionPolicy:
    function: str
    grants: tuple[Grant, ...]
    managed: tuple[str, ...] = ()


_SUPPORTED_KEY_CONDITIONS = {"ForAllValues:StringEquals", "ForAllValues:StringLike"}


def grants_of(statement: Mapping[str, Any], resources: list[str]) -> list[Grant]:
    """The grants of one rendered statement; anything the checker cannot evaluate exactly
    (Deny, NotAction, other conditions) is an error rather than a silent pass."""
    unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
    if statement.get("Effect") != "Allow" or unsupported:
        raise ValueError(f"statement the checker cannot evaluate: {statement}")
    leading_keys = None
    condition = statement.get("Condition")
    if condition:
        ((operator, test),) = condition.items()
        ((key, values),) = test.items()
        if operator not in _SUPPORTED_KEY_CONDITIONS or key != "dynamodb:LeadingKeys":
            raise ValueError(f"condition the checker cannot evaluate: {condition}")
        leading_keys = (operator, tuple(values if isinstance(values, list) else [values]))
    actions = statement["Action"]
    sid = str(statement.get("Sid", "(SAM)"))
    return [
        Grant(sid, action, resource, leading_keys)
        for action in (actions if isinstance(actions, list) else [actions])
        for resource in resources
    ]


def resource_arns(params: Mapping[str, str], region: str, account: str) -> dict[str, str]:
    """Template resource name -> its ARN as test_template's _render writes policy resources
    (stack resources as <Name.Attribute>, user-named ones as real ARNs)."""
    ssm = f"arn:aws:ssm:{region}:{account}:parameter"
    arns = {
        "StateTable": "<StateTable.Arn>",
        "AlertTopic": "<AlertTopic>",
        "AlertTopicKey": "<AlertTopicKey.Arn>",
        "IntakeTokenSecret": "<IntakeTokenSecret>",
        "SlackDeadLetterQueue": "<SlackDeadLetterQueue.Arn>",
        "BrightDataTokenParameter": f"{ssm}{params['BrightDataTokenParameterName']}",
    }
    if params.get("ThresholdsParameterName"):
        arns["ThresholdsParameter"] = f"{ssm}{params['ThresholdsParameterName']}"
    if params.get("SlackWebhookSecretArn"):
        arns["SlackWebhookSecret"] = params["SlackWebhookSecretArn"]
    return arns


def arn_of(resource: str, arns: Mapping[str, str]) -> str | None:
    base, sep, rest = resource.partition("/")
    return arns[base] + sep + rest if base in arns else None


@dataclass(frozen=True)
class Deployment:
    """One translated scenario: each function's policy, and where its resources live."""

    policies: dict[str, FunctionPolicy]
    arns: dict[str, str]


def function_policies(template: dict[str, Any]) -> dict[str, FunctionPolicy]:
    """Each Lambda function's role, from a translated and resolved template."""
    from tests.integration.test_template import _inline_statements, _render

    policies = {}
    for name, body in template["Resources"].items():
        if body["Type"] != "AWS::Lambda::Function":
            continue
        role_name = body["Properties"]["Role"]["Fn::GetAtt"][0]
        role = template["Resources"][role_name]
        grants: list[Grant] = []
        for statement in _inline_statements(role):
            rendered = _render(statement["Resource"], template)
            grants += grants_of(statement, rendered if isinstance(rendered, list) else [rendered])
        managed = tuple(role["Properties"].get("ManagedPolicyArns", []))
        policies[name] = FunctionPolicy(name, tuple(grants), managed)
    return policies


@functools.cache
def deployment(scenario: str = FULL_SCENARIO) -> Deployment:
    """The SAM transform of template.yaml for one of test_template's scenarios (imported
    lazily: only sessions that recorded calls pay for the translator)."""
    from samtranslator.translator.transform import transform

    from local.cfn_yaml import load_template, parameter_values, resolve
    from tests.integration import test_template as spec

    params = spec.SCENARIOS[scenario]
    source = load_template(spec.TEMPLATE_PATH)
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = spec.REGION
    try:
        translated = transform(spec._as_packaged(source), dict(params), spec._NoManagedPolicies())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
    template = resolve(translated, params)
    return Deployment(
        function_policies(template),
        resource_arns(parameter_values(source, params), spec.REGION, spec.ACCOUNT),
    )


# ------------------------------------------------------------------ the check


@dataclass
class IamReport:
    missing: list[tuple[Call, str]] = field(default_factory=list)  # call, why not allowed
    unused: list[tuple[str, Grant]] = field(default_factory=list)
    used: dict[tuple[str, str, str], str] = field(default_factory=dict)  # fn, action, res -> how
    managed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def _reasons(self, allowances: Mapping[tuple[str, str, str], str]) -> dict[Any, str]:
        return {(fn, a, arn_of(r, self.arns)): why for (fn, a, r), why in allowances.items()}

    def unexplained_unused(
        self, allowances: Mapping[tuple[str, str, str], str]
    ) -> list[tuple[str, Grant]]:
        """Unused grants not covered by an allowance keyed (function, action, resource name)."""
        reasons = self._reasons(allowances)
        return [(fn, g) for fn, g in self.unused if (fn, g.action, g.resource) not in reasons]

    def table(self, allowances: Mapping[tuple[str, str, str], str] | None = None) -> str:
        """One row per permission: used / implied / unused (with its allowance) / missing."""
        rows = [("function", "action", "resource", "status")]
        rows += [(fn, a, r, how) for (fn, a, r), how in sorted(self.used.items())]
        reasons = self._reasons(allowances or {})
        for fn, grant in sorted(self.unused):
            why = reasons.get((fn, grant.action, grant.resource))
            status = f"UNUSED, allowed: {why}" if why else "UNUSED"
            rows.append((fn, grant.action, grant.resource, status))
        for call, why in sorted(self.missing):
            rows.append((call.function, call.need.action, call.need.resource, f"MISSING: {why}"))
        for fn, arns in sorted(self.managed.items()):
            for arn in arns:
                granted = MANAGED_POLICY_GRANTS.get(arn, "unknown managed policy")
                rows.append((fn, granted, arn.rsplit("/", 1)[-1], "infrastructure"))
        widths = [min(60, max(len(row[i]) for row in rows)) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in rows
        )


def check(calls: Iterable[Call], deployed: Deployment) -> IamReport:
    """Every recorded call against its function's policy, and every grant against the calls."""
    report = IamReport(
        managed={fn: p.managed for fn, p in deployed.policies.items()}, arns=deployed.arns
    )
    used_grants: set[tuple[str, Grant]] = set()
    for call in sorted(set(calls)):
        fn, need = call.function, call.need
        how = "implied, used" if need.implied else "used"
        if need.resource in KEY_POLICY_ROLES:
            report.used[(fn, need.action, need.resource)] = "implied, granted by key policy"
            continue
        policy = deployed.policies.get(fn)
        arn = arn_of(need.resource, deployed.arns)
        if policy is None:
            report.missing.append((call, "function not deployed"))
            continue
        if arn is None:
            report.missing.append((call, "resource not in the stack"))
            continue
        matching = [g for g in policy.grants if g.allows(need, arn)]
        if not matching:
            report.missing.append((call, "no statement allows it"))
            continue
        used_grants.update((fn, g) for g in matching)
        report.used[(fn, need.action, need.resource)] = how
    report.unused = sorted(
        (fn, g)
        for fn, policy in deployed.policies.items()
        for g in policy.grants
        if (fn, g) not in used_grants
    )
    return report


# ------------------------------------------------------------------ pytest plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iam", "least-privilege check of the Lambda roles")
    group.addoption(
        "--iam-report", action="store_true", help="print the per-function IAM usage table"
    )
    group.addoption(
        "--iam-calls",
        metavar="PATH",
        default=os.environ.get("JOB_ALERTS_IAM_CALLS"),
        help="write the recorded AWS calls as JSON (env JOB_ALERTS_IAM_CALLS)",
    )


def pytest_configure(config: pytest.Config) -> None:
    RECORDER.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    RECORDER.uninstall()


_REPORT_KEY = pytest.StashKey[IamReport]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when the Lambda code made a call its role would be denied."""
    if not RECORDER.calls:
        return
    if session.config.option.iam_calls:
        write_calls(RECORDER.calls, Path(session.config.option.iam_calls))
    report = check(RECORDER.calls, deployment())
    session.config.stash[_REPORT_KEY] = report
    if report.missing and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT_KEY, None)
    if report is None:
        return
    if report.missing or config.option.iam_report:
        terminalreporter.section("IAM: AWS calls of the Lambda code vs. their roles")
        terminalreporter.write_line(report.table())
    counts: defaultdict[str, int] = defaultdict(int)
    for fn, _, _ in report.used:
        counts[fn] += 1
    summary = ", ".join(f"{fn} {n}" for fn, n in sorted(counts.items()))
    verdict = f"{len(report.missing)} DENIED" if report.missing else "all allowed"
    terminalreporter.write_line(
        f"IAM check: permissions used ({summary}): {verdict}; "
        f"{len(report.unused)} grants unused in this run (--iam-report for the table)"
    )
