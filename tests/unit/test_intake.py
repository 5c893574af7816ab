"""The webhook intake as Bright Data's notify call meets it: Function URL events
(events/webhook.json reshaped per case) through `handle_webhook`, and the Lambda handler with a
faked token and store. Each case asserts the status, a clear message, what was tracked, and that
the token never shows."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from job_alerts import factory
from job_alerts.intake import (
    JOB_ID_KEYS,
    MAX_JOB_IDS_PER_CALL,
    MAX_JSON_DEPTH,
    IntakeResponse,
    handle_webhook,
)
from job_alerts.models import JobRecord
from job_alerts.observability import logger as app_logger
from tests.conftest import load_event
from tests.support import load_function

# The token the sample event sends; every case derives its call from that event.
TOKEN = load_event("webhook.json")["queryStringParameters"]["token"]
MAX_BODY = 64 * 1024
JOB = "j_m4x7hook0001"


def _event(
    body: Any = None,
    *,
    query_token: str | None = TOKEN,
    header_token: str | None = None,
    method: str = "POST",
    query: dict[str, str] | None = None,
    as_base64: bool = False,
) -> dict[str, Any]:
    """events/webhook.json with this call's body, token, method and query string."""
    event = load_event("webhook.json")
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    params = dict(query or {})
    if query_token is not None:
        params["token"] = query_token
    event["queryStringParameters"] = params or None
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in params.items())
    if header_token is not None:
        event["headers"]["x-job-alerts-token"] = header_token
    event["requestContext"]["http"]["method"] = method
    if as_base64:
        event["body"] = base64.b64encode(event["body"].encode()).decode()
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = "application/octet-stream"
    return event


