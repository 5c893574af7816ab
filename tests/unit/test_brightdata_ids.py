"""Id validation of the Bright Data client: what may be put into a URL, and what may not. The
patterns live in job_alerts.ids; the client raises its own InvalidId, which is both kinds."""

from __future__ import annotations

from datetime import date

import pytest

from job_alerts import ids
from job_alerts.brightdata import (
    BrightDataClient,
    BrightDataError,
    Endpoint,
    InvalidId,
    validate_collector_id,
    validate_job_id,
)
from job_alerts.ids import ID_BODY_MAX

GOOD_JOB_IDS = [
    "j_ma13y9ay1piehrso8r",
    "vj_m9im5n7v82p2y35la",
    "j_A",
    "j_with_underscores_1",
    "j_" + "x" * ID_BODY_MAX,
]
GOOD_COLLECTOR_IDS = ["c_m9im5n7v82p2y35la", "c_1", "c_" + "Z" * ID_BODY_MAX]

HOSTILE_IDS: list[object] = [
    "",
    "j_",
    "vj_",
    "x_abc",
    "J_abc",
    "c_abc",  # a collector id where a job id is expected
    "j_../x",
    "../j_abc",
    "j_a/b",
    "j_a?b=1",
    "j_a#frag",
    "j_a%2Fb",
    "j_a b",
    " j_abc",
    "j_abc ",
    "j_abc\n",
    "j_abc\r\nX-Injected: 1",
    "j_abc\x00",
    "j_\u00e9t\u00e9",
    "j_\u0661\u0662",  # Arabic-Indic digits: \d would accept them, our class must not
    "j_abc\u200b",
    "j_" + "x" * (ID_BODY_MAX + 1),
    "j_" + "a" * 10_000,
    None,
    42,
    b"j_abc",
    ["j_abc"],
]


@pytest.mark.parametrize("job_id", GOOD_JOB_IDS)
def test_validate_job_id_accepts_real_shapes(job_id: str) -> None:
    # Given a job id shaped like Bright Data's / When validated / Then it comes back unchanged
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize("collector_id", GOOD_COLLECTOR_IDS)
def test_validate_collector_id_accepts_real_shapes(collector_id: str) -> None:
    assert validate_collector_id(collector_id) == collector_id


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_validate_job_id_rejects_hostile_values(bad: object) -> None:
    # Given a value that is not a plain job id / When validated / Then InvalidId, a ValueError
    with pytest.raises(InvalidId) as caught:
        validate_job_id(bad)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, BrightDataError)


HOSTILE_COLLECTOR_IDS = [bad for bad in HOSTILE_IDS if bad != "c_abc"]


@pytest.mark.parametrize("bad", [*HOSTILE_COLLECTOR_IDS, "j_abc", "c_", "c_a/b", "c_a?x=1"])
def test_validate_collector_id_rejects_hostile_values(bad: object) -> None:
    with pytest.raises(InvalidId):
        validate_collector_id(bad)


@pytest.mark.parametrize(
    "bad",
    ["j_" + "a" * 10_000, "j_abc\r\nX-Injected: 1", "j_\u00e9t\u00e9\u200b", "j_a\x1b[31m"],
)
def test_validate_job_id_message_quotes_a_short_escaped_prefix(bad: str) -> None:
    # Given a long or control-laden id / When rejected
    with pytest.raises(InvalidId) as caught:
        validate_job_id(bad)
    message = str(caught.value)
    # Then the message stays short, printable ASCII and says what was expected
    assert len(message) < 200
    assert message.isascii()
    assert "\r" not in message
    assert "\n" not in message
    assert "\x1b" not in message
    assert "j_" in message
    assert "expected" in message


def test_validate_job_id_names_the_wrong_type() -> None:
    with pytest.raises(InvalidId, match="must be a str, not int"):
        validate_job_id(123)


def test_validate_job_id_returns_a_plain_str_for_a_subclass() -> None:
    # Given a str subclass that could change how it formats itself
    class Sneaky(str):
        def __str__(self) -> str:
            return "../../etc/passwd"

        def __format__(self, spec: str) -> str:
            return "../../etc/passwd"

    # When validated / Then the plain characters come back, not the subclass
    result = validate_job_id(Sneaky("j_abc"))
    assert type(result) is str
    assert f"{result}" == "j_abc"


@pytest.mark.parametrize(
    "base_url", ["ftp://api.example.com", "file:///etc/passwd", "api.brightdata.com", "", "http://"]
)
def test_client_rejects_a_base_url_that_is_not_http(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        BrightDataClient(base_url, "token")


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.brightdata.com/", "https://api.brightdata.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765/prefix//", "http://localhost:8765/prefix"),
    ],
)
def test_client_strips_trailing_slashes_from_base_url(base_url: str, expected: str) -> None:
    assert BrightDataClient(base_url, "token").base_url == expected


def test_invalid_id_is_a_brightdata_error_and_the_package_wide_invalid_id() -> None:
    assert issubclass(InvalidId, BrightDataError)
    assert issubclass(InvalidId, ids.InvalidId)
    assert issubclass(InvalidId, ValueError)
    assert InvalidId.kind == "invalid_id"


@pytest.mark.parametrize("bad", ["j_../x", "c_abc", "j_" + "a" * 10_000, 7])
def test_validate_job_id_says_what_the_ids_module_says(bad: object) -> None:
    # Given the package-wide rule's verdict on a value
    with pytest.raises(ids.InvalidId) as expected:
        ids.validate_job_id(bad)
    # When the client's wrapper judges it / Then the same words, as the client's error
    with pytest.raises(InvalidId) as caught:
        validate_job_id(bad)
    assert str(caught.value) == str(expected.value)
    assert caught.value.endpoint is None


def test_validate_collector_id_says_what_the_ids_module_says() -> None:
    with pytest.raises(ids.InvalidId) as expected:
        ids.validate_collector_id("j_abc")
    with pytest.raises(InvalidId) as caught:
        validate_collector_id("j_abc")
    assert str(caught.value) == str(expected.value)


@pytest.mark.parametrize(
    ("call", "endpoint"),
    [
        ("get_log", Endpoint.LOG),
        ("get_errors", Endpoint.HP_ERRORS),
        ("rerun", Endpoint.RERUN),
        ("list_jobs", Endpoint.COLLECTOR_JOBS),
    ],
)
def test_client_rejects_a_bad_id_with_the_ids_message_and_its_endpoint(
    call: str, endpoint: Endpoint
) -> None:
    # Given a client pointed at a port nobody should ever reach: no request may be made
    client = BrightDataClient("http://127.0.0.1:9", "token")
    bad = "j_a?b=1"
    calls = {
        "get_log": lambda: client.get_log(bad),
        "get_errors": lambda: client.get_errors(bad),
        "rerun": lambda: client.rerun(bad),
        "list_jobs": lambda: client.list_jobs(bad, date(2025, 4, 28), date(2025, 4, 28)),
    }
    validator = ids.validate_collector_id if call == "list_jobs" else ids.validate_job_id
    with pytest.raises(ids.InvalidId) as expected:
        validator(bad)
    # When the call is made / Then the client's InvalidId, with the same words and the endpoint
    with pytest.raises(InvalidId) as caught:
        calls[call]()
    assert str(caught.value) == str(expected.value)
    assert caught.value.endpoint is endpoint
    assert client.stats.snapshot()["requests_total"] == 0
