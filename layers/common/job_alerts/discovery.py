"""Discover stage: which jobs exist that the table does not know yet. Lists collectors (unless
`Collectors` names them), lists a collector's jobs only when something new ran there (plus a
periodic full pass), and records the new job ids as live jobs."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from job_alerts.brightdata import (
    BrightDataClient,
    BrightDataError,
    Unauthorized,
    is_unreachable,
)
from job_alerts.config import Settings
from job_alerts.history import History
from job_alerts.ids import is_job_id
from job_alerts.models import CollectorMeta, JobRecord
from job_alerts.observability import logger
from job_alerts.state import StateStore
from job_alerts.timeutil import parse_moment, ttl_at

# Even when a collector's last_run says nothing new started, list its jobs this often: last_run's
# exact meaning is not documented, and a missed job must not stay missed.
FULL_LIST_INTERVAL = timedelta(minutes=30)
# A job queued this long before the previous listing was in that listing (clock skew allowed).
LISTING_OVERLAP = timedelta(hours=1)


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

    @property
    def token_rejected(self) -> bool:
        return any(isinstance(e, Unauthorized) for e in self.errors)


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
) -> Discovery:
    result = Discovery()
    collectors = _collectors(client, settings, result)
    if collectors is None:
        return result
    result.collectors_seen = len(collectors)
    result.names = {cid: name for cid, (name, _) in collectors.items()}
    known = store.collector_meta()
    plans = [
        plan
        for cid, (name, last_run) in collectors.items()
        if (plan := listing_plan(cid, name, last_run, known.get(cid), now))
    ]
    today = now.date()
    start = today - timedelta(days=settings.lookback_days)
    found: dict[str, str] = {}
    listed: list[CollectorMeta] = []
    unlisted: set[str] = set()
    for plan, answer in zip(plans, _list_jobs(client, plans, start, today, settings), strict=True):
        result.attempts += 1
        if isinstance(answer, BrightDataError):
            # Its cadence is not judged on what an earlier listing saw: it may have run since.
            unlisted.add(plan.collector_id)
            result.errors.append(answer)
            result.failures += (
                1 if isinstance(answer, Unauthorized) or is_unreachable(answer) else 0
            )
            logger.warning(
                "listing jobs failed",
                extra={"collector": plan.collector_id, "error": describe(answer)},
            )
            continue
        result.collectors_listed += 1
        times = _take_listing(plan, answer, found)
        before = known[plan.collector_id].created if plan.collector_id in known else ()
        cadence = History(created=before).with_created(times)
        result.cadence[plan.collector_id] = cadence
        if cadence.created != before:
            result.new_activity.add(plan.collector_id)
        listed.append(
            CollectorMeta(
                collector_id=plan.collector_id,
                name=plan.name,
                last_run=plan.last_run,
                listed_at=now,
                full_at=now if plan.full_pass else plan.full_at,
                created=cadence.created,
            )
        )
    for cid in result.names:
        if cid not in result.cadence and cid in known and cid not in unlisted:
            result.cadence[cid] = History(created=known[cid].created)
    if result.token_rejected:
        return result
    result.new_jobs = _record_new(store, found, settings, now, dry_run=dry_run)
    if listed and not dry_run:
        store.save_collector_meta(listed)
    return result


def _take_listing(
    plan: ListingPlan, answer: list[dict[str, Any]], found: dict[str, str]
) -> list[datetime]:
    """Note the listed jobs to look up in `found` (job id -> collector); return when each listed
    job was created (for the collector's cadence)."""
    times: list[datetime] = []
    for job in answer:
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str):
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
    return times


def _collectors(
    client: BrightDataClient, settings: Settings, result: Discovery
) -> dict[str, tuple[str, str]] | None:
    """The collectors to look at: id -> (name, last_run). When `Collectors` names them and
    collectors_list is refused or fails (some accounts get a 403 there while the token works),
    the named collectors are listed anyway, every run (no last_run to skip unchanged ones)."""
    wanted = settings.collectors
    result.attempts += 1
    try:
        answer = client.list_collectors()
    except BrightDataError as exc:
        result.errors.append(exc)
        result.failures += 1
        logger.warning("listing collectors failed", extra={"error": describe(exc)})
        if wanted and not isinstance(exc, Unauthorized):
            return {cid: (cid, "") for cid in wanted}
        return None
    seen = [c for c in answer if isinstance(c, dict) and isinstance(c.get("id"), str)]
    if wanted:
        seen = [c for c in seen if c["id"] in wanted]
    return {c["id"]: (str(c.get("name") or c["id"]), str(c.get("last_run") or "")) for c in seen}


def _list_jobs(
    client: BrightDataClient,
    plans: Sequence[ListingPlan],
    start: date,
    end: date,
    settings: Settings,
) -> list[list[dict[str, Any]] | BrightDataError]:
    """List the planned collectors' jobs, several at a time (each listing may be pages)."""
    if not plans:
        return []

    def one(plan: ListingPlan) -> list[dict[str, Any]] | BrightDataError:
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
) -> list[JobRecord]:
    # Validate before the ids become table keys: an oversized or odd id would make DynamoDB
    # refuse the whole batch read below and fail the run.
    readable = {job_id: cid for job_id, cid in found.items() if is_job_id(job_id)}
    if len(readable) < len(found):
        logger.warning(
            "ignoring job ids the API listed but we cannot read",
            extra={"count": len(found) - len(readable)},
        )
    if not readable:
        return []
    existing = store.get_jobs(readable)
    new: list[JobRecord] = []
    for job_id, cid in readable.items():
        if job_id in existing:
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
    return new


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["Discovery", "ListingPlan", "describe", "discover", "listed_time", "listing_plan"]
