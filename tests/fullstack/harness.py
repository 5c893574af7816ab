"""The full-stack harness: deploys the `sam build` output on the ministack AWS emulator (its own
virtualenv, AUTH=true so IAM is enforced for the functions' roles) next to a TLS-served Bright
Data simulator and a Slack sink, and hands the tests what they need to drive it.

Emulator differences are worked around here and only here (the template stays as shipped):
  - `Ref` of an AWS::SecretsManager::Secret gives its name where AWS gives the ARN: the copy
    deployed says `Fn::GetAtt [Secret, Id]`, which is the same ARN on AWS.
  - `GenerateSecretString.ExcludePunctuation` is ignored, KMS key policies and
    `dynamodb:LeadingKeys` conditions are not evaluated: nothing here can prove them.
  - SNS -> Lambda is one synchronous call without Lambda's async retries: the dead-letter path
    is driven with an asynchronous invoke of the notifier.
Every process started here is stopped by its own id (its process group, for the emulator's
Lambda workers)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
EMULATOR = ROOT / ".venv-fullstack" / "bin" / "ministack"
SAM = ROOT / ".venv-tools" / "bin" / "sam"
REGION = "us-east-1"
# Under AUTH=true this access key is the emulated account's root: the harness itself may do
# anything, the functions only what their roles allow.
ROOT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
# Secrets whose `Ref` the emulator answers with a name instead of the ARN.
SECRETS_REFERENCED_BY_ARN = ("IntakeTokenSecret",)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------------------- TLS
def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own issuer) and its key, valid around the wall clock
    (TLS checks validity against the real clock of the emulator's Lambda processes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    wall_clock = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(wall_clock - timedelta(hours=1))
        .not_valid_after(wall_clock + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "simulator-cert.pem", directory / "simulator-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsTerminator:
    """Serves TLS on 127.0.0.1 (free port) and passes each connection's bytes to a plain-HTTP
    server on `upstream_port`: the simulator stays as it is, the monitor talks https to it."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self._upstream_port = upstream_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tls-terminator", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> TlsTerminator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
        with self._lock:
            self._sockets.update((secure, upstream))
        pump = threading.Thread(target=_pump, args=(upstream, secure), daemon=True)
        pump.start()
        _pump(secure, upstream)
        pump.join(timeout=60)
        with self._lock:
            self._sockets.difference_update((secure, upstream))
        for sock in (secure, upstream):
            sock.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes until `source` ends, then end `target`'s sending side."""
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


