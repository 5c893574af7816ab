"""Delivery to a Slack incoming webhook: the client (the shared HTTP policy: 429 / 5xx / timeouts
retried within a time budget, permanent 4xx raised at once) and the per-SNS-record delivery,
once per MessageId."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEventRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from urllib3.exceptions import HTTPError, MaxRetryError

from job_alerts.alerts import slack_payload_for_sns
from job_alerts.http import (
    BACKOFF_BASE,
    BACKOFF_JITTER,
    CallBudget,
    DeadlineTimeout,
    excerpt,
    fetch,
    retry_after_seconds,
    retry_policy,
)
from job_alerts.observability import logger
from job_alerts.text import count, duration

__all__ = [
    "DeliveryReport",
    "OncePerMessage",
    "SlackClient",
    "SlackDeliveryError",
    "deliver_sns_event",
]

IDEMPOTENCY_PK = "IDEMPOTENCY#slack_notifier"
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
# Slack answers with short codes ("ok", "invalid_payload", "no_service"): read no more than this.
_ANSWER_MAX_BYTES = 4096


class SlackDeliveryError(Exception):
    """Slack did not take a message. Never carries the webhook URL (it is a credential).
    ``permanent`` is True when retrying cannot help (Slack answered 4xx other than 429)."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.permanent = permanent


class SlackClient:
    """Posts JSON payloads to an incoming webhook under the shared HTTP policy (job_alerts.http).
    2xx: done. 429: waits Retry-After (seconds or HTTP date) and retries. 5xx, timeouts,
    dropped connections: retries with 1 s / 2 s / 4 s backoff plus jitter. Nothing waits, and
    no attempt or answer runs, past the time budget; then SlackDeliveryError. Other 4xx:
    SlackDeliveryError(permanent=True) at once. Slack's answer is read only up to a few KiB."""

    def __init__(
        self,
        *,
        budget_seconds: float = 20.0,
        max_attempts: int = 5,
        backoff_base: float = BACKOFF_BASE,
        backoff_jitter: float = BACKOFF_JITTER,
        backoff_max: float = 8.0,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._budget_seconds = budget_seconds
        self._max_attempts = max_attempts
        self._backoff = (backoff_base, backoff_jitter, backoff_max)
        self._timeouts = (connect_timeout, read_timeout)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._pool = pool

    def _pool_manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=2, maxsize=4)
        return self._pool

    def post(
        self, webhook_url: str, payload: Mapping[str, Any], *, budget_seconds: float | None = None
    ) -> None:
        """Deliver one payload or raise SlackDeliveryError. `budget_seconds` can only shorten
        the client's budget (e.g. to the invocation's time left)."""
        if not webhook_url.startswith(("https://", "http://")):
            raise SlackDeliveryError("the Slack webhook URL is not an http(s) URL", permanent=True)
        body = json.dumps(payload, ensure_ascii=False).encode()
        seconds = self._budget_seconds
        if budget_seconds is not None:
            seconds = min(seconds, budget_seconds)
        budget = CallBudget.lasting(seconds, clock=self._clock, sleep=self._sleep, rng=self._rng)
        backoff_base, backoff_jitter, backoff_max = self._backoff
        retries = retry_policy(
            budget,
            max_attempts=self._max_attempts,
            methods={"POST"},
            backoff_base=backoff_base,
            backoff_jitter=backoff_jitter,
            backoff_max=backoff_max,
        )
        status: int | None = None
        # Errors are raised outside the except blocks: urllib3's exceptions quote the URL, a
        # credential, and must not ride along as __context__.
        try:
            answer = fetch(
                self._pool_manager(),
                "POST",
                webhook_url,
                budget=budget,
                retries=retries,
                timeout=DeadlineTimeout(*self._timeouts, budget),
                max_body=_ANSWER_MAX_BYTES,
                body_required=False,
                body=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except MaxRetryError as exc:
            problem = f"network error ({type(exc.reason).__name__})"
        except HTTPError as exc:
            problem = f"network error ({type(exc).__name__})"
        else:
            status = answer.status
            if 200 <= status < 300:
                return
            text = excerpt(answer.body, secrets=(webhook_url,))
            if status == 429:
                retry_after = retry_after_seconds(answer.headers)
                asked = f" (Retry-After {duration(retry_after)})" if retry_after is not None else ""
                problem = f"HTTP 429 rate limited{asked}"
            elif status >= 500:
                problem = f"HTTP {status} {text}".rstrip()
            else:
                raise SlackDeliveryError(
                    f"Slack rejected the message: HTTP {status} {text}".rstrip(),
                    status=status,
                    permanent=True,
                )
        attempts = budget.attempts
        if budget.refused_wait is not None:
            raise SlackDeliveryError(
                f"Slack delivery gave up after {count(attempts, 'attempt')}, next wait "
                f"{duration(budget.refused_wait)} exceeds the time left: {problem}",
                status=status,
            )
        raise SlackDeliveryError(
            f"Slack delivery failed after {count(attempts, 'attempt')}: {problem}", status=status
        )


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


def _sns_record(record: SNSEventRecord | Mapping[str, Any]) -> SNSEventRecord:
    return record if isinstance(record, SNSEventRecord) else SNSEventRecord(dict(record))


def deliver_sns_event(
    records: Iterable[SNSEventRecord | Mapping[str, Any]],
    webhook_url: str,
    *,
    client: SlackClient,
    once: OncePerMessage | None = None,
    remaining_seconds: Callable[[], float] | None = None,
) -> DeliveryReport:
    """Post every SNS record's message to Slack. `records` are Powertools SNSEventRecords
    (`SNSEvent(event).records`) or the raw record dicts of a Lambda SNS event. Every record is
    tried; if any failed (including a record that carries no SNS message), one
    SlackDeliveryError naming them is raised afterwards, so Lambda retries the event (records
    already posted are skipped by `once`) and finally sends it to the on-failure destination."""
    posted: list[str] = []
    duplicates: list[str] = []
    failures: list[str] = []
    every = [_sns_record(record) for record in records]
    for index, record in enumerate(every):
        message_id = f"record-{index}"
        try:
            sns = record.sns
            message_id = sns.message_id
            # SNS writes "Subject": null when none was published; tolerate it missing too.
            payload = slack_payload_for_sns(sns.message, sns.get("Subject"))
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
            if isinstance(exc, KeyError | TypeError):
                reason = "not an SNS record with a MessageId and a Message"
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
            f"{len(failures)} of {len(every)} SNS records not delivered to Slack: "
            + "; ".join(failures)
        )
    return DeliveryReport(posted=tuple(posted), duplicates=tuple(duplicates))
