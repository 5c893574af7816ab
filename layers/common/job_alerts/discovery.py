"""Discover stage: which jobs exist that the table does not know yet. Lists collectors (unless
`Collectors` names them), lists a collector's jobs only when something new ran there (plus a
periodic full pass), and records the new job ids as live jobs, within its share of the run's
time. Judges from these listings whether each collector can be watched at all (rules_listing): a
collector whose listing keeps failing, one the account does not show."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from job_alerts.brightdata import (
    BrightDataClient,
    BrightDataError,
    Forbidden,
    Unauthorized,
)
from job_alerts.config import Settings
from job_alerts.decide.health import is_failed_listing
from job_alerts.history import History
from job_alerts.ids import is_collector_id, is_job_id
from job_alerts.models import CollectorMeta, JobRecord
from job_alerts.observability import logger
from job_alerts.rules import Rule, RuleResult
from job_alerts.rules_listing import judge_not_found, judge_unlisted, no_longer_watched
from job_alerts.state import StateStore
from job_alerts.text import day, moment
from job_alerts.timeutil import parse_moment, ttl_at

# Even when a collector's last_run says nothing new started, list its jobs this often: last_run's
# exact meaning is not documented, and a missed job must not stay missed.
FULL_LIST_INTERVAL = timedelta(minutes=30)
# A job queued this long before the previous listing was in that listing (clock skew allowed).
LISTING_OVERLAP = timedelta(hours=1)
# Without `Collectors`, a collector that left collectors_list is looked for (its jobs listed by
# id) this long after its jobs were last listed; then it is forgotten.
FORGET_MISSING_AFTER = timedelta(days=7)
# The quoted answer of a failed listing, in an alert.
FAILURE_SHOWN_CHARS = 240
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Discovery:
    """What discovery found, and what its API calls came to (for monitor health)."""

    new_jobs: list[JobRecord] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    collectors_seen: int = 0
    collectors_listed: int = 0
    attempts: int = 0
    failures: int = 0  # calls that count against API health
    errors: list[BrightDataError] = field(default_factory=list)
    # Per collector seen this run: when its recent jobs were created (what the listings of this
    # and earlier runs showed), for the dead-collector rule.
    cadence: dict[str, History] = field(default_factory=dict)
    # The collectors whose listing showed a job created since the last one (only these can
    # end a silence).
    new_activity: set[str] = field(default_factory=set)
    # Per collector: its collector-wide rules judged from this run's listings (collector_unlisted,
    # collector_not_found), beside judge_activity's.
    listing: dict[str, tuple[RuleResult, ...]] = field(default_factory=dict)
    # The collectors whose listing works again, that are back in collectors_list, or that are no
    # longer watched: only these can end a listing alarm.
    recovered: set[str] = field(default_factory=set)
    # Every collector id collectors_list showed; None when it was not read (it failed, or
    # `Collectors` names them).
    listed_ids: frozenset[str] | None = None
    # Listings not tried because discovery's share of the run's time was spent (no failure):
    # the least recently listed collectors go first, so the next run goes on with these.
    deferred: int = 0
    # Without `Collectors`, collectors_list failed (not a refusal): only the collectors already
    # known were listed, and one not seen yet cannot be.
    account_unlisted: bool = False

    @property
    def token_accepted(self) -> bool:
        """Some call of discovery was answered: the token works, and a 401 concerns only what
        that call asked for (one collector)."""
        return self.attempts > len(self.errors)

    @property
    def token_rejected(self) -> bool:
        """A call answered 401 and none was answered: the token itself is refused."""
        return not self.token_accepted and any(isinstance(e, Unauthorized) for e in self.errors)

    def with_listing(
        self, activity: Mapping[str, tuple[RuleResult, ...]]
    ) -> dict[str, tuple[RuleResult, ...]]:
        """judge_activity's results with this run's listing-rule results beside them."""
        merged = dict(activity)
        for cid, results in self.listing.items():
            merged[cid] = (*merged.get(cid, ()), *results)
        return merged


@dataclass(frozen=True)
class ListingPlan:
    """Why and how one collector's jobs are listed this run."""

    collector_id: str
    name: str
    last_run: str
    full_pass: bool  # look up every listed id (every FULL_LIST_INTERVAL)
    full_at: datetime | None  # when the last full pass was
    seen_before: datetime | None  # jobs queued before this were in an earlier listing


