"""Read stage: the live jobs in a fair order, read with bounded concurrency until the Lambda
deadline nears, each answer parsed into a JobLog or kept as the reason it could not be."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from job_alerts.brightdata import BrightDataClient, BrightDataError, Unauthorized
from job_alerts.joblog import JobLog, JobLogError, parse_job_log
from job_alerts.models import JobRecord
from job_alerts.observability import logger


@dataclass
class ReadOutcome:
    record: JobRecord
    job: JobLog | None = None
    error: BrightDataError | JobLogError | None = None


@dataclass
class Reading:
    ordered: list[JobRecord]
    outcomes: list[ReadOutcome]
    started: int  # how many of `ordered` were started (the rest wait for the next run)

    @property
    def deferred(self) -> int:
        return len(self.ordered) - len(self.outcomes)

    @property
    def cursor(self) -> str | None:
        """Where the next run starts reading when this one was cut short."""
        return self.ordered[self.started - 1].live_sort_key if self.deferred else None


def reading_order(
    live: Sequence[JobRecord], new_jobs: Sequence[JobRecord], cursor: str | None
) -> list[JobRecord]:
    """Live jobs in a fair order: continue after where the last (cut short) run stopped, so when
    there are more live jobs than one run can read, none is starved. Jobs recorded in this run
    are added directly: the index is eventually consistent and may lag."""
    by_id = {r.job_id: r for r in new_jobs}
    by_id.update((r.job_id, r) for r in live)
    ordered = sorted(by_id.values(), key=lambda r: r.live_sort_key)
    if not cursor:
        return ordered
    after = [r for r in ordered if r.live_sort_key > cursor]
    before = [r for r in ordered if r.live_sort_key <= cursor]
    return after + before


# Reads answering 401 with no read accepted this run after which the token counts as rejected
# (and reading stops), whatever the listings said. One alone, while a listing was accepted, is a
# job the token cannot see (an id from another account handed in by the webhook).
REFUSALS_BEFORE_STOP = 2


def read_jobs(
    client: BrightDataClient,
    ordered: list[JobRecord],
    *,
    max_concurrency: int,
    time_left: Callable[[], bool],
) -> Reading:
    """Read logs with at most `max_concurrency` in flight; stop starting reads when the deadline
    nears or the token is rejected (REFUSALS_BEFORE_STOP reads answered 401 and none was
    accepted). A 401 that an accepted read contradicts is about that job: reading goes on."""
    outcomes: list[ReadOutcome] = []
    if not ordered:
        return Reading(ordered, outcomes, 0)
    started = 0
    refused = 0
    read_accepted = False
    stop = False
    workers = min(max_concurrency, len(ordered))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        in_flight: dict[Future[dict[str, Any]], JobRecord] = {}
        while True:
            while not stop and started < len(ordered) and len(in_flight) < workers and time_left():
                record = ordered[started]
                in_flight[pool.submit(client.get_log, record.job_id)] = record
                started += 1
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = _outcome(in_flight.pop(future), future)
                outcomes.append(outcome)
                read_accepted = read_accepted or accepted(outcome)
                if isinstance(outcome.error, Unauthorized):
                    refused += 1
                    if not read_accepted and refused >= REFUSALS_BEFORE_STOP:
                        stop = True
            if not time_left():
                stop = True
    return Reading(ordered, outcomes, started)


def accepted(outcome: ReadOutcome) -> bool:
    """Whether Bright Data took the token for this read: it answered the job's log (even one
    that cannot be judged)."""
    return outcome.job is not None or isinstance(outcome.error, JobLogError)


def token_contradicted(outcomes: Sequence[ReadOutcome], listing_accepted: bool) -> bool:
    """Whether this run's calls contradict the reads that answered 401, so that those concern
    their jobs (ids the token cannot see) and not the token: a read was accepted, or a listing
    was and only one read answered 401."""
    if any(map(accepted, outcomes)):
        return True
    refused = sum(1 for outcome in outcomes if isinstance(outcome.error, Unauthorized))
    return listing_accepted and refused < REFUSALS_BEFORE_STOP


def _outcome(record: JobRecord, future: Future[dict[str, Any]]) -> ReadOutcome:
    try:
        payload = future.result()
    except BrightDataError as exc:
        return ReadOutcome(record, error=exc)
    try:
        return ReadOutcome(record, job=parse_job_log(payload, job_id=record.job_id))
    except JobLogError as exc:
        logger.warning("unreadable job log", extra={"job_id": record.job_id, "error": str(exc)})
        return ReadOutcome(record, error=exc)


__all__ = [
    "REFUSALS_BEFORE_STOP",
    "ReadOutcome",
    "Reading",
    "accepted",
    "read_jobs",
    "reading_order",
]
