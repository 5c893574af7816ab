"""Collectors the monitor cannot watch, with no server: every failed listing counts (for health
and for the collector), a collector whose jobs cannot be listed on three runs in a row or that the
account does not show is judged by discovery, and its alarm opens once and resolves in its rule's
words; discovery lists the least recently listed first and starts no listing out of its time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from job_alerts.alerts import AlertKind
from job_alerts.brightdata import (
    BadResponse,
    BadResponseReason,
    BrightDataError,
    Endpoint,
    Forbidden,
    NotFound,
    Transient,
)
from job_alerts.config import Settings
from job_alerts.decide import assess_health, decide_collector, is_failed_listing
from job_alerts.discovery import FORGET_MISSING_AFTER, Discovery, discover
from job_alerts.models import AlarmClaim, AlarmState, CollectorMeta, HealthState, JobRecord
from job_alerts.rules import RULES, Rule, Verdict
from job_alerts.rules_listing import UNLISTED_AFTER_RUNS, judge_not_found, judge_unlisted
from job_alerts.state.items import collector_meta, collector_meta_item
from job_alerts.timeutil import iso

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CID = "c_shop"
OTHER = "c_other"
TYPO = "c_shpo"
JOBS = Endpoint.COLLECTOR_JOBS


# ---- fakes: the API and the table, as discovery uses them -----------------------------------
@dataclass
class FakeApi:
    """collectors_list answers `collectors`; a collector's job listing answers `jobs[cid]`, or
    raises it when it is an error."""

    collectors: list[dict[str, Any]]
    jobs: dict[str, list[dict[str, Any]] | BrightDataError] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)

    def list_collectors(self) -> list[dict[str, Any]]:
        return self.collectors

    def list_jobs(self, collector_id: str, _from: date, _to: date) -> list[dict[str, Any]]:
        self.listed.append(collector_id)
        answer = self.jobs.get(collector_id, [])
        if isinstance(answer, BrightDataError):
            raise answer
        return answer


@dataclass
class FakeStore:
    metas: dict[str, CollectorMeta] = field(default_factory=dict)
    saves: int = 0
    jobs: dict[str, JobRecord] = field(default_factory=dict)

    def collector_meta(self) -> dict[str, CollectorMeta]:
        return dict(self.metas)

    def save_collector_meta(self, metas: Sequence[CollectorMeta]) -> None:
        self.saves += 1
        self.metas.update({meta.collector_id: meta for meta in metas})

    def get_jobs(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        return {job_id: self.jobs[job_id] for job_id in job_ids if job_id in self.jobs}

    def add_job(self, record: JobRecord) -> bool:
        self.jobs[record.job_id] = record
        return True


def shown(*ids: str) -> list[dict[str, Any]]:
    return [{"id": cid, "name": f"name-{cid}", "last_run": "2026-03-02T08:00:00Z"} for cid in ids]


def job_rows(*ids: str) -> list[dict[str, Any]]:
    return [
        {"id": job_id, "status": "done", "queued": iso(NOW - timedelta(hours=1))} for job_id in ids
    ]


def html_page() -> BadResponse:
    return BadResponse(
        "GET /dca/collector/jobs answered 200 with an HTML page instead of JSON: '<html>...'",
        reason=BadResponseReason.HTML,
        sample="<html>...",
        status=200,
        endpoint=JOBS,
    )


LISTING_ERRORS: dict[str, Callable[[], BrightDataError]] = {
    "html_200": html_page,
    "paging": lambda: BadResponse(
        "/dca/collector/jobs: paging made no progress: '{}'",
        reason=BadResponseReason.PAGING,
        sample="{}",
        status=200,
        endpoint=JOBS,
    ),
    "404": lambda: NotFound("GET /dca/collector/jobs: not found (404)", status=404, endpoint=JOBS),
    "400": lambda: BrightDataError(
        "GET /dca/collector/jobs answered 400", status=400, endpoint=JOBS
    ),
    "5xx": lambda: Transient("GET /dca/collector/jobs answered 502", status=502, endpoint=JOBS),
}


def run(
    api: FakeApi,
    store: FakeStore,
    now: datetime = NOW,
    listing_time_left: Callable[[], bool] = lambda: True,
    **settings: Any,
) -> Discovery:
    return discover(
        api,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        Settings(**settings),
        now,
        dry_run=False,
        listing_time_left=listing_time_left,
    )


def verdict(found: Discovery, cid: str, rule: Rule) -> Verdict | None:
    results = {result.rule: result for result in found.listing.get(cid, ())}
    return results[rule].verdict if rule in results else None


# ---- the judges -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (0, Verdict.OK),
        (1, Verdict.UNKNOWN),
        (UNLISTED_AFTER_RUNS - 1, Verdict.UNKNOWN),
        (UNLISTED_AFTER_RUNS, Verdict.BREACH),
        (UNLISTED_AFTER_RUNS + 5, Verdict.BREACH),
    ],
)
def test_judge_unlisted_breaches_only_after_three_failed_runs(runs: int, expected: Verdict) -> None:
    result = judge_unlisted(runs, "GET /dca/collector/jobs answered 404")
    assert result.verdict is expected
    if expected is Verdict.BREACH:
        assert result.finding is not None
        assert result.finding.severity is RULES[Rule.COLLECTOR_UNLISTED].severity
        assert (
            f"{runs} runs in a row: GET /dca/collector/jobs answered 404" in result.finding.message
        )


def test_judge_not_found_names_the_id() -> None:
    assert judge_not_found(TYPO, None).verdict is Verdict.OK
    result = judge_not_found(TYPO, "its job listing shows no job since 2026-02-28")
    assert result.verdict is Verdict.BREACH and result.finding is not None
    assert result.finding.message.startswith(f"{TYPO} is not in this account's collectors")
    assert result.finding.severity.value == "warning"


# ---- counting failed listings -----------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LISTING_ERRORS), ids=list(LISTING_ERRORS))
def test_every_failed_listing_counts_for_health_and_for_the_collector(kind: str) -> None:
    # Given a collector whose job listing fails this way, run after run
    api = FakeApi(shown(CID, OTHER), {CID: LISTING_ERRORS[kind]()})
    store = FakeStore()
    for n in range(1, UNLISTED_AFTER_RUNS + 1):
        found = run(api, store, NOW + timedelta(minutes=5 * n))
        # Then each failure counts against API health, and in the collector's item (it is
        # listed again every run, though nothing new started: its listing is owed)
        assert found.failures == 1
        assert api.listed.count(CID) == n
        assert store.metas[CID].failed_listings == n
        expected = Verdict.BREACH if n == UNLISTED_AFTER_RUNS else Verdict.UNKNOWN
        assert verdict(found, CID, Rule.COLLECTOR_UNLISTED) is expected
    assert verdict(found, OTHER, Rule.COLLECTOR_UNLISTED) is None  # not due: not judged
    # When it lists again, Then OK, the count is gone, and the collector may end its alarm
    api.jobs[CID] = job_rows("j_back1")
    found = run(api, store, NOW + timedelta(hours=1))
    assert verdict(found, CID, Rule.COLLECTOR_UNLISTED) is Verdict.OK
    assert store.metas[CID].failed_listings == 0
    assert found.recovered == {CID}


def test_a_refused_listing_counts_for_the_collector_not_as_unreachable() -> None:
    api = FakeApi(shown(CID), {CID: Forbidden("GET /dca/collector/jobs refused (403)")})
    store = FakeStore()
    found = run(api, store)
    assert found.failures == 0  # 403 is ENDPOINT_REFUSED, told apart
    assert store.metas[CID].failed_listings == 1
    assert not is_failed_listing(Forbidden("x")) and is_failed_listing(html_page())


def test_failed_listings_can_make_the_api_count_as_unreachable() -> None:
    # Given a run where the one collector's listing answered a page and no job was read
    assessment = assess_health(
        token_rejected=False, listing_failures=2, listing_attempts=3, read_errors=[], reads=0
    )
    assert assessment.state is HealthState.API_UNREACHABLE


def test_a_run_with_nothing_due_writes_nothing_and_lists_nothing() -> None:
    # Given a collector listed a minute ago whose last_run did not change
    api = FakeApi(shown(CID), {CID: job_rows("j_1")})
    store = FakeStore()
    run(api, store)
    saves, listed = store.saves, len(api.listed)
    # When the next run comes, Then no listing, no write, and no listing verdict
    found = run(api, store, NOW + timedelta(minutes=1))
    assert (store.saves, len(api.listed)) == (saves, listed)
    assert found.listing == {} and found.recovered == set()


def test_a_failure_after_a_good_listing_keeps_what_the_item_knew() -> None:
    api = FakeApi(shown(CID), {CID: job_rows("j_1")})
    store = FakeStore()
    run(api, store)
    before = store.metas[CID]
    api.jobs[CID] = html_page()
    run(api, store, NOW + timedelta(minutes=31))
    assert store.metas[CID] == replace(before, failed_listings=1)


# ---- collectors the account does not show ------------------------------------------------------
def test_a_mistyped_id_in_collectors_is_looked_for_named_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Collectors with an id collectors_list does not show, whose listing shows nothing
    api = FakeApi(shown(CID))
    store = FakeStore()
    with caplog.at_level(logging.WARNING):
        found = run(api, store, collectors=(CID, TYPO))
    # Then its jobs were listed by id, it is named, and a log line says so
    assert TYPO in api.listed
    assert verdict(found, TYPO, Rule.COLLECTOR_NOT_FOUND) is Verdict.BREACH
    assert verdict(found, TYPO, Rule.COLLECTOR_UNLISTED) is None
    assert verdict(found, CID, Rule.COLLECTOR_NOT_FOUND) is Verdict.OK
    assert store.metas[TYPO].missing_since == NOW
    assert any(
        r.getMessage() == "collector not in this account's collectors"
        and getattr(r, "collector", None) == TYPO
        for r in caplog.records
    )
    # When it is still missing next run, Then the same verdict and no further write of it
    saves = store.saves
    api.collectors = shown(CID)
    found = run(api, store, NOW + timedelta(minutes=1), collectors=(CID, TYPO))
    assert verdict(found, TYPO, Rule.COLLECTOR_NOT_FOUND) is Verdict.BREACH
    assert store.saves == saves  # CID unchanged, TYPO already marked missing


def test_a_wanted_id_that_lists_jobs_is_watched_though_collectors_list_omits_it() -> None:
    api = FakeApi(shown(CID), {TYPO: job_rows("j_seen1")})
    store = FakeStore()
    found = run(api, store, collectors=(TYPO,))
    assert verdict(found, TYPO, Rule.COLLECTOR_NOT_FOUND) is Verdict.OK
    assert [job.job_id for job in found.new_jobs] == ["j_seen1"]


def test_a_failing_listing_of_a_missing_collector_is_not_found_not_unlisted() -> None:
    api = FakeApi(shown(CID), {TYPO: NotFound("GET /dca/collector/jobs: not found (404)")})
    store = FakeStore()
    for n in range(UNLISTED_AFTER_RUNS + 1):
        found = run(api, store, NOW + timedelta(minutes=n), collectors=(CID, TYPO))
    assert verdict(found, TYPO, Rule.COLLECTOR_NOT_FOUND) is Verdict.BREACH
    assert verdict(found, TYPO, Rule.COLLECTOR_UNLISTED) is None
    results = {r.rule: r for r in found.listing[TYPO]}
    finding = results[Rule.COLLECTOR_NOT_FOUND].finding
    assert (
        finding is not None
        and "listing its jobs failed (GET /dca/collector/jobs" in finding.message
    )


def test_an_id_taken_out_of_collectors_is_no_longer_watched() -> None:
    api = FakeApi(shown(CID))
    store = FakeStore()
    run(api, store, collectors=(CID, TYPO))
    found = run(api, store, NOW + timedelta(minutes=5), collectors=(CID,))
    results = {r.rule: r for r in found.listing[TYPO]}
    result = results[Rule.COLLECTOR_NOT_FOUND]
    assert result.verdict is Verdict.OK and result.finding is not None
    assert (
        result.finding.message == f"{TYPO} is no longer in Collectors: it is not watched any more"
    )
    assert found.recovered == {TYPO}
    assert store.metas[TYPO].missing_since is None


def test_a_collector_that_left_the_account_is_looked_for_then_forgotten() -> None:
    # Given a collector listed before (no Collectors set), then left out of collectors_list
    api = FakeApi(shown(CID, OTHER), {CID: job_rows("j_1"), OTHER: job_rows("j_2")})
    store = FakeStore()
    run(api, store)
    api.collectors, api.jobs[OTHER] = shown(CID), []
    # When the monitor runs, Then it is looked for and named
    found = run(api, store, NOW + timedelta(minutes=5))
    assert verdict(found, OTHER, Rule.COLLECTOR_NOT_FOUND) is Verdict.BREACH
    # When a week passes since its jobs were last listed, Then it is forgotten, saying so, once
    later = NOW + FORGET_MISSING_AFTER + timedelta(minutes=1)
    api.listed.clear()
    found = run(api, store, later)
    result = {r.rule: r for r in found.listing[OTHER]}[Rule.COLLECTOR_NOT_FOUND]
    assert result.verdict is Verdict.OK and result.finding is not None
    assert "left this account's collectors" in result.finding.message
    assert OTHER not in api.listed
    found = run(api, store, later + timedelta(minutes=5))
    assert OTHER not in found.listing


def test_a_collector_back_in_collectors_list_ends_its_not_found() -> None:
    api = FakeApi(shown(CID), {CID: job_rows("j_1")})
    store = FakeStore()
    run(api, store)
    api.collectors = []
    api.jobs[CID] = []
    run(api, store, NOW + timedelta(minutes=1))
    assert store.metas[CID].missing_since is not None
    api.collectors = shown(CID)
    found = run(api, store, NOW + timedelta(minutes=2))
    assert verdict(found, CID, Rule.COLLECTOR_NOT_FOUND) is Verdict.OK
    assert found.recovered == {CID}


# ---- codec ---------------------------------------------------------------------------------
def test_collector_meta_round_trip_and_old_items_still_load() -> None:
    meta = CollectorMeta(CID, "shop", listed_at=NOW, failed_listings=2, missing_since=NOW)
    assert collector_meta(collector_meta_item(meta)) == meta
    old = {"pk": "COLLECTORS", "sk": CID, "name": "shop", "last_run": "", "listed_at": iso(NOW)}
    loaded = collector_meta(old)
    assert (loaded.failed_listings, loaded.missing_since) == (0, None)
    # An item with no marks is written as before (no new attributes)
    assert set(collector_meta_item(CollectorMeta(CID, "shop"))) == {
        "pk",
        "sk",
        "collector_id",
        "name",
        "last_run",
    }


# ---- the time budget -------------------------------------------------------------------------
def test_discovery_lists_the_least_recently_listed_first_and_stops_out_of_time() -> None:
    ids = ["c_a", "c_b", "c_c", "c_d"]
    store = FakeStore(
        {
            cid: CollectorMeta(cid, cid, last_run="old", listed_at=NOW - timedelta(minutes=m))
            for cid, m in zip(ids, (10, 40, 20, 30), strict=True)
        }
    )
    api = FakeApi([{"id": cid, "name": cid, "last_run": "new"} for cid in ids])
    budget = iter([True])  # the first listing is never refused: every run goes on
    found = run(api, store, listing_time_left=lambda: next(budget, False), max_concurrency=1)
    # Then the two listed longest ago went first; the others were left, with no failure
    assert api.listed == ["c_b", "c_d"]
    assert (found.deferred, found.failures, found.errors) == (2, 0, [])
    assert {cid: store.metas[cid].failed_listings for cid in ids} == dict.fromkeys(ids, 0)
    assert store.metas["c_c"].listed_at == NOW - timedelta(minutes=20)
    # When the next run has time, Then it goes on with those left
    api.listed.clear()
    run(api, store, NOW + timedelta(minutes=1), max_concurrency=1)
    assert api.listed == ["c_c", "c_a"]


# ---- decide: opened once, resolved in the rule's words ----------------------------------------
def _decide(results: Sequence[Any], alarms: dict[str, Any], now: datetime = NOW) -> Any:
    return decide_collector(CID, "shop", [], alarms, Settings(), now, activity=results)


def test_listing_alarm_opens_once_and_resolves_in_its_rules_words() -> None:
    breach = judge_unlisted(UNLISTED_AFTER_RUNS, "GET /dca/collector/jobs answered 404")
    decision = _decide([breach], {})
    ((entry, claim),) = zip(decision.entries, decision.claims, strict=True)
    assert (entry.kind, entry.rule, entry.severity.value) == (
        AlertKind.ALARM,
        "collector_unlisted",
        "critical",
    )
    assert isinstance(claim, AlarmClaim) and claim.alarm.state is AlarmState.ALARM
    opened = {"collector_unlisted": claim.alarm}
    # Still failing: nothing more
    assert _decide([breach], opened).entries == []
    # Listed again: RESOLVED, in the words of the spec
    decision = _decide([judge_unlisted(0, "")], opened, NOW + timedelta(minutes=15))
    (entry,) = decision.entries
    assert (entry.kind, entry.message) == (AlertKind.RESOLVED, "its jobs can be listed again")
    assert entry.duration_s == 15 * 60


def test_collector_silent_still_resolves_as_before() -> None:
    assert RULES[Rule.COLLECTOR_SILENT].resolved == "the collector started a job again"


def test_a_collector_id_that_cannot_be_used_is_dropped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given collectors_list showing an id no URL or table key may hold
    api = FakeApi([*shown(CID), {"id": "../../dca/x" + "y" * 2000, "name": "hostile"}])
    store = FakeStore()
    with caplog.at_level(logging.WARNING):
        found = run(api, store)
    # Then it is neither listed nor remembered, and a log line says so
    assert api.listed == [CID]
    assert set(store.metas) == {CID} and found.failures == 0
    assert any(r.getMessage() == "collectors listed without a usable id" for r in caplog.records)