class Tracker:
    """Stands in for track_jobs: records each call, answers 'tracked' for every id."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, ids: list[str]) -> dict[str, str]:
        self.calls.append(ids)
        return dict.fromkeys(ids, "tracked")


def _handle(event: dict[str, Any], tracker: Tracker | None = None) -> IntakeResponse:
    return handle_webhook(
        event,
        expected_token=lambda: TOKEN,
        track=tracker if tracker is not None else Tracker(),
        max_body_bytes=MAX_BODY,
    )


def _assert_refused(response: IntakeResponse, tracker: Tracker, status: int, says: str) -> None:
    assert response.status == status, response.body
    assert says in response.body["error"]
    assert tracker.calls == []
    assert TOKEN not in json.dumps(response.to_lambda())


def _nested(depth: int, container: str) -> Any:
    """`depth` levels of arrays or objects with a job id in the innermost object."""
    value: Any = {"collection_id": JOB}
    for _ in range(depth - 1):
        value = [value] if container == "array" else {"wrapped": value}
    return value


# ---- accepted calls ----------------------------------------------------------------------------


def test_intake_sample_event_tracks_its_job() -> None:
    # Given the sample notify call (token in the query string, as Bright Data sends it)
    tracker = Tracker()
    # When it is handled
    response = _handle(load_event("webhook.json"), tracker)
    # Then 202 and its job is tracked
    assert response.status == 202
    assert response.body == {"tracked": {JOB: "tracked"}}
    assert tracker.calls == [[JOB]]
    assert response.to_lambda()["statusCode"] == 202


@pytest.mark.parametrize(
    ("query_token", "header_token", "status"),
    [
        pytest.param(TOKEN, None, 202, id="query_only"),
        pytest.param(None, TOKEN, 202, id="header_only"),
        pytest.param("wrong", TOKEN, 202, id="header_preferred_over_query"),
        pytest.param(TOKEN, "wrong", 403, id="wrong_header_is_not_rescued_by_query"),
    ],
)
def test_intake_token_comes_from_the_header_else_the_query(
    query_token: str | None, header_token: str | None, status: int
) -> None:
    # Given a call carrying the token in the header, the query string or both
    event = _event(query_token=query_token, header_token=header_token)
    # When it is handled, Then the header decides when present
    assert _handle(event).status == status


def test_intake_token_header_name_is_case_insensitive() -> None:
    # Given a caller that capitalises the header (Function URLs lower-case it; be safe anyway)
    event = _event(query_token=None)
    event["headers"]["X-Job-Alerts-Token"] = TOKEN
    # When it is handled, Then the token is found
    assert _handle(event).status == 202


@pytest.mark.parametrize(
    ("payload", "expected"),
    [pytest.param({key: JOB}, [JOB], id=key) for key in JOB_ID_KEYS]
    + [
        pytest.param(
            [{"collection_id": JOB}, {"id": "vj_m4x7rt02"}], [JOB, "vj_m4x7rt02"], id="array"
        ),
        pytest.param({"data": {"job": {"id": JOB}}}, [JOB], id="nested_object"),
        pytest.param({"jobs": [{"job_id": JOB}]}, [JOB], id="object_in_array_in_object"),
        pytest.param({"collection_id": {"id": JOB}}, [JOB], id="object_under_known_key"),
        pytest.param(
            {"collection_id": JOB, "id": JOB, "more": [{"jobId": "j_second"}, {"id": JOB}]},
            [JOB, "j_second"],
            id="duplicates_once_in_order",
        ),
        pytest.param(
            {"collection_id": JOB, "status": "done", "id": "req-42", "snapshot_id": "s_m4x7"},
            [JOB],
            id="non_ids_under_known_keys_ignored",
        ),
        pytest.param(_nested(MAX_JSON_DEPTH, "array"), [JOB], id="arrays_at_the_depth_limit"),
        pytest.param(_nested(MAX_JSON_DEPTH, "object"), [JOB], id="objects_at_the_depth_limit"),
    ],
)
def test_intake_finds_ids_under_known_keys_at_any_depth(payload: Any, expected: list[str]) -> None:
    # Given a JSON body naming jobs under the known keys
    tracker = Tracker()
    # When it is handled
    response = _handle(_event(payload), tracker)
    # Then exactly those ids are tracked, once each, in order of appearance
    assert response.status == 202, response.body
    assert tracker.calls == [expected]


@pytest.mark.parametrize("body", ["", "   \n"], ids=["empty", "blank"])
def test_intake_job_id_query_parameter_counts(body: str) -> None:
    # Given a call naming its job in the query string and sending no body
    tracker = Tracker()
    event = _event(body, query={"job_id": JOB})
    # When it is handled, Then the job is tracked
    assert _handle(event, tracker).status == 202
    assert tracker.calls == [[JOB]]


def test_intake_base64_body_is_decoded() -> None:
    # Given a body the Function URL base64-encoded (non-text content type)
    tracker = Tracker()
    event = _event({"collection_id": JOB}, as_base64=True)
    # When it is handled, Then the job is tracked
    assert _handle(event, tracker).status == 202
    assert tracker.calls == [[JOB]]


def test_intake_exactly_the_id_limit_is_accepted() -> None:
    # Given a call naming the most ids one call may (plus repeats, which do not count)
    ids = [f"j_batch{n:04d}" for n in range(MAX_JOB_IDS_PER_CALL)]
    tracker = Tracker()
    payload = [{"collection_id": job_id} for job_id in ids + ids[:10]]
    # When it is handled, Then all of them are tracked in one call
    assert _handle(_event(payload), tracker).status == 202
    assert tracker.calls == [ids]


# ---- refused calls -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("wrong", id="wrong"),
        pytest.param(TOKEN[:-1], id="prefix"),
        pytest.param(TOKEN + "x", id="longer"),
        pytest.param(TOKEN.upper(), id="other_case"),
        pytest.param(TOKEN + "\n", id="trailing_newline"),
        pytest.param("\ud800", id="lone_surrogate"),
    ],
)
def test_intake_refuses_a_missing_or_wrong_token(given: str | None) -> None:
    # Given a call without the right token
    tracker = Tracker()
    # When it is handled
    response = _handle(_event(query_token=given), tracker)
    # Then 403, nothing tracked, and the response never holds the token
    _assert_refused(response, tracker, 403, "forbidden")


def test_intake_refuses_when_the_configured_token_is_empty() -> None:
    # Given a misconfigured (empty) secret and a call sending no token
    tracker = Tracker()
    response = handle_webhook(
        _event(query_token=None), expected_token=lambda: "", track=tracker, max_body_bytes=MAX_BODY
    )
    # Then empty does not match empty
    _assert_refused(response, tracker, 403, "forbidden")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "HEAD"])
def test_intake_refuses_methods_other_than_post(method: str) -> None:
    # Given a call with the right token but another method
    tracker = Tracker()
    # When it is handled
    response = _handle(_event(method=method), tracker)
    # Then 405 naming the method to use
    _assert_refused(response, tracker, 405, "POST")
    assert response.to_lambda()["headers"]["allow"] == "POST"


@pytest.mark.parametrize(
    "near_id",
    [
        pytest.param(JOB + "\n", id="trailing_newline"),
        pytest.param(JOB + "\r\n", id="trailing_crlf"),
        pytest.param(" " + JOB, id="leading_space"),
        pytest.param(JOB + " ", id="trailing_space"),
        pytest.param("J_M4X7HOOK0001", id="upper_prefix"),
        pytest.param("j_", id="prefix_only"),
        pytest.param("j_abc-def", id="dash"),
        pytest.param("j_abc/../x", id="path"),
        pytest.param("j_abc?x=1", id="query"),
        pytest.param("xj_abc", id="prefixed"),
        pytest.param("j_ab\u0441d", id="cyrillic"),
        pytest.param("j_" + "a" * 65, id="too_long"),
        pytest.param("c_m9im5n7v82p2y35la", id="collector_id"),
        pytest.param("s_m4x7snap01", id="snapshot_id"),
    ],
)
def test_intake_ids_must_match_exactly(near_id: str) -> None:
    # Given a body whose only candidate is almost a job id
    tracker = Tracker()
    # When it is handled (in the body, and in the query string)
    for event in (_event({"collection_id": near_id}), _event("", query={"job_id": near_id})):
        response = _handle(event, tracker)
        # Then 400 explaining what a job id looks like, nothing tracked
        _assert_refused(response, tracker, 400, "no Bright Data job id found")
        assert "'j_' or 'vj_'" in response.body["error"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"status": JOB}, id="unknown_key"),
        pytest.param({"job_ids": [JOB]}, id="list_under_unknown_key"),
        pytest.param({"collection_id": [JOB]}, id="list_of_strings_under_known_key"),
        pytest.param([JOB], id="bare_string_in_array"),
        pytest.param(JOB, id="top_level_string"),
        pytest.param({"collection_id": 123}, id="number"),
        pytest.param({"collection_id": None}, id="null"),
        pytest.param({}, id="empty_object"),
        pytest.param(None, id="json_null"),
    ],
)
def test_intake_ids_count_only_as_strings_under_known_keys(payload: Any) -> None:
    # Given a body with a job id (or nothing) somewhere other than a known key's string value
    tracker = Tracker()
    event = _event(json.dumps(payload))
    # When it is handled, Then 400 and nothing tracked
    _assert_refused(_handle(event, tracker), tracker, 400, "no Bright Data job id found")


def test_intake_refuses_an_empty_body_without_query_id() -> None:
    tracker = Tracker()
    _assert_refused(_handle(_event(""), tracker), tracker, 400, "no Bright Data job id found")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{", id="truncated"),
        pytest.param("collection_id=j_m4x7hook0001", id="form_encoded"),
        pytest.param("{'collection_id': 'j_m4x7hook0001'}", id="single_quotes"),
        pytest.param('[{"collection_id": "j_m4x7hook0001"},]', id="trailing_comma"),
        pytest.param('{"collection_id": "j_m4x7hook0001"} {}', id="two_documents"),
        pytest.param('{"n": ' + "9" * 5000 + "}", id="huge_integer"),
    ],
)
def test_intake_refuses_malformed_json(body: str) -> None:
    # Given a body that is not one JSON document
    tracker = Tracker()
    # When it is handled, Then 400 saying so (with where), nothing tracked
    _assert_refused(_handle(_event(body), tracker), tracker, 400, "body is not valid JSON")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(_nested(MAX_JSON_DEPTH + 1, "array")), id="arrays_one_too_deep"),
        pytest.param(json.dumps(_nested(MAX_JSON_DEPTH + 1, "object")), id="objects_one_too_deep"),
        pytest.param("[" * 500 + "]" * 500, id="arrays_500_deep_decoder_copes"),
        pytest.param("[" * 20_000 + "]" * 20_000, id="arrays_20000_deep"),
        pytest.param('{"a":' * 10_000 + "1" + "}" * 10_000, id="objects_10000_deep"),
        pytest.param("[" * 20_000, id="unclosed_20000_deep"),
    ],
)
def test_intake_refuses_json_nested_too_deeply(body: str) -> None:
    # Given a body nested deeper than the limit (some too deep for the JSON decoder itself)
    tracker = Tracker()
    event = _event(json.dumps({"collection_id": JOB})[:-1] + ', "deep": ' + body + "}")
    # When it is handled, Then 400 naming the limit, and nothing tracked even beside a good id
    response = _handle(event, tracker)
    _assert_refused(response, tracker, 400, f"deeper than {MAX_JSON_DEPTH} levels")


def test_intake_refuses_a_bare_20000_deep_array() -> None:
    # Given the reported crash: a 20,000-deep JSON array as the whole body
    tracker = Tracker()
    event = _event("[" * 20_000 + "]" * 20_000)
    # Then a 400, not a crash
    _assert_refused(_handle(event, tracker), tracker, 400, "deeper than")


@pytest.mark.parametrize("count", [MAX_JOB_IDS_PER_CALL + 1, 2_500])
def test_intake_refuses_more_ids_than_the_limit(count: int) -> None:
    # Given one call naming more distinct ids than allowed (2,500 fit in a 60 KB body)
    ids = [f"j_{n:06d}" for n in range(count)]
    body = json.dumps([{"id": job_id} for job_id in ids], separators=(",", ":"))
    assert len(body) <= MAX_BODY
    tracker = Tracker()
    # When it is handled
    response = _handle(_event(body), tracker)
    # Then 413 saying how many and the limit, and none of them is tracked
    _assert_refused(response, tracker, 413, f"{count} job ids in one call")
    assert f"at most {MAX_JOB_IDS_PER_CALL}" in response.body["error"]


@pytest.mark.parametrize("as_base64", [False, True], ids=["plain", "base64"])
def test_intake_body_size_limit_is_exact(as_base64: bool) -> None:
    # Given bodies of exactly the limit and one byte over it
    def body_of(size: int) -> str:
        head = '{"collection_id": "j_m4x7hook0001", "pad": "'
        return head + "x" * (size - len(head) - 2) + '"}'

    at_limit, over = body_of(MAX_BODY), body_of(MAX_BODY + 1)
    assert (len(at_limit), len(over)) == (MAX_BODY, MAX_BODY + 1)
    tracker = Tracker()
    # When each is handled, Then the first is tracked and the second refused with 413
    assert _handle(_event(at_limit, as_base64=as_base64), tracker).status == 202
    assert tracker.calls == [[JOB]]
    refused = Tracker()
    _assert_refused(
        _handle(_event(over, as_base64=as_base64), refused), refused, 413, f"{MAX_BODY} bytes"
    )


def test_intake_body_size_counts_bytes_not_characters() -> None:
    # Given a body under the limit in characters but over it in UTF-8 bytes
    body = json.dumps({"collection_id": JOB, "pad": "é" * (MAX_BODY // 2)}, ensure_ascii=False)
    assert len(body) <= MAX_BODY < len(body.encode())
    tracker = Tracker()
    # When it is handled, Then 413
    _assert_refused(_handle(_event(body), tracker), tracker, 413, "body larger than")


def test_intake_oversized_base64_is_refused_before_decoding() -> None:
    # Given a huge base64 body that is not even valid base64
    event = _event(query_token=TOKEN)
    event["body"] = "!" * (10 * MAX_BODY)
    event["isBase64Encoded"] = True
    tracker = Tracker()
    # When it is handled, Then 413 by its length alone (decoding would have answered 400)
    _assert_refused(_handle(event, tracker), tracker, 413, "body larger than")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param("eyJ", "not valid base64", id="bad_padding"),
        pytest.param(base64.b64encode(b'{"id": "\xff"}').decode(), "not UTF-8", id="not_utf8"),
    ],
)
def test_intake_refuses_undecodable_bodies(body: str, says: str) -> None:
    # Given a base64 body that does not decode to UTF-8 text
    event = _event()
    event["body"], event["isBase64Encoded"] = body, True
    tracker = Tracker()
    # When it is handled, Then 400 saying why
    _assert_refused(_handle(event, tracker), tracker, 400, says)


def test_intake_tracking_failure_propagates_for_a_5xx() -> None:
    # Given a store that fails (DynamoDB throttled)
    def failing_track(ids: list[str]) -> dict[str, str]:
        raise _throttled()

    # When a valid call is handled, Then the error propagates (the Function URL answers 5xx and
    # Bright Data may retry) instead of becoming a 4xx that would lose the job
    with pytest.raises(ClientError):
        handle_webhook(
            _event(), expected_token=lambda: TOKEN, track=failing_track, max_body_bytes=MAX_BODY
        )


# ---- the Lambda handler ------------------------------------------------------------------------


def _throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "PutItem",
    )


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.added: list[str] = []

    def add_job(self, record: JobRecord) -> bool:
        if self.fail:
            raise _throttled()
        self.added.append(record.job_id)
        return True


@pytest.fixture
def intake_app(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeStore], ModuleType]:
    """functions/intake/app.py as Lambda imports it, with the token and the store faked."""

    def load(store: FakeStore) -> ModuleType:
        monkeypatch.setattr(factory, "intake_token", lambda cfg: TOKEN)
        monkeypatch.setattr(factory, "state_store", lambda cfg: store)
        return load_function("intake")

    return load


def test_intake_handler_answers_a_function_url_response(
    intake_app: Callable[[FakeStore], ModuleType], lambda_context: Any
) -> None:
    # Given the intake function and a store
    store = FakeStore()
    app = intake_app(store)
    # When the sample event arrives
    response = app.handler(load_event("webhook.json"), lambda_context)
    # Then a Function URL response: 202, JSON, the job tracked
    assert response["statusCode"] == 202
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"tracked": {JOB: "tracked"}}
    assert store.added == [JOB]


def test_intake_handler_never_logs_the_token_even_with_event_logging_on(
    intake_app: Callable[[FakeStore], ModuleType],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Powertools event logging switched on, and the JSON log lines as Lambda writes them
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    app = intake_app(FakeStore())
    caplog.set_level(logging.DEBUG, logger=app_logger.name)
    json_lines = io.StringIO()
    lines_handler = logging.StreamHandler(json_lines)
    lines_handler.setFormatter(app_logger.registered_formatter)
    logging.getLogger(app_logger.name).addHandler(lines_handler)
    try:
        # When an accepted and a refused call arrive
        for event in (load_event("webhook.json"), _event("{")):
            app.handler(event, lambda_context)
    finally:
        logging.getLogger(app_logger.name).removeHandler(lines_handler)
    # Then the logs show each outcome but never the token
    logged = json_lines.getvalue() + "\n".join(str(r.__dict__) for r in caplog.records)
    assert '"status":202' in logged
    assert "body is not valid JSON" in logged
    assert TOKEN not in logged


def test_intake_handler_store_failure_raises(
    intake_app: Callable[[FakeStore], ModuleType], lambda_context: Any
) -> None:
    # Given a store that fails
    app = intake_app(FakeStore(fail=True))
    # When a valid call arrives, Then the invocation fails (the Function URL answers 5xx)
    with pytest.raises(ClientError) as caught:
        app.handler(load_event("webhook.json"), lambda_context)
    assert TOKEN not in str(caught.value)