# ---------------------------------------------------------------------------------- emulator
class Emulator:
    """ministack in its own process group on a free port, IAM enforced (AUTH=true)."""

    def __init__(self, workdir: Path, trusted_cert: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "ministack.log"
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "TMPDIR": str(workdir),
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "AUTH": "true",
            "MINISTACK_REGION": REGION,
            # Inherited by the Lambda worker processes: the simulator's certificate is the one
            # authority they trust (they call nothing else over TLS).
            "SSL_CERT_FILE": str(trusted_cert),
            # Lambda's async retries wait 1 s, 2 s, ... by default: keep the DLQ test short.
            "LAMBDA_ASYNC_RETRY_BASE_SECONDS": "0.2",
            "LAMBDA_ASYNC_RETRY_MAX_SECONDS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 60.0) -> Emulator:
        if not EMULATOR.exists():
            raise RuntimeError(f"{EMULATOR} not found: run `make fullstack` (it installs it)")
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [str(EMULATOR)],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its Lambda workers share its process group
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ministack exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                health = f"{self.url}/_ministack/health"
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        return self
            time.sleep(0.2)
        raise RuntimeError(f"ministack did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        elif process is not None:
            # The server is gone; its workers (same group) may not be.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def env(self) -> dict[str, str]:
        """What a boto3 client, the SAM CLI or job-alerts needs to reach the emulator as root."""
        return {
            **ROOT_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ROOT_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ROOT_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            # The monitor may run for a while; the harness waits for it.
            config=Config(read_timeout=300, retries={"max_attempts": 1}),
        )


# ---------------------------------------------------------------------------------- template
def deployable_template(
    built: dict[str, Any], *, drop_monitor_actions: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The built template as the emulator must see it: code paths absolute (so the copy can live
    anywhere), secret ARNs by `Fn::GetAtt Id` (see the module docstring). `drop_monitor_actions`
    removes actions from the monitor's policy, for the negative proof."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and node.get("Ref") in SECRETS_REFERENCED_BY_ARN:
                return {"Fn::GetAtt": [node["Ref"], "Id"]}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    template: dict[str, Any] = rewrite(built)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str((BUILD / properties[key]).resolve())
    if drop_monitor_actions:
        _drop_actions(template["Resources"]["MonitorFunction"], set(drop_monitor_actions))
    return template


def _drop_actions(function: dict[str, Any], dropped: set[str]) -> None:
    found = False
    for policy in function["Properties"].get("Policies", []):
        if not isinstance(policy, dict) or "Statement" not in policy:
            continue
        kept = []
        for statement in policy["Statement"]:
            actions = statement.get("Action") if isinstance(statement, dict) else None
            if actions is None:
                kept.append(statement)
                continue
            listed = [actions] if isinstance(actions, str) else list(actions)
            remaining = [action for action in listed if action not in dropped]
            found = found or len(remaining) < len(listed)
            if remaining:
                kept.append({**statement, "Action": remaining})
        policy["Statement"] = kept
    if not found:
        raise ValueError(f"the monitor's policy allows none of {sorted(dropped)}")


# ---------------------------------------------------------------------------------- the stack
@dataclass
class DeployedStack:
    """The stack as deployed on the emulator, and how to reach its parts."""

    name: str
    emulator: Emulator
    outputs: dict[str, str]
    functions: dict[str, str]  # logical id -> function name
    tap_queue_url: str

    def client(self, service: str) -> Any:
        return self.emulator.client(service)

    @property
    def table_name(self) -> str:
        return self.outputs["StateTableName"]

    @property
    def intake_url(self) -> str:
        """The Function URL as the emulator serves it: /_aws/lambda-url/<url-id>/ on its port."""
        url_id = urlsplit(self.outputs["IntakeUrl"]).hostname.split(".", 1)[0]  # type: ignore[union-attr]
        return f"{self.emulator.url}/_aws/lambda-url/{url_id}/"

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function and wait; raise with its error when it failed."""
        answer = self.client("lambda").invoke(
            FunctionName=self.functions[logical_id], Payload=json.dumps(event).encode()
        )
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            raise AssertionError(f"{logical_id} failed: {payload[:2000]!r}")
        return json.loads(payload) if payload else {}

    def invoke_async(self, logical_id: str, event: dict[str, Any]) -> None:
        answer = self.client("lambda").invoke(
            FunctionName=self.functions[logical_id],
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )
        assert answer["StatusCode"] == 202, answer

    def job_item(self, job_id: str) -> dict[str, Any] | None:
        found = self.client("dynamodb").get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = found.get("Item")
        return item

    def drain(self, queue_url: str, *, settle_seconds: float = 1.0) -> list[dict[str, Any]]:
        """Every message now in a queue (deleted as read), waiting `settle_seconds` for more."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle_seconds:
            batch = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if batch:
                quiet_since = time.monotonic()
            for message in batch:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if not batch:
                time.sleep(0.1)
        return messages


def provision_inputs(emulator: Emulator, *, token: str, slack_url: str) -> dict[str, str]:
    """What exists before a deploy: the token in SSM, threshold overrides, the Slack secret and
    a bucket for SAM's artifacts. Returns what the parameters name."""
    token_parameter = "/fullstack/brightdata-token"
    thresholds_parameter = "/fullstack/thresholds"
    emulator.client("ssm").put_parameter(
        Name=token_parameter, Type="SecureString", Value=token, Overwrite=True
    )
    overrides = {"collectors": {"c_fs_news": {"min_lines": 500}}}
    emulator.client("ssm").put_parameter(
        Name=thresholds_parameter, Type="String", Value=json.dumps(overrides), Overwrite=True
    )
    secret = emulator.client("secretsmanager").create_secret(
        Name="fullstack/slack-webhook", SecretString=slack_url
    )
    bucket = f"fullstack-artifacts-{secrets.token_hex(4)}"
    emulator.client("s3").create_bucket(Bucket=bucket)
    return {
        "bucket": bucket,
        "token_parameter": token_parameter,
        "thresholds_parameter": thresholds_parameter,
        "slack_secret_arn": secret["ARN"],
    }


def deploy(
    emulator: Emulator,
    workdir: Path,
    *,
    api_url: str,
    token: str,
    slack_url: str,
    drop_monitor_actions: tuple[str, ...] = (),
) -> DeployedStack:
    """`sam deploy` the built template on the emulator with non-default parameters."""
    inputs = provision_inputs(emulator, token=token, slack_url=slack_url)
    template_path = workdir / "template.json"
    template = deployable_template(
        load_template(BUILD / "template.yaml"), drop_monitor_actions=drop_monitor_actions
    )
    template_path.write_text(json.dumps(template, indent=1))
    name = "job-alerts-fullstack"
    parameters = {
        "BrightDataTokenParameterName": inputs["token_parameter"],
        "BrightDataApiUrl": api_url,
        # Runs are driven by the tests; a daily schedule never fires during them.
        "ScheduleExpression": "rate(1 day)",
        "LookbackDays": "1",
        "MaxConcurrency": "4",
        "MinSuccessRate": "0.8",
        "ThresholdsParameterName": inputs["thresholds_parameter"],
        "AlertEmail": "ops@example.com",
        "EmailMinSeverity": "critical",
        "SlackWebhookSecretArn": inputs["slack_secret_arn"],
        "LogRetentionDays": "7",
        "LogLevel": "DEBUG",
    }
    command = [
        str(SAM), "deploy",
        "--template-file", str(template_path),
        "--stack-name", name,
        "--s3-bucket", inputs["bucket"],
        "--capabilities", "CAPABILITY_IAM",
        "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--no-progressbar",
        "--config-env", "fullstack",  # not in samconfig.toml: none of its defaults apply
        "--parameter-overrides",
        *(f'{key}="{value}"' for key, value in parameters.items()),
    ]  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir / "home"),
        "SAM_CLI_TELEMETRY": "0",
        **emulator.env(),
    }
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"sam deploy failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    cloudformation = emulator.client("cloudformation")
    [described] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described["StackStatus"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    functions = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in resources
        if r["ResourceType"] == "AWS::Lambda::Function"
    }
    return DeployedStack(
        name=name,
        emulator=emulator,
        outputs=outputs,
        functions=functions,
        tap_queue_url=_subscribe_tap(emulator, outputs["AlertTopicArn"]),
    )


def _subscribe_tap(emulator: Emulator, topic_arn: str) -> str:
    """An SQS queue subscribed to the alert topic: every message SNS accepted, as sent."""
    sqs = emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName="fullstack-alert-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    emulator.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(queue_url)


def wait_for(condition: Any, *, timeout: float, interval: float = 0.2, what: str = "") -> Any:
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)