def listing_plan(
    collector_id: str, name: str, last_run: str, previous: CollectorMeta | None, now: datetime
) -> ListingPlan | None:
    """None when the collector need not be listed: its last_run (when the API says when it last
    started a job) is unchanged and a full pass is not due. Without last_run it is listed every
    run."""
    full_at = previous.full_at if previous else None
    full_due = full_at is None or now - full_at >= FULL_LIST_INTERVAL
    if last_run and previous is not None and previous.last_run == last_run and not full_due:
        return None
    listed_at = previous.listed_at if previous else None
    seen_before = None if full_due or listed_at is None else listed_at - LISTING_OVERLAP
    return ListingPlan(collector_id, name, last_run, full_due, full_at, seen_before)


def listed_time(job: dict[str, Any]) -> datetime | None:
    """When a listed job was queued (or created), if the listing says so readably."""
    for key in ("queued", "created"):
        try:
            moment = parse_moment(job.get(key))
        except ValueError:
            return None
        if moment is not None:
            return moment
    return None


def discover(
    client: BrightDataClient,
    store: StateStore,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    listing_time_left: Callable[[], bool] = lambda: True,
    time_left: Callable[[], bool] = lambda: True,
) -> Discovery:
    """List what is due, least recently listed first, while `listing_time_left()` (discovery's
    share of the run's time); record the new jobs while `time_left()` (the run's deadline);
    judge the listing rules. A collector's listing item is written when it was listed, or its
    listing failed, went missing or came back: a run with nothing due writes nothing."""
    result = Discovery()
    known = store.collector_meta()
    seen = _collectors(client, settings, result, known, now)
    if seen is None:
        return result
    collectors, shown = seen
    result.listed_ids = frozenset(shown) if shown is not None else None
    missing = _missing(shown, settings.collectors, known, now)
    collectors.update({cid: (name, "") for cid, name in missing.items()})
    result.collectors_seen = len(collectors)
    result.names = {cid: name for cid, (name, _) in collectors.items()}
    plans = [
        plan
        for cid, (name, last_run) in collectors.items()
        if (plan := listing_plan(cid, name, last_run, known.get(cid), now))
    ]
    # Least recently listed first: a run out of time leaves the others first in line.
    plans.sort(key=lambda plan: _listed_at(known.get(plan.collector_id)))
    today = now.date()
    start = today - timedelta(days=settings.lookback_days)
    listings = _Listings(result, known, missing, start, now)
    answers = _list_jobs(client, plans, start, today, settings, listing_time_left)
    for plan, answer in zip(plans, answers, strict=True):
        listings.take(plan, answer)
    metas, verdicts = listings.metas, listings.verdicts
    _back_or_gone(collectors, shown, settings, known, metas, verdicts)
    for cid in result.names:
        if cid not in result.cadence and cid in known and cid not in listings.not_listed:
            result.cadence[cid] = History(created=known[cid].created)
    if result.deferred:
        logger.warning(
            "discovery ran out of time: listings left for the next run",
            extra={"deferred": result.deferred, "listed": result.collectors_listed},
        )
    result.listing = verdicts.by_collector()
    result.recovered = {
        cid for cid, meta in metas.changed.items() if _recovered(known.get(cid), meta)
    }
    if result.token_rejected:
        return result
    result.new_jobs, short = _record_new(
        store, listings.found, settings, now, dry_run=dry_run, time_left=time_left
    )
    # Listed, but not all its new jobs recorded (no time left): listed again next run, first.
    for cid in short:
        metas.unlist(cid)
    if metas.changed and not dry_run:
        store.save_collector_meta(list(metas.changed.values()))
    return result


