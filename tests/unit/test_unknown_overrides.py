"""Specs for override ids that match no collector of the account: which ids of an override
document judge nothing, which listed collector a mistyped id was probably meant to be, and
`thresholds set` refusing such an id (or an unreadable listing) unless --force, without network."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from job_alerts import cli, factory
from job_alerts.brightdata import Forbidden, Transient
from job_alerts.brightdata.errors import Endpoint
from job_alerts.thresholds import (
    Overrides,
    parse_overrides,
    similar_collector_ids,
    unknown_override_ids,
)

LISTED = "c_m9im5n7v82p2y35la"
TYPO = "c_m9im5n7v82p2y35al"


def overrides(*collector_ids: str) -> Overrides:
    return parse_overrides({"collectors": {cid: {"max_fails": 3} for cid in collector_ids}})


@pytest.mark.parametrize(
    ("document", "listed", "expected"),
    [
        (None, {LISTED}, ()),
        (Overrides(), {LISTED}, ()),
        (overrides(LISTED), {LISTED}, ()),
        (overrides(TYPO, LISTED), {LISTED}, (TYPO,)),
        (overrides("c_b", "c_a"), set(), ("c_a", "c_b")),
    ],
    ids=["no-document", "empty", "all-listed", "one-typo", "nothing-listed-sorted"],
)
def test_unknown_override_ids_are_the_document_ids_not_listed(
    document: Overrides | None, listed: set[str], expected: tuple[str, ...]
) -> None:
    assert unknown_override_ids(document, listed) == expected


def test_unknown_override_ids_ignore_the_default_scope() -> None:
    document = parse_overrides({"default": {"max_fails": 3}, "collectors": {}})
    assert unknown_override_ids(document, set()) == ()


@pytest.mark.parametrize(
    ("typed", "listed", "expected"),
    [
        (TYPO, {LISTED: "Amazon products", "c_other": "Other"}, [LISTED]),
        ("c_amazon_product", {"c_x1": "amazon products", "c_x2": "zz"}, ["c_x1"]),
        ("c_google_reviews", {LISTED: "Amazon products"}, []),
        (TYPO, {}, []),
    ],
    ids=["by-id", "by-name", "nothing-close", "nothing-listed"],
)
def test_similar_collector_ids_match_listed_ids_and_names(
    typed: str, listed: Mapping[str, str], expected: list[str]
) -> None:
    assert similar_collector_ids(typed, listed) == expected


# ---- `thresholds set` over a stand-in Bright Data client ----------------------------------------
class ListingClient:
    """Stands in for BrightDataClient: the collectors listing, or the error it raises."""

    def __init__(self, answer: list[dict[str, Any]] | Exception) -> None:
        self.answer = answer
        self.listings = 0

    def list_collectors(self) -> list[dict[str, Any]]:
        self.listings += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def close(self) -> None:
        pass


@pytest.fixture
def document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"collectors": {}}), encoding="utf-8")
    for name in ("TABLE_NAME", "TOPIC_ARN", "THRESHOLDS_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", "unit-token")
    monkeypatch.setenv("BRIGHTDATA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("THRESHOLDS_FILE", str(path))
    return path


def set_with(
    client: ListingClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *options: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(factory, "bright_data_client", lambda _cfg: client)
    code = cli.main(["thresholds", "set", "--collector", TYPO, "max_fails=3", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


UNREACHABLE = Transient(
    "GET /dca/collectors_list: connection refused after 4 attempts",
    endpoint=Endpoint.COLLECTORS_LIST,
)
REFUSED = Forbidden(
    'GET /dca/collectors_list answered 403: "Automation not allowed"',
    status=403,
    endpoint=Endpoint.COLLECTORS_LIST,
)


@pytest.mark.parametrize("failure", [UNREACHABLE, REFUSED], ids=["network", "403"])
def test_thresholds_set_refuses_to_guess_when_the_listing_fails(
    failure: Exception,
    document: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a collectors listing that cannot be read
    client = ListingClient(failure)
    # When a limit is set / Then it exits 2, saying why, and writes nothing
    code, out, err = set_with(client, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert f"whether {TYPO} is one of this account's collectors cannot be told" in err
    assert str(failure) in err
    assert "pass --force" in err
    assert json.loads(document.read_text(encoding="utf-8")) == {"collectors": {}}


def test_thresholds_set_without_a_token_requires_force(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no Bright Data token at all: the listing cannot be read
    monkeypatch.delenv("BRIGHTDATA_API_TOKEN")
    code = cli.main(["thresholds", "set", "--collector", TYPO, "max_fails=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no Bright Data token" in err and "--force" in err
    # When --force is given / Then it is written, with a warning
    code = cli.main(["thresholds", "set", "--collector", TYPO, "max_fails=3", "--force"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(document.read_text(encoding="utf-8"))["collectors"] == {
        TYPO: {"max_fails": 3}
    }


def test_thresholds_set_nothing_to_change_reads_no_listing(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the collector already has the limit
    document.write_text(json.dumps({"collectors": {TYPO: {"max_fails": 3}}}), encoding="utf-8")
    client = ListingClient(UNREACHABLE)
    # When the same limit is set / Then nothing changes, nothing is written, nothing is asked
    code, out, _ = set_with(client, monkeypatch, capsys)
    assert code == 0
    assert f"Nothing changes for {TYPO}." in out
    assert client.listings == 0


def test_thresholds_set_what_if_writes_nothing_so_checks_no_listing(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A what-if writes nothing; a pasted what-if must work where collectors_list is refused.
    monkeypatch.setattr("job_alerts.cli.limits._what_if", lambda *_a: [])
    client = ListingClient(REFUSED)
    code, out, _ = set_with(client, monkeypatch, capsys, "--what-if")
    assert code == 0
    assert "What if (nothing written): 0 recent settled jobs replayed" in out
    assert client.listings == 0


def test_thresholds_set_force_still_says_what_was_meant(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ListingClient([{"id": LISTED, "name": "Amazon products"}])
    code, out, err = set_with(client, monkeypatch, capsys, "--force", "--json")
    assert code == 0, err
    assert json.loads(out)["written_to"] == f"THRESHOLDS_FILE {document}"
    assert err.startswith(f"job-alerts: warning: {TYPO} is not one of this account's collectors")
    assert f"did you mean {LISTED} (Amazon products)?" in err
