"""Delivery to a Slack incoming webhook: the HTTP client (429 / 5xx / timeouts within a time
budget, permanent 4xx raised at once) and the per-SNS-record delivery, once per MessageId."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from job_alerts.alerts import slack_payload_for_sns
from job_alerts.observability import logger

__all__ = [
    "DeliveryReport",
    "OncePerMessage",
    "SlackClient",
    "SlackDeliveryError",
    "deliver_sns_event",
]

IDEMPOTENCY_PK = "IDEMPOTENCY#slack_notifier"
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
# Slack's answer bodies are short codes ("invalid_payload", "no_service"); keep them readable.
_ANSWER_MAX_CHARS = 120


class SlackDeliveryError(Exception):
    """Slack did not take a message. Never carries the webhook URL (it is a credential).
    ``permanent`` is True when retrying cannot help (Slack answered 4xx other than 429)."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.permanent = permanent


class SlackClient:
    """Posts JSON payloads to an incoming webhook. 2xx: done. 429: waits Retry-After and
    retries. 5xx, timeouts, connection errors: retries with exponential backoff. All retries
    stay within a time budget; then SlackDeliveryError. Other 4xx: SlackDeliveryError at once."""

    def __init__(
        self,
        *,
        budget_seconds: float = 20.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 8.0,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._budget_seconds = budget_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._sleep = sleep
        self._clock = clock
        self._pool = pool

    def _pool_manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=2, maxsize=4)
        return self._pool

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1)))

    def post(
        self, webhook_url: str, payload: Mapping[str, Any], *, budget_seconds: float | None = None
    ) -> None:
        """Deliver one payload or raise SlackDeliveryError."""
        if not webhook_url.startswith(("https://", "http://")):
            raise SlackDeliveryError("the Slack webhook URL is not an http(s) URL", permanent=True)
        body = json.dumps(payload, ensure_ascii=False).encode()
        budget = self._budget_seconds if budget_seconds is None else budget_seconds
        budget = min(budget, self._budget_seconds)
        deadline = self._clock() + budget
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            timeout = urllib3.Timeout(
                connect=max(0.1, min(self._connect_timeout, remaining)),
                read=max(0.1, min(self._read_timeout, remaining)),
            )
            status: int | None = None
            try:
                response = self._pool_manager().request(
                    "POST",
                    webhook_url,
                    body=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=timeout,
                    retries=False,
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                # Only the class name: urllib3's messages include the URL, which is a secret.
                problem = f"network error ({type(exc).__name__})"
                wait = self._backoff(attempt)
            else:
                status = response.status
                if 200 <= status < 300:
                    return
                answer = _answer_text(response.data)
                if status == 429:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    wait = retry_after if retry_after is not None else self._backoff(attempt)
                    problem = f"HTTP 429 rate limited (Retry-After {wait:g} s)"
                elif status >= 500:
                    wait = self._backoff(attempt)
                    problem = f"HTTP {status} {answer}".rstrip()
                else:
                    raise SlackDeliveryError(
                        f"Slack rejected the message: HTTP {status} {answer}".rstrip(),
                        status=status,
                        permanent=True,
                    )
            if attempt >= self._max_attempts:
                raise SlackDeliveryError(
                    f"Slack delivery failed after {attempt} attempts: {problem}", status=status
                )
            if self._clock() + wait > deadline:
                raise SlackDeliveryError(
                    f"Slack delivery gave up after {attempt} attempts, next wait {wait:g} s "
                    f"exceeds the time left: {problem}",
                    status=status,
                )
            logger.info(
                "Slack delivery will retry",
                extra={"attempt": attempt, "wait_seconds": wait, "problem": problem},
            )
            self._sleep(wait)


def _answer_text(data: bytes) -> str:
    text = data[:_ANSWER_MAX_CHARS].decode("utf-8", errors="replace")
    return " ".join(text.split())


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds; HTTP-date forms are not used by Slack and fall back to backoff."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class OncePerMessage:
    """Runs an action at most once per SNS MessageId (Powertools idempotency on the app's
    table), so SNS redelivering a message, or Lambda retrying, never posts twice. An action
    that raises is not recorded: the next attempt runs it again."""

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb_client: Any | None = None,
        expires_after_seconds: int = IDEMPOTENCY_EXPIRY_SECONDS,
    ) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="message_id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            expiry_attr="ttl",
            static_pk_value=IDEMPOTENCY_PK,
            boto3_client=dynamodb_client,
        )

        @idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence,
            config=self._config,
            key_prefix="slack_post",
        )
        def run_once(*, message: dict[str, str], action: Callable[[], None]) -> dict[str, str]:
            action()
            return {"message_id": message["message_id"]}

        self._run_once = run_once

    def register_lambda_context(self, context: Any) -> None:
        """Lets an interrupted delivery be retried once the invocation's time is up."""
        self._config.register_lambda_context(context)

    def run(self, message_id: str, action: Callable[[], None]) -> bool:
        """Run `action` unless it already ran for `message_id`; True when it ran now."""
        ran = False

        def tracked() -> None:
            nonlocal ran
            action()
            ran = True

        self._run_once(message={"message_id": message_id}, action=tracked)
        return ran


@dataclass(frozen=True)
class DeliveryReport:
    posted: tuple[str, ...]  # SNS MessageIds posted now
    duplicates: tuple[str, ...]  # already posted by an earlier delivery


def deliver_sns_event(
    records: Sequence[Mapping[str, Any]],
    webhook_url: str,
    *,
    client: SlackClient,
    once: OncePerMessage | None = None,
    remaining_seconds: Callable[[], float] | None = None,
) -> DeliveryReport:
    """Post every SNS record's message to Slack. Every record is tried; if any failed, one
    SlackDeliveryError naming them is raised afterwards, so Lambda retries the event (records
    already posted are skipped by `once`) and finally sends it to the on-failure destination."""
    posted: list[str] = []
    duplicates: list[str] = []
    failures: list[str] = []
    for index, record in enumerate(records):
        sns = record.get("Sns") or {}
        message_id = str(sns.get("MessageId") or f"record-{index}")
        try:
            payload = slack_payload_for_sns(str(sns.get("Message") or ""), sns.get("Subject"))
            budget = remaining_seconds() if remaining_seconds is not None else None

            def post(payload: Mapping[str, Any] = payload, budget: float | None = budget) -> None:
                client.post(webhook_url, payload, budget_seconds=budget)

            if once is None:
                post()
                ran = True
            else:
                ran = once.run(message_id, post)
        except Exception as exc:  # every record must be tried; the failures are raised below
            reason = str(exc) if isinstance(exc, SlackDeliveryError | ValueError) else ""
            failure = f"{message_id}: {type(exc).__name__} {reason}".rstrip()
            logger.error(
                "Slack delivery failed", extra={"message_id": message_id, "error": failure}
            )
            failures.append(failure)
            continue
        (posted if ran else duplicates).append(message_id)
        logger.info("Slack delivery", extra={"message_id": message_id, "posted": ran})
    if failures:
        raise SlackDeliveryError(
            f"{len(failures)} of {len(records)} SNS records not delivered to Slack: "
            + "; ".join(failures)
        )
    return DeliveryReport(posted=tuple(posted), duplicates=tuple(duplicates))