class _Listings:
    """What this run's job listings come to, taken one by one: the jobs they show (job id ->
    collector), each collector's cadence, listing item and listing-rule results."""

    def __init__(
        self,
        result: Discovery,
        known: Mapping[str, CollectorMeta],
        missing: Mapping[str, str],
        since: date,
        now: datetime,
    ) -> None:
        self.result = result
        self.known = known
        self.missing = missing
        self.since = since
        self.now = now
        self.found: dict[str, str] = {}
        self.metas = _Metas(known)
        self.verdicts = _Verdicts()
        # Not judged on what an earlier listing saw (it may have run since): not listed now.
        self.not_listed: set[str] = set()

    def take(
        self, plan: ListingPlan, answer: list[dict[str, Any]] | BrightDataError | None
    ) -> None:
        cid = plan.collector_id
        if answer is None:
            # No time left for it: no failure; it is among the first listed next run.
            self.not_listed.add(cid)
            self.result.deferred += 1
            return
        self.result.attempts += 1
        if isinstance(answer, BrightDataError):
            self.not_listed.add(cid)
            self._failed(plan, answer)
            return
        self.result.collectors_listed += 1
        if cid in self.missing and not answer:
            self.not_listed.add(cid)
            why = f"its job listing shows no job since {day(self.since)}"
            _still_missing(cid, why, self.metas, self.verdicts, self.now, plan.name)
            return
        self._listed(plan, answer)

    def _failed(self, plan: ListingPlan, error: BrightDataError) -> None:
        cid = plan.collector_id
        self.result.errors.append(error)
        self.result.failures += 1 if is_failed_listing(error) else 0
        logger.warning("listing jobs failed", extra={"collector": cid, "error": describe(error)})
        answered = failure_text(error)
        if cid in self.missing:
            why = f"listing its jobs failed ({answered})"
            _still_missing(cid, why, self.metas, self.verdicts, self.now, plan.name)
            return
        runs = self.metas.current(cid, plan.name).failed_listings + 1
        self.metas.update(cid, plan.name, failed_listings=runs)
        self.verdicts.add(cid, judge_unlisted(runs, answered))

    def _listed(self, plan: ListingPlan, answer: list[dict[str, Any]]) -> None:
        cid = plan.collector_id
        times = _take_listing(plan, answer, self.found)
        before = self.known[cid].created if cid in self.known else ()
        cadence = History(created=before).with_created(times)
        self.result.cadence[cid] = cadence
        if cadence.created != before:
            self.result.new_activity.add(cid)
        self.metas.put(
            CollectorMeta(
                collector_id=cid,
                name=plan.name,
                last_run=plan.last_run,
                listed_at=self.now,
                full_at=self.now if plan.full_pass else plan.full_at,
                created=cadence.created,
            )
        )
        self.verdicts.add(cid, judge_unlisted(0, ""), judge_not_found(cid, None))


def _listed_at(meta: CollectorMeta | None) -> datetime:
    return meta.listed_at if meta is not None and meta.listed_at is not None else _NEVER


def _watch_marks(meta: CollectorMeta | None) -> bool:
    """Whether the item says a listing alarm may be open: failed listings, or missing."""
    return meta is not None and (meta.failed_listings > 0 or meta.missing_since is not None)


def _recovered(before: CollectorMeta | None, after: CollectorMeta) -> bool:
    """Whether a mark that may hold a listing alarm open was cleared this run."""
    if before is None:
        return False
    listed_again = before.failed_listings > 0 and after.failed_listings == 0
    return listed_again or (before.missing_since is not None and after.missing_since is None)


class _Metas:
    """The collectors' listing items as this run changes them; only the changed are saved."""

    def __init__(self, known: Mapping[str, CollectorMeta]) -> None:
        self.known = known
        self.changed: dict[str, CollectorMeta] = {}

    def current(self, cid: str, name: str) -> CollectorMeta:
        return self.changed.get(cid) or self.known.get(cid) or CollectorMeta(cid, name)

    def put(self, meta: CollectorMeta) -> None:
        self.changed[meta.collector_id] = meta

    def update(self, cid: str, name: str, **changes: Any) -> None:
        updated = replace(self.current(cid, name), **changes)
        if updated == self.known.get(cid):
            self.changed.pop(cid, None)
        else:
            self.changed[cid] = updated

    def unlist(self, cid: str) -> None:
        """Forget this run's listing of `cid`, keeping only that its listing works."""
        self.changed.pop(cid, None)
        if cid in self.known:
            self.update(cid, cid, failed_listings=0, missing_since=None)


class _Verdicts:
    """This run's listing-rule results, per collector."""

    def __init__(self) -> None:
        self._results: dict[str, dict[Rule, RuleResult]] = {}

    def add(self, cid: str, *results: RuleResult) -> None:
        for result in results:
            self._results.setdefault(cid, {})[result.rule] = result

    def by_collector(self) -> dict[str, tuple[RuleResult, ...]]:
        return {cid: tuple(results.values()) for cid, results in self._results.items()}


