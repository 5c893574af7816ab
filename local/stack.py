"""The embedded local stack: moto server over HTTP, with the state table, alert topic and its
subscriptions created from template.yaml's own resource definitions (so local cannot drift from
what is deployed). Email and Slack subscriptions become SQS queues we can read."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local.cfn_yaml import CONDITION_FUNCTIONS, load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortUnavailableError(RuntimeError):
    """A local server cannot listen on its port (another program holds it, or it is not
    allowed); the message names the server and the port."""

    def __init__(self, server: str, port: int, reason: str) -> None:
        super().__init__(f"{server} cannot listen on 127.0.0.1:{port}: {reason}")
        self.port = port


def check_port_free(server: str, port: int) -> None:
    """PortUnavailableError unless `port` can be bound on 127.0.0.1 as an HTTP server binds it
    (with SO_REUSEADDR, so a port left in TIME_WAIT counts as free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortUnavailableError(server, port, exc.strerror or str(exc)) from None


class MotoServer:
    """moto in server mode on 127.0.0.1 (a real HTTP endpoint, reached via AWS_ENDPOINT_URL)."""

    # moto binds its port in its own thread: when it cannot, that thread ends and moto's start()
    # waits forever for a server that never comes. So the port is checked first, and the start
    # is given this long before it counts as failed (it takes well under a second).
    START_TIMEOUT_SECONDS = 10.0

    def __init__(self, port: int | None = None) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        # One access-log line per AWS call drowns everything else out.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = port or free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        """Serve, or raise PortUnavailableError (the port is taken, or the server did not come up
        within START_TIMEOUT_SECONDS)."""
        check_port_free("moto server", self.port)
        starting = threading.Thread(target=self._server.start, name="moto-start", daemon=True)
        starting.start()
        starting.join(self.START_TIMEOUT_SECONDS)
        if starting.is_alive():
            raise PortUnavailableError(
                "moto server",
                self.port,
                f"the server did not come up within {self.START_TIMEOUT_SECONDS:g} s",
            )
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def aws_environment(endpoint: str) -> Iterator[None]:
    """Point boto3 (and everything built on it) at the local endpoint with dummy credentials."""
    wanted = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ---- a small evaluator for the intrinsic functions our template uses in these resources ------
class _Resolver:
    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", ""))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.parameters.update(parameters)

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            found = self._function(key, arg)
            if found is not _NOT_A_FUNCTION:
                return found
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _function(self, key: str, arg: Any) -> Any:
        """The value of the intrinsic function `key`, or _NOT_A_FUNCTION when a one-key mapping
        is plain data."""
        if key == "Ref":
            return _NO_VALUE if arg == "AWS::NoValue" else self.parameters.get(arg, arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if key == "Fn::Sub" and isinstance(arg, str):
            text = arg
            for pname, pvalue in self.parameters.items():
                text = text.replace("${" + pname + "}", pvalue)
            return text
        if key in CONDITION_FUNCTIONS:
            return CONDITION_FUNCTIONS[key](self.value, arg)
        return _NOT_A_FUNCTION


_NO_VALUE = object()  # what !Ref AWS::NoValue resolves to: the property is left out
_NOT_A_FUNCTION = object()


def lambda_sns_record(envelope: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The SNS record a Lambda subscriber receives, built from the envelope SQS received."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope.get("TopicArn"),
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


@dataclass
class LocalStack:
    """Handles to the provisioned resources, and readers for what the topic delivered."""

    endpoint: str
    table_name: str
    topic_arn: str
    queues: dict[str, str] = field(default_factory=dict)  # subscription name -> queue URL
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        # Building a boto3 client costs ~0.2 s: one per service, reused.
        if service not in self._clients:
            self._clients[service] = _session().client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    def drain(self, queue: str, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Every SNS envelope waiting in a subscription's queue (deleted once read)."""
        sqs = self.client("sqs")
        url = self.queues[queue]
        out: list[dict[str, Any]] = []
        while True:
            response = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            wait_seconds = 0

    def lambda_records(self, queue: str) -> list[dict[str, Any]]:
        """What a subscription received, as the SNS records of the Lambda event a subscribed
        function (the Slack notifier) would get."""
        arn = f"{self.topic_arn}:{queue}"
        return [lambda_sns_record(envelope, arn) for envelope in self.drain(queue)]

    def aws_env(self) -> dict[str, str]:
        """What boto3 needs to reach the stack: dummy credentials and the endpoint."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def env(self) -> dict[str, str]:
        """aws_env plus the table and topic, as the monitor reads them."""
        return {**self.aws_env(), "TABLE_NAME": self.table_name, "TOPIC_ARN": self.topic_arn}


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def provision(
    endpoint: str,
    *,
    prefix: str | None = None,
    parameters: Mapping[str, str] | None = None,
    template_path: Path = TEMPLATE,
) -> LocalStack:
    """Create the table and topic as template.yaml defines them, plus one SQS queue per
    subscription: `email` (with the template's filter policy), `slack` and `all` (unfiltered)."""
    template = load_template(template_path)
    resolver = _Resolver(template, parameters or {})
    resources = template["Resources"]
    prefix = prefix or f"job-alerts-{uuid.uuid4().hex[:8]}"
    session = _session()
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    sns = session.client("sns", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)

    table = resolver.value(resources["StateTable"]["Properties"])
    table_name = f"{prefix}-state"
    ddb.create_table(
        TableName=table_name,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table.get("GlobalSecondaryIndexes", []),
        BillingMode=table["BillingMode"],
    )
    ttl = table.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)

    topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    stack = LocalStack(endpoint=endpoint, table_name=table_name, topic_arn=topic_arn)

    email = resources.get("AlertEmailSubscription", {}).get("Properties", {})
    email_props = resolver.value(email) if email else {}
    subscriptions: dict[str, dict[str, str]] = {"all": {}, "slack": {}}
    email_attributes: dict[str, str] = {}
    if "FilterPolicy" in email_props:
        email_attributes["FilterPolicy"] = json.dumps(email_props["FilterPolicy"])
        email_attributes["FilterPolicyScope"] = email_props.get(
            "FilterPolicyScope", "MessageAttributes"
        )
    subscriptions["email"] = email_attributes
    for name, attributes in subscriptions.items():
        url = sqs.create_queue(QueueName=f"{prefix}-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        stack.queues[name] = url
    return stack
