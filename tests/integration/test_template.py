"""The SAM template as a specification: it transforms, and what it would deploy keeps the
contracts (environment names, table keys, encryption, least privilege, alerting wiring)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.translator.transform import transform

from job_alerts.config import ConfigError, Settings
from job_alerts.monitor import RunSummary
from job_alerts.observability import metrics
from job_alerts.rules import Rule
from job_alerts.service import (
    TRACK_DETAIL_TYPE,
    TRACK_SOURCE,
    emit_dimensioned_metrics,
    emit_metrics,
)
from job_alerts.thresholds import COLLECTOR_ID_PATTERN, Thresholds, thresholds_from_env
from local.cfn_yaml import evaluate_conditions, load_template, parameter_values, resolve
from local.simulator import BrightDataSimulator
from tests.conftest import Configure, load_event
from tests.support import failed_job, load_function

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "stack"  # what _render makes of AWS::StackName
NAMESPACE = "BrightDataJobAlerts"
SLACK_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:job-alerts/slack-AbCdEf"

# The environment variables the code reads in Lambda (CONTRACTS.md). BRIGHTDATA_API_TOKEN and
# THRESHOLDS_FILE are local-only and must never be set by the template.
CONTRACT_ENV = frozenset(
    {
        "TABLE_NAME",
        "TOPIC_ARN",
        "BRIGHTDATA_API_URL",
        "BRIGHTDATA_TOKEN_PARAMETER",
        "THRESHOLDS_PARAMETER",
        "COLLECTORS",
        "LOOKBACK_DAYS",
        "MAX_CONCURRENCY",
        "MIN_SUCCESS_RATE",
        "MAX_FAILS",
        "MAX_FAIL_RATIO",
        "MAX_QUEUE_MINUTES",
        "MAX_RUN_MINUTES",
        "MIN_LINES",
        "MIN_LINES_VS_MEDIAN",
        "MAX_SILENCE_FACTOR",
        "MAX_RERUNS_PER_DAY",
        "RERUN_COLLECTORS",
        "ALARM_AFTER",
        "ALARM_WINDOW",
        "REPEAT_AFTER_MINUTES",
        "ALERT_MODE",
        "SLACK_WEBHOOK_SECRET",
        "INTAKE_TOKEN_SECRET",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "STACK_NAME",
    }
)

# Parameter sets a user can deploy with; each is transformed and checked.
SCENARIOS: dict[str, dict[str, str]] = {
    "defaults": {},
    "everything": {
        "AlertEmail": "ops@example.com",
        "SlackWebhookSecretArn": SLACK_SECRET_ARN,
        "ThresholdsParameterName": "/job-alerts/thresholds",
        "Collectors": "c_abc, c_def",
        "MaxFailRatio": "0.2",
        "RerunCollectors": "c_abc, c_def",
        "MinLinesVsMedian": "off",
        "IntakeReservedConcurrency": "5",
    },
    "minimal": {"EnableWebhookIntake": "false"},
}

# Managed policies SAM attaches, and why their "*" resources are acceptable.
ALLOWED_MANAGED_POLICIES = {
    # logs:CreateLogGroup/CreateLogStream/PutLogEvents; Lambda's own execution logging.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    # X-Ray PutTraceSegments/PutTelemetryRecords cannot be scoped to a resource.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


class _NoManagedPolicies:
    """Managed-policy loader for the translator: the template names no managed policy by name,
    so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` hands the transform: local code folders replaced by S3 locations."""
    packaged = copy.deepcopy(template)
    for name, body in packaged["Resources"].items():
        properties = body.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                assert (REPO / properties[key]).is_dir(), f"{name}.{key} folder missing"
                properties[key] = f"s3://artifacts/{name}.zip"
    return packaged


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def deployed(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scenario name -> the CloudFormation template (after the SAM transform) with conditions
    and parameters resolved, i.e. what CloudFormation would create."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        return {
            name: resolve(
                transform(_as_packaged(source), dict(params), _NoManagedPolicies()), params
            )
            for name, params in SCENARIOS.items()
        }


def _resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {n: b for n, b in template["Resources"].items() if b["Type"] == type_name}


def _render(value: Any, template: dict[str, Any]) -> Any:
    """Render intrinsics to text: a stack resource becomes <Name> or <Name.Attribute>, pseudo
    parameters fixed values, so a policy resource can be read as one string."""
    pseudo = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
    }
    resources = template["Resources"]

    def name_value(name: str, local: dict[str, Any]) -> str:
        if name in local:
            return str(_render(local[name], template))
        if name in pseudo:
            return pseudo[name]
        base = name.split(".", 1)[0]
        assert base in resources, f"reference to {name!r}, which is not in the stack"
        return f"<{name}>"

    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return name_value(arg, {})
        if key == "Fn::GetAtt":
            return name_value(".".join(arg), {})
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else arg
            return re.sub(r"\$\{([^}!]+)\}", lambda m: name_value(m.group(1), local), text)
    if isinstance(value, list):
        return [_render(item, template) for item in value]
    return value


def _function_environment(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]["Environment"]["Variables"]


def _inline_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        yield from statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ transform


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_template_transforms_and_deploys_expected_functions(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given a parameter scenario / When the SAM transform runs (in the fixture)
    functions = set(_resources(deployed[scenario], "AWS::Lambda::Function"))

    # Then exactly the functions enabled by the parameters exist
    expected = {
        "defaults": {"MonitorFunction", "IntakeFunction"},
        "everything": {"MonitorFunction", "IntakeFunction", "SlackNotifierFunction"},
        "minimal": {"MonitorFunction"},
    }[scenario]
    assert functions == expected


def test_template_loader_reads_short_form_tags(source: dict[str, Any]) -> None:
    # Given the template text / When loaded / Then tags become long-form intrinsics
    topic = source["Resources"]["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}
    assert source["Conditions"]["HasSlack"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SlackWebhookSecretArn"}, ""]}]
    }


# ------------------------------------------------------------------ parameters


def test_parameters_each_have_a_description(source: dict[str, Any]) -> None:
    # Given every parameter / Then the console and README can explain it
    missing = [name for name, spec in source["Parameters"].items() if not spec.get("Description")]
    assert missing == []


def test_parameters_never_hold_a_secret_value(source: dict[str, Any]) -> None:
    # Given parameters whose name speaks of tokens, secrets or webhooks
    sensitive = {
        name: spec
        for name, spec in source["Parameters"].items()
        if re.search(r"token|secret|password|apikey|credential", name, re.IGNORECASE)
    }
    assert sensitive, "expected the token and webhook reference parameters"
    for name, spec in sensitive.items():
        # Then each only names where the secret lives (SSM name / Secrets Manager ARN)
        assert name.endswith(("ParameterName", "SecretArn")), name
        assert str(spec.get("Default", "")) in {"", "/job-alerts/brightdata-token"}, name


def test_parameter_defaults_match_the_code_defaults(source: dict[str, Any]) -> None:
    # Given the threshold defaults of job_alerts.thresholds
    code = Thresholds()
    params = source["Parameters"]

    # Then the template's defaults are the same numbers
    assert float(params["MinSuccessRate"]["Default"]) == code.min_success_rate
    assert (params["MaxFails"]["Default"] or None) == code.max_fails
    assert (params["MaxFailRatio"]["Default"] or None) == code.max_fail_ratio
    assert float(params["MaxQueueMinutes"]["Default"]) == code.max_queue_minutes
    assert float(params["MaxRunMinutes"]["Default"]) == code.max_run_minutes
    assert int(params["MinLines"]["Default"]) == code.min_lines


@pytest.mark.parametrize(
    ("parameter", "value", "allowed"),
    [
        ("BrightDataTokenParameterName", "/job-alerts/brightdata-token", True),
        ("BrightDataTokenParameterName", "job-alerts/brightdata-token", False),
        ("BrightDataTokenParameterName", "", False),
        ("ThresholdsParameterName", "", True),
        ("ThresholdsParameterName", "/job-alerts/thresholds", True),
        ("ThresholdsParameterName", "thresholds", False),
        ("Collectors", "", True),
        ("Collectors", "c_abc", True),
        ("Collectors", "c_abc,c_def, c_x1", True),
        ("Collectors", "abc", False),
        ("Collectors", "c_abc,", False),
        ("MaxFailRatio", "", True),
        ("MaxFailRatio", "0.25", True),
        ("MaxFailRatio", "1", True),
        ("MaxFailRatio", "1.5", False),
        ("SlackWebhookSecretArn", "", True),
        ("SlackWebhookSecretArn", SLACK_SECRET_ARN, True),
        ("SlackWebhookSecretArn", "job-alerts/slack", False),
        ("SlackWebhookSecretArn", "https://hooks.slack.com/services/T/B/x", False),
        ("AlertEmail", "", True),
        ("AlertEmail", "ops@example.com", True),
        ("AlertEmail", "ops", False),
        ("BrightDataApiUrl", "https://api.brightdata.com", True),
        ("BrightDataApiUrl", "http://api.brightdata.com", False),
        ("ScheduleExpression", "rate(5 minutes)", True),
        ("ScheduleExpression", "cron(0/10 * * * ? *)", True),
        ("ScheduleExpression", "every 5 minutes", False),
    ],
)
def test_parameter_allowed_pattern_accepts_only_valid_values(
    source: dict[str, Any], parameter: str, value: str, allowed: bool
) -> None:
    # Given the parameter's AllowedPattern (CloudFormation matches the whole value)
    pattern = source["Parameters"][parameter]["AllowedPattern"]

    # When / Then
    assert (re.fullmatch(pattern, value) is not None) is allowed


def test_collectors_pattern_agrees_with_the_code(source: dict[str, Any]) -> None:
    # Given a value the template accepts / Then every id in it is one the code accepts
    value = "c_abc, c_DEF_1"
    assert re.fullmatch(source["Parameters"]["Collectors"]["AllowedPattern"], value)
    assert all(COLLECTOR_ID_PATTERN.match(part.strip()) for part in value.split(","))


# ------------------------------------------------------------------ functions


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_functions_environment_names_are_in_the_contract(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given every function of the scenario
    for name in _resources(deployed[scenario], "AWS::Lambda::Function"):
        # Then it only sets variables the code knows
        assert set(_function_environment(deployed[scenario], name)) <= CONTRACT_ENV, name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_functions_environment_names_their_stack(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given every function of the scenario
    for name in _resources(deployed[scenario], "AWS::Lambda::Function"):
        # Then it is told the stack it belongs to, which its metrics carry as a dimension
        env = _function_environment(deployed[scenario], name)
        assert env["STACK_NAME"] == {"Ref": "AWS::StackName"}, name


def test_monitor_environment_maps_every_setting(deployed: dict[str, dict[str, Any]]) -> None:
    # Given all options set
    env = _function_environment(deployed["everything"], "MonitorFunction")

    # Then the monitor sees each one
    assert env["THRESHOLDS_PARAMETER"] == "/job-alerts/thresholds"
    assert env["COLLECTORS"] == "c_abc, c_def"
    assert env["MAX_FAIL_RATIO"] == "0.2"
    assert env["RERUN_COLLECTORS"] == "c_abc, c_def"
    assert env["MIN_LINES_VS_MEDIAN"] == "off"
    assert env["BRIGHTDATA_TOKEN_PARAMETER"] == "/job-alerts/brightdata-token"
    assert env["TABLE_NAME"] == {"Ref": "StateTable"}
    assert env["TOPIC_ARN"] == {"Ref": "AlertTopic"}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "BrightDataJobAlerts"


def test_monitor_environment_leaves_optional_settings_unset(
    deployed: dict[str, dict[str, Any]],
) -> None:
    # Given the defaults / Then optional settings are absent rather than empty strings
    env = _function_environment(deployed["defaults"], "MonitorFunction")
    assert {"THRESHOLDS_PARAMETER", "COLLECTORS", "MAX_FAIL_RATIO", "RERUN_COLLECTORS"}.isdisjoint(
        env
    )


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_monitor_environment_thresholds_parse_in_the_code(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given the values the template passes / When the code reads them
    env = _function_environment(deployed[scenario], "MonitorFunction")
    thresholds, _ = thresholds_from_env({k: v for k, v in env.items() if isinstance(v, str)})

    # Then they parse (a format mismatch would raise ThresholdsError)
    assert thresholds.min_success_rate == pytest.approx(0.9)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_monitor_environment_is_accepted_by_settings(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given the deployed environment / When the code reads it / Then no ConfigError
    env = _function_environment(deployed[scenario], "MonitorFunction")
    settings = Settings.from_env({k: v if isinstance(v, str) else "x" for k, v in env.items()})
    assert settings.token_parameter == "/job-alerts/brightdata-token"


def _number_bounds(source: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(parameter, env var, value) for every bound of a Number parameter the monitor receives."""
    env = source["Resources"]["MonitorFunction"]["Properties"]["Environment"]["Variables"]
    cases = []
    for variable, value in env.items():
        parameter = value.get("Ref") if isinstance(value, dict) else None
        spec = source["Parameters"].get(parameter, {})
        if spec.get("Type") == "Number":
            cases += [
                (parameter, variable, str(spec[b])) for b in ("MinValue", "MaxValue") if b in spec
            ]
    return cases


def test_monitor_parameter_bounds_are_accepted_by_settings(source: dict[str, Any]) -> None:
    # Given each Number parameter at its template MinValue / MaxValue
    cases = _number_bounds(source)
    assert len(cases) >= 10
    for parameter, variable, value in cases:
        # When the monitor reads it (ALARM_WINDOW must not be below ALARM_AFTER)
        env = {variable: value}
        if variable == "ALARM_AFTER":
            env["ALARM_WINDOW"] = value
        # Then the code accepts what CloudFormation lets through
        try:
            Settings.from_env(env)
        except ConfigError as exc:
            pytest.fail(f"{parameter}={value} passes the template but not the code: {exc}")


def test_functions_share_runtime_layer_and_tracing(deployed: dict[str, dict[str, Any]]) -> None:
    template = deployed["everything"]
    for name, function in _resources(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.11", name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["TracingConfig"] == {"Mode": "Active"}, name
        (layer,) = properties["Layers"]
        assert template["Resources"][layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"


def test_functions_timeouts_fit_their_job(deployed: dict[str, dict[str, Any]]) -> None:
    functions = _resources(deployed["everything"], "AWS::Lambda::Function")
    timeouts = {name: f["Properties"]["Timeout"] for name, f in functions.items()}
    assert timeouts == {"MonitorFunction": 240, "SlackNotifierFunction": 30, "IntakeFunction": 10}
    assert functions["MonitorFunction"]["Properties"]["MemorySize"] == 512


def test_layer_is_built_by_sam_for_arm64(source: dict[str, Any]) -> None:
    layer = source["Resources"]["CommonLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.11", "BuildArchitecture": "arm64"}
    content = REPO / layer["Properties"]["ContentUri"]
    # SAM adds python/ itself; a python/ folder in the source would nest the package twice.
    assert (content / "requirements.txt").is_file()
    assert not (content / "python").exists()


def test_monitor_events_schedule_and_track(deployed: dict[str, dict[str, Any]]) -> None:
    rules = _resources(deployed["defaults"], "AWS::Events::Rule")
    assert rules["MonitorFunctionSchedule"]["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    # Then the track rule matches exactly what the handler treats as a track event
    pattern = rules["MonitorFunctionTrack"]["Properties"]["EventPattern"]
    assert pattern == {"source": [TRACK_SOURCE], "detail-type": [TRACK_DETAIL_TYPE]}
    sample = json.loads((REPO / "events" / "track.json").read_text())
    assert (sample["source"], sample["detail-type"]) == (TRACK_SOURCE, TRACK_DETAIL_TYPE)


def test_slack_notifier_failures_go_to_the_dead_letter_queue(
    deployed: dict[str, dict[str, Any]],
) -> None:
    template = deployed["everything"]
    config = template["Resources"]["SlackNotifierFunctionEventInvokeConfig"]["Properties"]
    assert config["MaximumRetryAttempts"] == 2
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["SlackDeadLetterQueue", "Arn"]}
    queue = template["Resources"]["SlackDeadLetterQueue"]["Properties"]
    assert queue == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600}
    subscription = _resources(template, "AWS::SNS::Subscription")["SlackNotifierFunctionAlerts"]
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlertTopic"}


def test_intake_function_url_is_public_but_token_protected(
    deployed: dict[str, dict[str, Any]],
) -> None:
    template = deployed["everything"]
    url = _resources(template, "AWS::Lambda::Url")["IntakeFunctionUrl"]["Properties"]
    assert url["AuthType"] == "NONE"
    assert url["InvokeMode"] == "BUFFERED"
    env = _function_environment(template, "IntakeFunction")
    assert env["INTAKE_TOKEN_SECRET"] == {"Ref": "IntakeTokenSecret"}
    secret = template["Resources"]["IntakeTokenSecret"]["Properties"]["GenerateSecretString"]
    assert secret == {"PasswordLength": 48, "ExcludePunctuation": True}


@pytest.mark.parametrize(("scenario", "reserved"), [("defaults", None), ("everything", "5")])
def test_intake_reserved_concurrency_is_optional(
    deployed: dict[str, dict[str, Any]], scenario: str, reserved: str | None
) -> None:
    properties = deployed[scenario]["Resources"]["IntakeFunction"]["Properties"]
    assert properties.get("ReservedConcurrentExecutions") == reserved


# ------------------------------------------------------------------ logs


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_function_logs_to_its_own_group_with_retention(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    template = deployed[scenario]
    log_groups = _resources(template, "AWS::Logs::LogGroup")
    used = set()
    for name, function in _resources(template, "AWS::Lambda::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in log_groups, name
        assert log_groups[group]["Properties"]["RetentionInDays"] == "30"
        used.add(group)
    assert used == set(log_groups), "a log group without a function"


# ------------------------------------------------------------------ state table


def test_state_table_keys_index_ttl_and_protection(deployed: dict[str, dict[str, Any]]) -> None:
    table = deployed["defaults"]["Resources"]["StateTable"]
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (index,) = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "gsi1"
    assert index["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["UpdateReplacePolicy"] == "Retain"


def test_state_table_definition_creates_in_dynamodb(
    deployed: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the table properties / When DynamoDB (moto) creates the table / Then it is accepted
    properties = deployed["defaults"]["Resources"]["StateTable"]["Properties"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="state",
            BillingMode=properties["BillingMode"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            GlobalSecondaryIndexes=properties["GlobalSecondaryIndexes"],
        )
        description = client.describe_table(TableName="state")["Table"]
    assert description["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"


# ------------------------------------------------------------------ topic and subscriptions


def test_alert_topic_is_encrypted_with_a_key_cloudwatch_can_use(
    deployed: dict[str, dict[str, Any]],
) -> None:
    resources = deployed["defaults"]["Resources"]
    topic = resources["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}
    key = resources["AlertTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = {
        json.dumps(s["Principal"], sort_keys=True): set(_as_list(s["Action"]))
        for s in key["KeyPolicy"]["Statement"]
    }
    cloudwatch = grants[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert cloudwatch == {"kms:Decrypt", "kms:GenerateDataKey*"}


@pytest.mark.parametrize(
    ("min_severity", "delivered"),
    [
        ("critical", {"critical", "none"}),
        ("warning", {"critical", "warning", "none"}),
        ("info", {"critical", "warning", "info", "none"}),
    ],
)
def test_email_subscription_filter_delivers_severities_and_alarm_notifications(
    source: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    min_severity: str,
    delivered: set[str],
) -> None:
    # Given the email subscription for a minimum severity
    template = resolve(source, {"AlertEmail": "ops@example.com", "EmailMinSeverity": min_severity})
    subscription = template["Resources"]["AlertEmailSubscription"]["Properties"]
    attributes = {
        key: json.dumps(subscription[key]) if key == "FilterPolicy" else subscription[key]
        for key in ("FilterPolicy", "FilterPolicyScope")
        if key in subscription
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        # (moto cannot read an email inbox; an SQS subscriber with the same filter stands in)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true", **attributes},
        )

        # When alerts of each severity and a CloudWatch alarm (no attributes) are published
        for severity in ("critical", "warning", "info"):
            sns.publish(
                TopicArn=topic_arn,
                Message=severity,
                MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}},
            )
        sns.publish(TopicArn=topic_arn, Message="none")
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)

    # Then exactly the wanted ones arrive
    assert {m["Body"] for m in received.get("Messages", [])} == delivered


def test_email_subscription_exists_only_with_an_address(source: dict[str, Any]) -> None:
    assert "AlertEmailSubscription" not in resolve(source)["Resources"]
    assert (
        "AlertEmailSubscription" in resolve(source, {"AlertEmail": "ops@example.com"})["Resources"]
    )


# ------------------------------------------------------------------ alarms and dashboard


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_alarms_notify_the_alert_topic(deployed: dict[str, dict[str, Any]], scenario: str) -> None:
    alarms = _resources(deployed[scenario], "AWS::CloudWatch::Alarm")
    assert {"MonitorErrorsAlarm", "MonitorThrottlesAlarm", "MonitorHeartbeatAlarm"} <= set(alarms)
    if scenario == "everything":
        assert {"SlackNotifierErrorsAlarm", "SlackDeadLetterQueueNotEmptyAlarm"} <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlertTopic"}], name


def test_heartbeat_alarm_fires_when_runs_stop(deployed: dict[str, dict[str, Any]]) -> None:
    alarm = deployed["defaults"]["Resources"]["MonitorHeartbeatAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("BrightDataJobAlerts", "RunsCompleted")
    assert _alarm_dimensions(alarm) == {"service": "job-alerts", "stack": STACK}
    assert alarm["Period"] == "900"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "breaching"


def _alarm_dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: _render(d["Value"], {"Resources": {}}) for d in alarm["Dimensions"]}


def _record_dimensions(record: dict[str, Any]) -> dict[str, str]:
    """The one dimension set of an EMF record, with its values."""
    [directive] = record["_aws"]["CloudWatchMetrics"]
    [names] = directive["Dimensions"]
    return {name: record[name] for name in names}


def _emitted_run_totals() -> tuple[set[str], dict[str, str]]:
    """The metric names one monitor run of this stack emits (every rule with a finding) and the
    dimensions they carry."""
    summary = RunSummary(
        run_id="r",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        read_errors={"timeout": 1},
        findings={rule.value: 1 for rule in Rule},
    )
    try:
        emit_metrics(summary, Settings(stack_name=STACK))
        record = dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_default_dimensions()
        metrics.clear_metrics()
    [directive] = record["_aws"]["CloudWatchMetrics"]
    return {metric["Name"] for metric in directive["Metrics"]}, _record_dimensions(record)


def _app_alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarms on the app's own (EMF) metrics."""
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    return {
        name: alarm["Properties"]
        for name, alarm in alarms.items()
        if alarm["Properties"]["Namespace"] == NAMESPACE
    }


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_alarms_on_app_metrics_read_exactly_the_series_this_stack_emits(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given the alarms on the monitor's own metrics, as deployed
    alarms = _app_alarms(deployed[scenario])
    assert {"MonitorHeartbeatAlarm", "UnjudgeableAnswersAlarm", "DecisionsOwedAlarm"} <= set(alarms)
    # and the metrics a run of this stack emits
    names, emitted = _emitted_run_totals()
    for name, alarm in alarms.items():
        # Then each alarm names the stack, so another stack's runs never count for this one
        assert {"Name": "stack", "Value": {"Ref": "AWS::StackName"}} in alarm["Dimensions"], name
        # and its metric and dimension set are exactly what is emitted: CloudWatch matches an
        # alarm to a series only on the whole dimension set, so a subset would match nothing
        assert alarm["MetricName"] in names, name
        assert _alarm_dimensions(alarm) == emitted, name


def test_alarms_read_the_series_the_monitor_handler_writes(
    deployed: dict[str, dict[str, Any]],
    configure: Configure,
    simulator: BrightDataSimulator,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a monitor deployed as the stack STACK, with a job to judge
    configure(STACK_NAME=STACK)
    failed_job(simulator, "j_fail1")
    app = load_function("monitor")
    # When a scheduled run goes through its handler
    try:
        app.handler(load_event("scheduled.json"), lambda_context)
    finally:
        metrics.clear_default_dimensions()
        metrics.clear_metrics()
    lines = (json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{")
    records = [line for line in lines if "_aws" in line and "ColdStart" not in line]
    # Then every alarm on the app's metrics finds its metric under exactly its dimensions
    for name, alarm in _app_alarms(deployed["defaults"]).items():
        matching = [r for r in records if alarm["MetricName"] in r]
        assert matching, name
        for record in matching:
            assert _record_dimensions(record) == _alarm_dimensions(alarm), name
    # and every record the run wrote (run totals, per-collector series) names the stack
    assert {_record_dimensions(record)["stack"] for record in records} == {STACK}


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = _render(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"], template)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_dashboard_body_is_json_showing_every_emitted_metric(
    deployed: dict[str, dict[str, Any]], scenario: str
) -> None:
    # Given the dashboard as deployed, parsed as JSON
    dashboard = _dashboard(deployed[scenario])

    # Then every metric the monitor emits has a graph, under the dimensions it is emitted with
    # (the service and this stack's name)
    names, emitted = _emitted_run_totals()
    shown: dict[str, list[dict[str, str]]] = {}
    for widget in dashboard["widgets"]:
        for line in widget["properties"]["metrics"]:
            if line[0] == NAMESPACE:
                pairs = [part for part in line[2:] if isinstance(part, str)]
                shown.setdefault(line[1], []).append(
                    dict(zip(pairs[::2], pairs[1::2], strict=True))
                )
    assert {"RunsCompleted", f"Findings_{Rule.JOB_FAILED.value}"} <= names
    assert names <= set(shown)
    # and every row reads this stack's series, exactly as emitted
    for name, rows in shown.items():
        assert all(row == emitted for row in rows), name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_dashboard_searches_read_only_this_stacks_series(
    deployed: dict[str, dict[str, Any]], scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the dashboard's SEARCH graphs (per collector, per error kind)
    dashboard = _dashboard(deployed[scenario])
    searches = [
        part["expression"]
        for widget in dashboard["widgets"]
        for line in widget["properties"]["metrics"]
        for part in line
        if isinstance(part, dict) and "expression" in part
    ]
    assert searches
    # and the dimension sets of the per-collector and per-kind series a run of this stack emits
    summary = RunSummary(
        run_id="r",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        read_errors={"Transient": 1},
        collectors={"c_a": {"jobs_read": 1, "findings": 1}},
    )
    emit_dimensioned_metrics(summary, Settings(stack_name=STACK))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    emitted = {
        record["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: _record_dimensions(record)
        for record in lines
    }
    search = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\} (?P<terms>[^']*)'")
    for expression in searches:
        match = search.match(expression)
        assert match, expression
        namespace, *dimension_names = match["schema"].split(",")
        [metric_name] = re.findall(r'MetricName="([^"]+)"', match["terms"])
        # Then each searches the schema its series are emitted with
        assert namespace == NAMESPACE, expression
        assert set(dimension_names) == set(emitted[metric_name]), expression
        # and keeps only this stack's series (quoted: an exact match, so "prod" is not "prod-2")
        assert f'stack="{STACK}"' in match["terms"].split(), expression


# ------------------------------------------------------------------ least privilege


def _user_named_resources(params: dict[str, str]) -> set[str]:
    """Resources the user creates outside the stack and names through parameters."""
    ssm = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    names = {f"{ssm}{params['BrightDataTokenParameterName']}"}
    if params.get("ThresholdsParameterName"):
        names.add(f"{ssm}{params['ThresholdsParameterName']}")
    if params.get("SlackWebhookSecretArn"):
        names.add(params["SlackWebhookSecretArn"])
    return names


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_function_roles_reach_only_this_stack_and_named_resources(
    deployed: dict[str, dict[str, Any]], source: dict[str, Any], scenario: str
) -> None:
    template = deployed[scenario]
    external = _user_named_resources(parameter_values(source, SCENARIOS[scenario]))
    for role_name, role in _resources(template, "AWS::IAM::Role").items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES
        for statement in _inline_statements(role):
            assert statement["Effect"] == "Allow"
            for resource in _as_list(_render(statement["Resource"], template)):
                # Then every resource is one of ours (<Name...>) or one the user named
                assert resource.startswith("<") or resource in external, (role_name, resource)


def test_monitor_reads_exactly_the_token_parameter(deployed: dict[str, dict[str, Any]]) -> None:
    # Given the default token name, which starts with "/"
    template = deployed["defaults"]
    (statement,) = [
        s
        for s in _inline_statements(template["Resources"]["MonitorFunctionRole"])
        if s.get("Sid") == "ReadBrightDataToken"
    ]
    # Then the ARN has exactly one slash after "parameter"
    assert _render(statement["Resource"], template) == (
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/job-alerts/brightdata-token"
    )


def test_monitor_cannot_read_thresholds_when_none_configured(
    deployed: dict[str, dict[str, Any]],
) -> None:
    sids = {
        s.get("Sid")
        for s in _inline_statements(deployed["defaults"]["Resources"]["MonitorFunctionRole"])
    }
    assert "ReadBrightDataToken" in sids
    assert "ReadThresholdOverrides" not in sids


def test_conditions_follow_parameters(source: dict[str, Any]) -> None:
    defaults = evaluate_conditions(source, parameter_values(source))
    assert defaults["HasIntake"] is True
    assert defaults["HasSlack"] is False
    assert defaults["HasIntakeConcurrencyLimit"] is False