def _missing(
    shown: set[str] | None,
    wanted: Sequence[str],
    known: Mapping[str, CollectorMeta],
    now: datetime,
) -> dict[str, str]:
    """The collectors to look for although collectors_list (which answered) did not show them,
    id -> name: each id in `Collectors`; without it, each collector whose jobs were listed
    within FORGET_MISSING_AFTER. Their jobs are listed by id: a collector that lists jobs is
    watched all the same."""
    if shown is None:
        return {}
    if wanted:
        expected = {cid: known[cid].name if cid in known else cid for cid in wanted}
    else:
        expected = _watched_known(known, now)
    return {cid: name for cid, name in expected.items() if cid not in shown}


def _watched_known(known: Mapping[str, CollectorMeta], now: datetime) -> dict[str, str]:
    """Without `Collectors`: the collectors whose jobs were listed within FORGET_MISSING_AFTER,
    id -> name (those still watched when collectors_list does not show them)."""
    return {
        cid: meta.name
        for cid, meta in known.items()
        if meta.listed_at is not None and now - meta.listed_at < FORGET_MISSING_AFTER
    }


def _still_missing(
    cid: str, why: str, metas: _Metas, verdicts: _Verdicts, now: datetime, name: str
) -> None:
    logger.warning(
        "collector not in this account's collectors", extra={"collector": cid, "why": why}
    )
    if metas.current(cid, name).missing_since is None:
        metas.update(cid, name, missing_since=now)
    verdicts.add(cid, judge_not_found(cid, why))


def _back_or_gone(
    collectors: Mapping[str, tuple[str, str]],
    shown: set[str] | None,
    settings: Settings,
    known: Mapping[str, CollectorMeta],
    metas: _Metas,
    verdicts: _Verdicts,
) -> None:
    """A collector collectors_list shows again is back (listed or not this run); one that is
    no longer watched (out of Collectors, or gone from the account for long) ends its listing
    alarms, saying so."""
    for cid, meta in known.items():
        if not _watch_marks(meta):
            continue
        if cid in collectors:
            if shown is not None and cid in shown and meta.missing_since is not None:
                metas.update(cid, meta.name, missing_since=None)
                verdicts.add(cid, judge_not_found(cid, None))
            continue
        if shown is None and not settings.collectors:
            continue  # collectors_list failed: whether it left the account is not known
        if settings.collectors:
            why = f"{cid} is no longer in Collectors: it is not watched any more"
        else:
            last = (
                f" (its jobs were last listed {moment(meta.listed_at)})" if meta.listed_at else ""
            )
            why = f"{cid} left this account's collectors{last}: it is not watched any more"
        metas.update(cid, meta.name, failed_listings=0, missing_since=None)
        verdicts.add(
            cid,
            no_longer_watched(Rule.COLLECTOR_UNLISTED, why),
            no_longer_watched(Rule.COLLECTOR_NOT_FOUND, why),
        )


def failure_text(error: BrightDataError) -> str:
    """What a failed listing answered, to quote in an alert: the error names the endpoint and
    quotes the answer escaped, token redacted (see brightdata.answers)."""
    text = " ".join(str(error).split())
    if len(text) > FAILURE_SHOWN_CHARS:
        text = text[: FAILURE_SHOWN_CHARS - 3] + "..."
    return text


def _take_listing(
    plan: ListingPlan, answer: list[dict[str, Any]], found: dict[str, str]
) -> list[datetime]:
    """Note the listed jobs to look up in `found` (job id -> collector); return when each listed
    job was created (for the collector's cadence)."""
    times: list[datetime] = []
    unnamed = 0
    for job in answer:
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str):
            unnamed += 1
            continue
        queued = listed_time(job)
        if queued is not None:
            times.append(queued)
        # Jobs queued well before the previous listing were recorded then: not looked up
        # again, except on the periodic full pass.
        if plan.seen_before and queued is not None and queued < plan.seen_before:
            continue
        # A job listed under two collectors stays with the first listing (its log, when
        # read, names the collector it really belongs to).
        found.setdefault(job_id, plan.collector_id)
    if unnamed:
        # Said, not skipped silently: a job listed without an id cannot be read.
        logger.warning(
            "listed jobs without an id",
            extra={"collector": plan.collector_id, "count": unnamed, "listed": len(answer)},
        )
    return times


