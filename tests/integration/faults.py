"""Fault injectors of the fault, hostile-input, secrets and soak tests: a DynamoDB throttle
(botocore event hook), fast DynamoDB retries, and publishers that fail. What the tests build and
read (monitors, ledgers, the consistency check) is in tests/support.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import standard

THROTTLE_CODE = "ProvisionedThroughputExceededException"


class _Body:
    """The raw stream AWSResponse reads its content from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._data


def dynamodb_error(request: Any, payload: dict[str, Any], request_id: str) -> AWSResponse:
    """A DynamoDB error answer (HTTP 400, JSON body) as botocore would receive it."""
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "x-amzn-requestid": request_id,
        "content-length": str(len(body)),
    }
    return AWSResponse(request.url, 400, headers, _Body(body))


class DynamoThrottle:
    """Answers DynamoDB calls of one operation with a throttling error instead of sending them.

    It hooks `before-send`, which botocore emits inside its retry loop, so the client's retry
    mode sees each injected error like a real one (`before-call` would short-circuit the call
    before any retry logic runs). `times` limits how many calls are throttled (None: all);
    `skip` lets that many calls through first."""

    def __init__(
        self,
        client: Any,
        operation: str,
        *,
        times: int | None = None,
        skip: int = 0,
        code: str = THROTTLE_CODE,
    ) -> None:
        self.client = client
        self.event = f"before-send.dynamodb.{operation}"
        self.remaining = times
        self.skip = skip
        self.code = code
        self.calls = 0
        self.injected = 0
        self._lock = threading.Lock()
        client.meta.events.register(self.event, self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.calls += 1
            if self.skip > 0:
                self.skip -= 1
                return None
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            self.injected += 1
        payload = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{self.code}",
            "message": "The level of configured provisioned throughput was exceeded",
        }
        return dynamodb_error(request, payload, f"throttle-{self.injected}")

    def stop(self) -> None:
        self.client.meta.events.unregister(self.event, self._answer)


class TransactionCanceller:
    """Answers TransactWriteItems with TransactionCanceledException instead of sending it, the
    way DynamoDB does: one reason per item, `code` on item `at` and "None" on the others
    (`code=None` gives no reasons at all). Hooked on `before-send` like DynamoThrottle; nothing
    is written. `times` limits how many calls are cancelled (None: all)."""

    def __init__(
        self, client: Any, code: str | None, *, at: int = 0, times: int | None = None
    ) -> None:
        self.client = client
        self.code = code
        self.at = at
        self.remaining = times
        self.injected = 0
        self._lock = threading.Lock()
        self.event = "before-send.dynamodb.TransactWriteItems"
        client.meta.events.register(self.event, self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            self.injected += 1
        items = len(json.loads(request.body or b"{}").get("TransactItems", []))
        payload: dict[str, Any] = {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": f"Transaction cancelled, please refer cancellation reasons [{self.code}]",
        }
        if self.code is not None:
            payload["CancellationReasons"] = [
                {"Code": self.code if i == self.at else "None"} for i in range(items)
            ]
        return dynamodb_error(request, payload, f"cancel-{self.injected}")

    def stop(self) -> None:
        self.client.meta.events.unregister(self.event, self._answer)


def fast_dynamodb_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Keep botocore's standard retry mode (attempt counting, quota, throttling detection) but
    make its backoff sleeps tiny; returns the list of delays it asked for."""
    asked: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def tiny(self: standard.ExponentialBackoff, context: Any) -> float:
        asked.append(original(self, context))
        return 0.001

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", tiny)
    return asked


class BrokenPublisher:
    """SNS as seen during an outage: every publish fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def publish(self, doc: dict[str, Any]) -> str:
        self.attempts += 1
        raise RuntimeError("SNS is unavailable")


@dataclass
class FlakyPublisher:
    """Wraps the real publisher; `should_fail()` decides per call whether SNS 'fails'."""

    inner: Any
    should_fail: Callable[[], bool]
    failures: int = 0

    def publish(self, doc: dict[str, Any]) -> str:
        if self.should_fail():
            self.failures += 1
            raise RuntimeError("simulated SNS failure")
        return str(self.inner.publish(doc))
