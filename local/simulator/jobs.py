"""The simulated account: collectors and their jobs, the clock they are stamped from, and the
controls a test moves them with (add, update, advance, remove, rerun)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from job_alerts.timeutil import Clock, as_utc, system_clock
from local.clock import ManualClock

__all__ = ["TERMINAL", "Collector", "Job", "JobStore", "iso"]

TERMINAL = frozenset({"done", "failed", "cancelled", "canceled"})
_NEXT_STATUS = {"building": "queued", "queued": "running", "running": "done"}


@dataclass
class Collector:
    id: str
    name: str
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    id: str
    collector_id: str
    status: str | None
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    inputs: int = 1
    success: int = 0
    fails: int = 0
    lines: int = 0
    pages: int = 0
    pages_left: int = 0
    dup_inputs: int = 0
    navigations: int = 0
    failed_pages: int = 0
    success_rate: float | None = None
    template: str | None = None
    trigger: str | None = "someone@example.com"
    key_case: str = "upper"
    expired: bool = False
    rerun_of: str | None = None  # the job this one re-runs (POST /dca/jobs/{id}/rerun)
    errors: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


_JOB_FIELDS = frozenset(Job.__dataclass_fields__) - {"id", "extra"}


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and Z, as Bright Data writes it."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("simulator times must be timezone-aware")
    return moment.astimezone(UTC)


class JobStore:
    """Collectors and jobs, thread-safe. `clock` (shared with the monitor and the test's
    fixtures) is the time used for defaults, collector `last_run` and running jobs' durations;
    without one the store keeps its own ManualClock, started at `now` (default: the wall clock
    at start-up). `collector_last_run` and `collectors_page_size` say how the account lists its
    collectors (some accounts give no last_run; some page the list)."""

    def __init__(
        self,
        *,
        collector_last_run: bool = True,
        collectors_page_size: int | None = None,
        now: datetime | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.collector_last_run = collector_last_run
        self.collectors_page_size = collectors_page_size
        self._lock = threading.RLock()
        self.clock: Clock = clock or ManualClock(now or system_clock())
        self._collectors: dict[str, Collector] = {}
        self._jobs: dict[str, Job] = {}
        self._by_collector: dict[str, list[str]] = {}
        self._expired: set[str] = set()

    # -- clock --------------------------------------------------------------------------

    def now(self) -> datetime:
        return as_utc(self.clock())

    def set_time(self, now: datetime) -> None:
        """Move the clock to `now` (the shared ManualClock: the monitor sees it too)."""
        self._manual_clock().set(now)

    def tick(self, seconds: float) -> None:
        """Move the clock forward."""
        self._manual_clock().advance(seconds=seconds)

    def _manual_clock(self) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("this simulator follows a clock it cannot move; move that clock")
        return self.clock

    # -- controls -----------------------------------------------------------------------

    def add_collector(
        self, collector_id: str, name: str | None = None, *, active: bool = True, **extra: Any
    ) -> None:
        with self._lock:
            self._collectors[collector_id] = Collector(
                collector_id, name or collector_id, active, dict(extra)
            )
            self._by_collector.setdefault(collector_id, [])

    def add_job(
        self,
        job_id: str,
        collector_id: str,
        status: str | None = "queued",
        *,
        created: datetime | None = None,
        started: datetime | None = None,
        finished: datetime | None = None,
        key_case: str = "upper",
        errors: Iterable[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> None:
        """Add a job (its collector is created if unknown). `fields` are job fields (inputs,
        success, fails, lines, pages, pages_left, dup_inputs, navigations, failed_pages,
        success_rate, template, trigger, expired, rerun_of); anything else is sent as an extra
        key. Missing times default from the clock: created = now, started = created once the
        job has left the queue, finished = now for terminal statuses."""
        if key_case not in ("upper", "lower"):
            raise ValueError("key_case must be 'upper' or 'lower'")
        with self._lock:
            if collector_id not in self._collectors:
                self.add_collector(collector_id)
            now = self.now()
            created_at = _utc(created) or now
            started_at = _utc(started)
            if started_at is None and status not in (None, "building", "queued"):
                started_at = created_at
            finished_at = _utc(finished)
            if finished_at is None and status in TERMINAL:
                finished_at = max(now, started_at or created_at)
            job = Job(
                id=job_id,
                collector_id=collector_id,
                status=status,
                created=created_at,
                started=started_at,
                finished=finished_at,
                key_case=key_case,
                errors=[dict(e) for e in errors],
            )
            self._apply(job, fields)
            if job_id not in self._jobs:
                self._by_collector[collector_id].append(job_id)
            self._jobs[job_id] = job
            self._expired.discard(job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Change any job field (status, counts, times, key_case, errors, extra keys)."""
        with self._lock:
            job = self._jobs[job_id]
            for name in ("created", "started", "finished"):
                if name in fields:
                    fields[name] = _utc(fields[name])
            self._apply(job, fields)

    def remove_job(self, job_id: str) -> None:
        """Forget a job: its endpoints answer 404 from now on, like an expired job."""
        with self._lock:
            job = self._jobs.pop(job_id)
            self._by_collector[job.collector_id].remove(job_id)
            self._expired.add(job_id)

    def advance(self, job_id: str, **fields: Any) -> str:
        """Move a job one step: building -> queued -> running -> done, stamping started and
        finished from the clock; on done, success defaults to inputs - fails and lines to
        success. `fields` are applied afterwards. Returns the new status."""
        with self._lock:
            job = self._jobs[job_id]
            status = _NEXT_STATUS.get(job.status or "", job.status)
            now = self.now()
            changes: dict[str, Any] = {"status": status}
            if status == "running" and job.started is None:
                changes["started"] = now
            if status == "done":
                changes["finished"] = now
                success = fields.get("success", max(0, job.inputs - fields.get("fails", job.fails)))
                changes["success"] = success
                changes["lines"] = fields.get("lines", success)
                changes["pages_left"] = 0
            changes.update(fields)
            self.update_job(job_id, **changes)
            return str(status)

    def rerun(self, job_id: str, *, failed_only: bool) -> str:
        """What POST /dca/jobs/{id}/rerun does: a new queued job in the same collector whose
        inputs are the job's failed inputs (`failed_only`) or all of them, with `rerun_of` set.
        Returns its id; KeyError for a job that does not exist (any more).

        The new job is an ordinary job: find it with `reruns_of`, then decide how it turns out
        and when with the usual controls (`advance(new_id)` to start it, `tick`, then
        `advance(new_id, fails=n)` to settle it with n of its inputs failed)."""
        with self._lock:
            job = self._jobs[job_id]
            new_id = "j_" + secrets.token_hex(9)
            self.add_job(
                new_id,
                job.collector_id,
                "queued",
                inputs=job.fails if failed_only else job.inputs,
                template=job.template,
                key_case=job.key_case,
                rerun_of=job.id,
            )
            return new_id

    def reruns_of(self, job_id: str) -> list[str]:
        """The ids of the jobs started by rerunning `job_id`, in the order they were started."""
        with self._lock:
            return [job.id for job in self._jobs.values() if job.rerun_of == job_id]

    def job_ids(self, collector_id: str | None = None) -> list[str]:
        with self._lock:
            if collector_id is None:
                return list(self._jobs)
            return list(self._by_collector.get(collector_id, []))

    @staticmethod
    def _apply(job: Job, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            if name in _JOB_FIELDS:
                setattr(job, name, list(value) if name == "errors" else value)
            else:
                job.extra[name] = value

    # -- reading ------------------------------------------------------------------------

    def collectors(self) -> list[Collector]:
        with self._lock:
            return list(self._collectors.values())

    def jobs_of(self, collector_id: str) -> list[Job]:
        with self._lock:
            return [self._jobs[i] for i in self._by_collector.get(collector_id, [])]

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def is_expired(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._expired