def _collectors(
    client: BrightDataClient,
    settings: Settings,
    result: Discovery,
    known: Mapping[str, CollectorMeta],
    now: datetime,
) -> tuple[dict[str, tuple[str, str]], set[str] | None] | None:
    """The collectors to look at, id -> (name, last_run), and the ids collectors_list showed
    (None when it failed). When collectors_list is refused or fails (some accounts get a 403
    there while the token works), the collectors named in `Collectors` are listed anyway, every
    run (no last_run to skip unchanged ones); without `Collectors`, the collectors already known
    (listed within FORGET_MISSING_AFTER) are, and the run notes that it could not see the
    account's others (`account_unlisted`)."""
    wanted = settings.collectors
    result.attempts += 1
    try:
        answer = client.list_collectors()
    except BrightDataError as exc:
        result.errors.append(exc)
        result.failures += 1
        logger.warning("listing collectors failed", extra={"error": describe(exc)})
        if isinstance(exc, Unauthorized):
            return None
        if wanted:
            return {cid: (cid, "") for cid in wanted}, None
        result.account_unlisted = not isinstance(exc, Forbidden)
        fallback = {cid: (name, "") for cid, name in _watched_known(known, now).items()}
        return (fallback, None) if fallback else None
    # An id that cannot be put in a URL (nor be a table key) is dropped here, and said.
    seen = [c for c in answer if isinstance(c, dict) and is_collector_id(c.get("id"))]
    if len(seen) < len(answer):
        dropped = len(answer) - len(seen)
        logger.warning("collectors listed without a usable id", extra={"count": dropped})
    shown = {c["id"] for c in seen}
    if wanted:
        seen = [c for c in seen if c["id"] in wanted]
    collectors = {
        c["id"]: (str(c.get("name") or c["id"]), str(c.get("last_run") or "")) for c in seen
    }
    return collectors, shown


def _list_jobs(
    client: BrightDataClient,
    plans: Sequence[ListingPlan],
    start: date,
    end: date,
    settings: Settings,
    time_left: Callable[[], bool],
) -> list[list[dict[str, Any]] | BrightDataError | None]:
    """List the planned collectors' jobs, several at a time (each listing may be pages), in
    plan order; a listing not started before `time_left()` turned false is None. The first is
    always listed: every run goes on from where the last one stopped."""
    if not plans:
        return []
    first = plans[0]

    def one(plan: ListingPlan) -> list[dict[str, Any]] | BrightDataError | None:
        if plan is not first and not time_left():
            return None
        try:
            return client.list_jobs(plan.collector_id, start, end)
        except BrightDataError as exc:
            return exc

    workers = min(settings.max_concurrency, len(plans))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list") as pool:
        return list(pool.map(one, plans))


def _record_new(
    store: StateStore,
    found: dict[str, str],
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    time_left: Callable[[], bool],
) -> tuple[list[JobRecord], set[str]]:
    """Record the listed jobs the table does not know as live jobs: all of the first collector's
    (every run goes on), then those of each further collector while `time_left()`. Returns
    them, and the collectors whose new jobs were not all recorded (to list again)."""
    # Validate before the ids become table keys: an oversized or odd id would make DynamoDB
    # refuse the whole batch read below and fail the run.
    readable = {job_id: cid for job_id, cid in found.items() if is_job_id(job_id)}
    if len(readable) < len(found):
        logger.warning(
            "ignoring job ids the API listed but we cannot read",
            extra={"count": len(found) - len(readable)},
        )
    if not readable:
        return [], set()
    existing = store.get_jobs(readable)
    new: list[JobRecord] = []
    short: set[str] = set()
    first: str | None = None
    for job_id, cid in readable.items():
        if job_id in existing:
            continue
        first = first or cid
        if cid in short or (cid != first and not time_left()):
            short.add(cid)
            continue
        record = JobRecord(
            job_id=job_id,
            collector_id=cid,
            first_seen=now,
            ttl=ttl_at(now, settings.job_ttl_days),
        )
        # A dry run reads and judges new jobs too; it just does not record them.
        if dry_run or store.add_job(record):
            new.append(record)
    return new, short


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = [
    "FORGET_MISSING_AFTER",
    "Discovery",
    "ListingPlan",
    "describe",
    "discover",
    "failure_text",
    "listed_time",
    "listing_plan",
]
