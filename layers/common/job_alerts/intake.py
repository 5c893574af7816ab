"""Webhook intake for Bright Data's `notify` callback (Lambda Function URL): authenticate with our
own unguessable token, bound the body, and treat the call only as a hint to read `/dca/log`."""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from job_alerts.brightdata import validate_job_id

TOKEN_HEADER = "x-job-alerts-token"  # noqa: S105 - a header name, not a secret
JOB_ID_PATTERN = re.compile(r"^(?:j|vj)_[A-Za-z0-9_]{1,64}$")
# Keys under which a job id has been seen in notify payloads; the payload is undocumented, so
# any top-level string that looks like a job id is taken as well.
JOB_ID_KEYS = ("collection_id", "job_id", "jobId", "id", "snapshot_id")


@dataclass(frozen=True)
class IntakeResponse:
    status: int
    body: dict[str, Any]

    def to_lambda(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(self.body),
        }


def handle_webhook(
    event: Mapping[str, Any],
    *,
    expected_token: Callable[[], str],
    track: Callable[[list[str]], dict[str, str]],
    max_body_bytes: int,
) -> IntakeResponse:
    if _method(event) != "POST":
        return IntakeResponse(405, {"error": "use POST"})
    given = _given_token(event)
    # Compare in constant time, and compare something even when no token was given.
    if not hmac.compare_digest(given.encode(), expected_token().encode()) or not given:
        return IntakeResponse(403, {"error": "forbidden"})
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return IntakeResponse(400, {"error": "body must be text"})
    if len(raw) > max_body_bytes * 4 // 3 + 4:
        return IntakeResponse(413, {"error": f"body larger than {max_body_bytes} bytes"})
    try:
        body = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except ValueError:
        return IntakeResponse(400, {"error": "body is not valid base64"})
    if len(body) > max_body_bytes:
        return IntakeResponse(413, {"error": f"body larger than {max_body_bytes} bytes"})
    ids = _job_ids(event, body)
    if not ids:
        return IntakeResponse(400, {"error": "no Bright Data job id found in the call"})
    return IntakeResponse(202, {"tracked": track(ids)})


def _method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext") or {}
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else event.get("httpMethod")
    return str(method or "").upper()


def _given_token(event: Mapping[str, Any]) -> str:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    token = headers.get(TOKEN_HEADER)
    if not token:
        token = (event.get("queryStringParameters") or {}).get("token")
    return token if isinstance(token, str) else ""


def _job_ids(event: Mapping[str, Any], body: bytes) -> list[str]:
    candidates: list[Any] = []
    query = event.get("queryStringParameters") or {}
    candidates.append(query.get("job_id"))
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        payload = None
    items = payload if isinstance(payload, list) else [payload]
    for item in items[:100]:
        if isinstance(item, Mapping):
            candidates.extend(item.get(key) for key in JOB_ID_KEYS)
            candidates.extend(v for v in item.values() if isinstance(v, str))
    found = [c for c in candidates if isinstance(c, str) and JOB_ID_PATTERN.match(c)]
    return [validate_job_id(c) for c in dict.fromkeys(found)]
