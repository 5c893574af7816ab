"""Webhook intake for Bright Data's `notify` callback (Lambda Function URL): authenticate the call,
bound what it may cost, and track the job ids it names. The call is only a hint: the monitor reads
each job's `/dca/log` on its next run.

Authentication: our own unguessable token, compared in constant time. The `x-job-alerts-token`
header is preferred (headers stay out of URLs, proxies' access logs and Bright Data's trigger
settings); the `token` query parameter remains because Bright Data's webhook cannot set headers.
When both are given, the header is used.

What counts as a job id: a JSON string that is exactly a job id (`job_alerts.ids`, whole-string),
held under one of JOB_ID_KEYS in any object of the body. Objects and arrays are searched at every
depth (the payload is undocumented, so a wrapped or batched payload still works); strings under
other keys, bare strings in arrays and non-string values never count. A `job_id` query parameter
counts too. Ids are deduplicated in order of appearance.

Answers: 202 tracked; 405 not POST; 403 bad or missing token; 413 body too large or more than
MAX_JOB_IDS_PER_CALL ids; 400 body not base64 / UTF-8 / JSON, nested deeper than MAX_JSON_DEPTH,
or naming no job id. Every 4xx tracks nothing. A failure to track (DynamoDB) raises, so the
Function URL answers 5xx and the caller retries.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from job_alerts.ids import JOB_ID_EXPECTED, is_job_id

TOKEN_HEADER: Final = "x-job-alerts-token"  # noqa: S105 - a header name, not a secret
TOKEN_QUERY_PARAMETER: Final = "token"  # noqa: S105 - a parameter name, not a secret
JOB_ID_QUERY_PARAMETER: Final = "job_id"
# The notify payload is undocumented: these are the names Bright Data's APIs give a job id.
JOB_ID_KEYS: Final = ("collection_id", "job_id", "jobId", "id", "snapshot_id")
# Each tracked job costs an API read on every monitor run until it settles; a notify call is
# about one job, so 50 leaves room for batching without letting one call buy thousands of reads.
MAX_JOB_IDS_PER_CALL: Final = 50
# A job notification has no reason to nest deeply; 20 levels is generous and bounds the walk.
MAX_JSON_DEPTH: Final = 20


@dataclass(frozen=True)
class IntakeResponse:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_lambda(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json", **self.headers},
            "body": json.dumps(self.body),
        }


class _Refused(Exception):  # noqa: N818 - internal control flow, not an error type
    """A call answered with a 4xx; nothing was tracked."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.response = IntakeResponse(status, {"error": message}, dict(headers or {}))


def handle_webhook(
    event: Mapping[str, Any],
    *,
    expected_token: Callable[[], str],
    track: Callable[[list[str]], dict[str, str]],
    max_body_bytes: int,
) -> IntakeResponse:
    """Answer one Function URL call (the raw event or Powertools' LambdaFunctionUrlEvent).

    `track` is called once, with 1..MAX_JOB_IDS_PER_CALL valid job ids, only when the call is
    accepted; whatever it raises propagates.
    """
    call = (
        event if isinstance(event, LambdaFunctionUrlEvent) else LambdaFunctionUrlEvent(dict(event))
    )
    try:
        _check_method(call)
        _check_token(call, expected_token)
        ids = _job_ids(call, _body_text(call, max_body_bytes))
    except _Refused as refused:
        return refused.response
    return IntakeResponse(202, {"tracked": track(ids)})


def _check_method(call: LambdaFunctionUrlEvent) -> None:
    if str(call.request_context.http.method or "").upper() != "POST":
        raise _Refused(405, "use POST", {"allow": "POST"})


def _check_token(call: LambdaFunctionUrlEvent, expected_token: Callable[[], str]) -> None:
    given = call.headers.get(TOKEN_HEADER) or call.query_string_parameters.get(
        TOKEN_QUERY_PARAMETER
    )
    given = given if isinstance(given, str) else ""
    # Compare in constant time, and compare something even when no token was given.
    same = hmac.compare_digest(_utf8(given), _utf8(expected_token()))
    if not (same and given):
        raise _Refused(403, "forbidden")


def _body_text(call: LambdaFunctionUrlEvent, max_body_bytes: int) -> str:
    """The body as text, refused as too large before any decoding where its length allows."""
    raw = call.body or ""
    if not isinstance(raw, str):
        raise _Refused(400, "body must be text")
    too_large = _Refused(413, f"body larger than {max_body_bytes} bytes")
    # Plain text has at least one byte per character; base64 needs 4 characters per 3 bytes.
    longest = 4 * math.ceil(max_body_bytes / 3) if call.is_base64_encoded else max_body_bytes
    if len(raw) > longest:
        raise too_large
    try:
        text = call.decoded_body or ""
    except UnicodeDecodeError:
        raise _Refused(400, "body is not UTF-8 text") from None
    except ValueError:
        raise _Refused(400, "body is not valid base64") from None
    if len(_utf8(text)) > max_body_bytes:
        raise too_large
    return text


def _job_ids(call: LambdaFunctionUrlEvent, text: str) -> list[str]:
    found = [call.query_string_parameters.get(JOB_ID_QUERY_PARAMETER)]
    if text.strip():
        found.extend(_ids_under_known_keys(_parse_json(text)))
    ids = list(
        dict.fromkeys(value for value in found if isinstance(value, str) and is_job_id(value))
    )
    if not ids:
        raise _Refused(
            400,
            f"no Bright Data job id found: expected {JOB_ID_EXPECTED} as the string value of "
            f"{', '.join(JOB_ID_KEYS)} in a JSON object",
        )
    if len(ids) > MAX_JOB_IDS_PER_CALL:
        raise _Refused(
            413,
            f"{len(ids)} job ids in one call; at most {MAX_JOB_IDS_PER_CALL} are accepted, "
            "so nothing was tracked: split the call",
        )
    return ids


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        # The decoder recurses per level and gives up near the interpreter's recursion limit.
        raise _Refused(400, f"body nests JSON deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:
        where = (
            f" (line {error.lineno} column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise _Refused(400, f"body is not valid JSON{where}") from None


def _ids_under_known_keys(payload: Any) -> Iterator[Any]:
    """Values under JOB_ID_KEYS in every object of `payload`, in document order, walked with an
    explicit stack so depth costs no Python recursion; deeper than MAX_JSON_DEPTH is refused."""
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            yield from (value[key] for key in value if key in JOB_ID_KEYS)
            children: list[Any] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        nested = [child for child in children if isinstance(child, dict | list)]
        if nested and depth >= MAX_JSON_DEPTH:
            raise _Refused(400, f"body nests JSON deeper than {MAX_JSON_DEPTH} levels")
        pending.extend((child, depth + 1) for child in reversed(nested))


def _utf8(text: str) -> bytes:
    # Lone surrogates can arrive through a JSON event; they must not turn a refusal into a crash.
    return text.encode("utf-8", "surrogatepass")
