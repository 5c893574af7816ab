"""A model of Bright Data's DCA API for the property test: collectors and jobs that change when
the test says so, faults that spoil one call or last until cleared, and a client with the
interface the monitor calls (`list_collectors`, `list_jobs`, `get_log`, `get_errors`, `rerun`,
`stats`). The model answers each call as the server would (status, headers, body); the client
turns that answer into what the real client returns or raises through
`job_alerts.brightdata.answers`, so every error is the real class with the real wording and every
log is the raw dict the real parser reads. Only the transport is left out: a fault stands for a
call whose retries were all spent."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from job_alerts import ids
from job_alerts.brightdata import (
    BadResponse,
    BrightDataError,
    CallStats,
    Endpoint,
    NotFound,
    RerunStarted,
    ResponseTooLarge,
    Transient,
    answers,
)
from job_alerts.brightdata.answers import Call
from job_alerts.brightdata.errors import checked_id
from job_alerts.http import DEFAULT_MAX_BODY_BYTES, Answer
from job_alerts.joblog import JobLog, JobLogError, parse_job_log
from job_alerts.timeutil import iso
from local.clock import ManualClock

# The real client's default budget for one call: a slower answer is a timeout (Transient).
CALL_BUDGET_SECONDS = 30
# Bright Data keeps a job's data this long (batch / real-time); the test's clock never gets there.
TOKEN = "model-token-0123456789"

# Every status the reference names, an unknown one, a blank one and none at all.
STATUSES: tuple[str | None, ...] = (
    "building",
    "queued",
    "running",
    "paused",
    "done",
    "failed",
    "cancelled",
    "canceled",
    "archived",
    "",
    None,
)
TERMINAL = frozenset({"done", "failed", "cancelled", "canceled"})
# How a job can end: a terminal status, or an unknown or missing one with a `finished` time.
OUTCOMES = ("done", "done_low", "failed", "cancelled", "canceled", "unknown", "absent")
# The keys of /dca/log as the older docs spell them.
LOG_KEYS = (
    "Id",
    "Status",
    "Collector",
    "Template",
    "Inputs",
    "dup_inputs",
    "Lines",
    "Fails",
    "Pages",
    "Pages_left",
    "Success",
    "Navigations",
    "created",
    "started",
    "finished",
    "trigger",
    "Success_rate",
    "Job_time",
    "Queue_time",
)
_COUNT_KEYS = ("Inputs", "dup_inputs", "Lines", "Fails", "Pages", "Pages_left", "Success")
RATE_STYLES = (
    "fraction",
    "percent",
    "text",
    "percent_text",
    "null",
    "disagree",
    "above_hundred",
    "negative",
    "bool",
)
TIME_STYLES = ("iso", "offset", "epoch_ms", "odd")


# ---- shapes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobShape:
    """How one job's /dca/log answers are written, for its whole life: key casing, fields left
    out, how the status, Success_rate, counts and times are spelled, the collector field, unknown
    keys, and how its listing row gives its creation time."""

    key_case: str = "upper"  # upper | lower | mixed
    missing: frozenset[str] = frozenset()
    status_case: str = "lower"  # lower | capital | upper
    rate: str = "fraction"
    counts_as_text: bool = False
    times: str = "iso"
    collector_field: str = "same"  # same | absent | odd
    junk: bool = False
    listing_queued: str = "iso"  # iso | absent | odd

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        changed = [
            f"{name}={value!r}"
            for name, value in self.__dict__.items()
            if value != JobShape.__dataclass_fields__[name].default
            and not (name == "missing" and not value)
        ]
        if self.missing:
            changed = [c for c in changed if not c.startswith("missing")]
            changed.append(f"missing={sorted(self.missing)}")
        return f"JobShape({', '.join(changed)})"


@dataclass(frozen=True)
class JobSpec:
    """A job as it is created: its collector, kind (j_ or vj_), first status, counts, shape."""

    collector: str
    realtime: bool
    status: str | None
    inputs: int
    success_share: float
    finished: bool  # for an unknown or missing status: whether a `finished` time is given
    shape: JobShape

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        kind = "vj" if self.realtime else "j"
        return (
            f"JobSpec({self.collector}, {kind}, status={self.status!r}, inputs={self.inputs}, "
            f"success={self.success_share:g}, finished={self.finished}, {self.shape!r})"
        )


@dataclass(frozen=True)
class CollectorSpec:
    """One collector of the account and the flags its collectors_list row carries."""

    collector_id: str
    name: str | None
    active: bool | str | None
    last_run: str  # live | absent | stuck | epoch


# ---- faults ------------------------------------------------------------------------------------
ENDPOINTS = {
    "collectors_list": Endpoint.COLLECTORS_LIST,
    "collector_jobs": Endpoint.COLLECTOR_JOBS,
    "log": Endpoint.LOG,
    "hp_errors": Endpoint.HP_ERRORS,
    "rerun": Endpoint.RERUN,
}
# What each endpoint can answer wrongly.
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    "collectors_list": (
        "5xx",
        "timeout",
        "unreachable",
        "429",
        "401",
        "403",
        "html",
        "not_json",
        "empty",
        "wrong_shape",
        "paging",
        "too_large",
        "slow",
    ),
    "collector_jobs": (
        "5xx",
        "timeout",
        "429",
        "400",
        "404",
        "401",
        "html",
        "not_json",
        "wrong_shape",
        "paging",
        "slow",
    ),
    "log": (
        "5xx",
        "timeout",
        "unreachable",
        "429",
        "404",
        "401",
        "403",
        "html",
        "not_json",
        "empty",
        "wrong_shape",
        "too_large",
        "slow",
        "odd_log",
    ),
    "hp_errors": ("5xx", "429", "404", "html", "wrong_shape", "slow"),
    "rerun": ("5xx", "429", "404", "403", "html", "wrong_shape"),
}
# Answers that are still JSON objects of the documented shape, but odd: they go through parsing.
ODD_LOGS = ("wrong_id", "nothing_to_judge", "junk_keys", "both_casings")


@dataclass(frozen=True)
class ApiFault:
    """One way an endpoint answers wrongly: for every call of it, or only those about `target`
    (a job or collector id); once for `times` calls, or until cleared (`lasting`)."""

    endpoint: str
    kind: str
    lasting: bool
    times: int = 1
    seconds: int = 0  # slow: how long each answer takes
    variant: str = ""  # odd_log: which odd answer
    target: str | None = None

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        what = self.kind
        if self.kind == "slow":
            what = f"slow {self.seconds}s"
        elif self.kind == "odd_log":
            what = f"odd_log {self.variant}"
        span = "until cleared" if self.lasting else f"x{self.times}"
        return f"ApiFault({what} on {self.endpoint}[{self.target or '*'}] {span})"

    def matches(self, endpoint: str, target: str | None) -> bool:
        return self.endpoint == endpoint and (self.target is None or self.target == target)


@dataclass
class _Active:
    fault: ApiFault
    left: int | None


# ---- the model ---------------------------------------------------------------------------------
@dataclass
class ModelJob:
    job_id: str
    collector_id: str
    created: datetime
    shape: JobShape
    status: str | None
    inputs: int
    success: int = 0
    fails: int = 0
    lines: int = 0
    pages: int = 0
    pages_left: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    rerun_of: str | None = None
    vanished: bool = False


def _spell_time(moment: datetime | None, style: str) -> Any:
    if moment is None:
        return None
    if style == "offset":
        return (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    if style == "epoch_ms":
        return int(moment.timestamp() * 1000)
    if style == "odd":
        return "yesterday"
    return iso(moment)


def _spell_status(status: str, case: str) -> str:
    if case == "capital":
        return status.capitalize()
    if case == "upper":
        return status.upper()
    return status


def _rate(job: ModelJob, style: str) -> Any:
    fraction = round(job.success / job.inputs, 4) if job.inputs else 0.0
    return {
        "fraction": fraction,
        "percent": round(fraction * 100, 2),
        "text": str(fraction),
        "percent_text": f"{round(fraction * 100, 2)}%",
        "null": None,
        "disagree": round(1 - fraction, 4),
        "above_hundred": 150,
        "negative": -0.5,
        "bool": True,
    }[style]


def _cased(key: str, case: str, index: int) -> str:
    if case == "lower" or (case == "mixed" and index % 2):
        return key.lower()
    return key


def log_payload(job: ModelJob, now: datetime) -> dict[str, Any]:
    """What /dca/log answers for the job now, written in its shape."""
    shape = job.shape
    ms = timedelta(milliseconds=1)
    started, finished = job.started, job.finished
    job_time = ((finished or now) - started) // ms if started else None
    queue_time = ((started or now) - job.created) // ms
    collector: Any = {"same": job.collector_id, "absent": None, "odd": "C-not an id!"}
    values: dict[str, Any] = {
        "Id": job.job_id,
        "Status": None if job.status is None else _spell_status(job.status, shape.status_case),
        "Collector": collector[shape.collector_field],
        "Template": "t_m9jty150kxgwtzcgi.3",
        "Inputs": job.inputs,
        "dup_inputs": 0,
        "Lines": job.lines,
        "Fails": job.fails,
        "Pages": job.pages,
        "Pages_left": job.pages_left,
        "Success": job.success,
        "Navigations": job.pages * 2,
        "created": _spell_time(job.created, shape.times),
        "started": _spell_time(started, shape.times),
        "finished": _spell_time(finished, shape.times),
        "trigger": "someone@example.com",
        "Success_rate": _rate(job, shape.rate),
        "Job_time": job_time,
        "Queue_time": queue_time,
    }
    payload: dict[str, Any] = {}
    for index, key in enumerate(LOG_KEYS):
        value = values[key]
        # Absent rather than null (`finished` does not exist while a job runs); a null rate is
        # the one null the API is known to send.
        if key in shape.missing or (value is None and key != "Success_rate"):
            continue
        if shape.counts_as_text and key in _COUNT_KEYS:
            value = str(value)
        payload[_cased(key, shape.key_case, index)] = value
    if shape.junk:
        payload.update({"Warnings": ["slow proxy"], "nested": {"a": [1, 2]}, "Odd key!": None})
    return payload


def judged(job: ModelJob, now: datetime) -> JobLog | None:
    """The job as the real parser reads what the model serves for it; None when that answer
    cannot be judged at all."""
    try:
        return parse_job_log(log_payload(job, now), job_id=job.job_id)
    except JobLogError:
        return None


def listing_row(job: ModelJob) -> dict[str, Any]:
    queued: Any = {"iso": iso(job.created), "absent": None, "odd": "soon"}[job.shape.listing_queued]
    row = {
        "id": job.job_id,
        "status": job.status,
        "queued": queued,
        "started": iso(job.started) if job.started else None,
        "finished": iso(job.finished) if job.finished else None,
        "inputs": job.inputs,
        "page_loads": job.pages,
        "total_pages": job.pages + job.pages_left,
        "failed_pages": job.fails,
        "data_lines": job.lines,
        "trigger": {"type": "api", "user": "someone@example.com", "ip": "203.0.113.7"},
        "expired": False,
    }
    return {k: v for k, v in row.items() if v is not None}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(payload).encode()
    return Answer(status, {"Content-Type": "application/json", **(headers or {})}, body)


STUCK_LAST_RUN = "2026-11-01T00:00:00.000Z"


class BrightDataModel:
    """The account the monitor watches: its collectors and jobs, the faults in force, and what
    it answered (the 404s each job got in a row, for the oracle)."""

    def __init__(
        self,
        clock: ManualClock,
        collectors: Iterable[CollectorSpec],
        *,
        unknown_collector: str,
    ) -> None:
        self.clock = clock
        self.collectors = {c.collector_id: c for c in collectors}
        self.unknown_collector = unknown_collector  # 400 | 404 | empty
        self.jobs: dict[str, ModelJob] = {}
        self.faults: list[_Active] = []
        self.not_found: dict[str, list[datetime]] = {}
        self.fired: Counter[str] = Counter()  # faults that spoiled a call, by endpoint and kind
        self._lock = threading.RLock()
        self._made = 0

    # -- the world changes --------------------------------------------------------------------
    def new_job_id(self, realtime: bool) -> str:
        self._made += 1
        return f"{'vj' if realtime else 'j'}_p{self._made:04d}"

    def add(self, job: ModelJob) -> None:
        with self._lock:
            self.jobs[job.job_id] = job

    def mutable(self, job_id: str) -> ModelJob | None:
        """The job, when it may still change: not vanished, not settled as the API tells it."""
        job = self.jobs.get(job_id)
        if job is None or job.vanished:
            return None
        seen = judged(job, self.clock())
        if seen is not None and seen.settled:
            return None
        if job.status in TERMINAL:
            return None
        return job

    def inject(self, fault: ApiFault) -> None:
        with self._lock:
            self.faults.append(_Active(fault, None if fault.lasting else fault.times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def exempt_404(self, job_id: str) -> bool:
        """A job Bright Data answered 404 for on 3 reads in a row spread over 30 minutes or
        more may be taken as gone (the monitor is allowed to expire it)."""
        times = self.not_found.get(job_id, [])
        return len(times) >= 3 and times[-1] - times[0] >= timedelta(minutes=30)

    # -- answering ----------------------------------------------------------------------------
    def _take(self, endpoint: str, target: str | None) -> ApiFault | None:
        with self._lock:
            for active in self.faults:
                if active.fault.matches(endpoint, target) and active.left != 0:
                    if active.left is not None:
                        active.left -= 1
                    self.fired[f"{endpoint} {active.fault.kind}"] += 1
                    return active.fault
        return None

    def answer(self, endpoint: str, call: Call, target: str | None, **params: Any) -> Answer:
        """The answer to one call (after the client's retries), or the transport error."""
        fault = self._take(endpoint, target)
        if fault is not None and fault.kind == "slow":
            with self._lock:
                self.clock.advance(seconds=min(fault.seconds, CALL_BUDGET_SECONDS))
            if fault.seconds > CALL_BUDGET_SECONDS:
                raise Transient(
                    f"{call.where} timed out: no answer within the {CALL_BUDGET_SECONDS} s "
                    "call budget",
                    **call.names(),
                )
            fault = None
        if fault is not None and fault.kind == "paging":
            with self._lock:
                normal = self._normal(endpoint, target, **params)
            if normal.status != 200:
                return normal
            page = json.loads(normal.body)
            return _json(200, {**page, "total": int(page.get("total") or 0) + 500})
        if fault is not None:
            spoiled = self._spoiled(fault, call, target)
            self._note_answer(endpoint, target, spoiled.status)
            return spoiled
        with self._lock:
            normal = self._normal(endpoint, target, **params)
        self._note_answer(endpoint, target, normal.status)
        return normal

    def _note_answer(self, endpoint: str, target: str | None, status: int) -> None:
        if endpoint != "log" or target is None:
            return
        with self._lock:
            if status == 404:
                self.not_found.setdefault(target, []).append(self.clock())
            else:
                self.not_found.pop(target, None)

    def _spoiled(self, fault: ApiFault, call: Call, target: str | None) -> Answer:
        """The wrong answer a fault gives; raises for faults that get no answer at all."""
        kind = fault.kind
        if kind in ("timeout", "unreachable"):
            why = "read timed out" if kind == "timeout" else "connection refused"
            raise Transient(f"{call.where} failed after 4 attempt(s): {why}", **call.names())
        if kind == "too_large":
            raise ResponseTooLarge(
                f"{call.where} answered 200 with a body larger than {DEFAULT_MAX_BODY_BYTES} "
                "bytes; it was not read further",
                limit=DEFAULT_MAX_BODY_BYTES,
                **call.names(200),
            )
        html = {"Content-Type": "text/html; charset=utf-8"}
        canned = {
            "5xx": _json(503, {"error": "Service Unavailable"}),
            "429": _json(429, {"error": "Too many requests"}, {"Retry-After": "30"}),
            "400": _json(400, {"error": "Invalid request"}),
            "404": _json(404, {"error": "Job not found"}),
            "401": Answer(401, html, b"<html><body>Unauthorized</body></html>"),
            "403": _json(403, {"error": "Automation not allowed"}),
            "html": Answer(200, html, b"<!DOCTYPE html><html><body>Maintenance</body></html>"),
            "not_json": Answer(200, {}, b"upstream connect error or disconnect/reset"),
            "empty": Answer(200, {}, b""),
        }
        if kind in canned:
            return canned[kind]
        if kind == "wrong_shape":
            shapes = {
                "log": [{"Id": target}],
                "rerun": {"collection_id": "<script>", "start_eta": 5},
            }
            return _json(200, shapes.get(fault.endpoint, {"total": 1, "data": {"id": target}}))
        if kind == "odd_log":
            return self._odd_log(fault.variant, target)
        raise AssertionError(f"unknown fault kind {kind}")

    def _odd_log(self, variant: str, job_id: str | None) -> Answer:
        with self._lock:
            job = self.jobs.get(job_id or "")
            payload = log_payload(job, self.clock()) if job else {"Id": job_id}
        if variant == "wrong_id":
            payload = {**payload, "Id": "j_someoneelse"}
            payload.pop("id", None)
        elif variant == "nothing_to_judge":
            payload = {"id": job_id, "message": "job is being archived"}
        elif variant == "junk_keys":
            payload = {**payload, "Extra": {"deep": [[1], {"x": None}]}, "": 1, "ünïcode": "✓"}
        elif variant == "both_casings":
            for key in list(payload):
                if key.lower() != key and key.lower() not in payload:
                    payload[key.lower()] = payload[key]
        return _json(200, payload)

    def _normal(self, endpoint: str, target: str | None, **params: Any) -> Answer:
        now = self.clock()
        if endpoint == "collectors_list":
            rows = [self._collector_row(c) for c in self.collectors.values()]
            return _json(200, {"total": len(rows), "offset": 0, "limit": len(rows), "data": rows})
        if endpoint == "collector_jobs":
            return self._jobs_listing(target, params["first"], params["last"])
        job = self.jobs.get(target or "")
        if job is None or job.vanished:
            return _json(404, {"error": "Job not found"})
        if endpoint == "log":
            return _json(200, log_payload(job, now))
        if endpoint == "hp_errors":
            if not job.fails:
                return Answer(200, {}, b"")
            errors = [
                {"url": f"https://example.com/p/{n}", "error": "dead_page", "consumer": "c"}
                for n in range(min(job.fails, 3))
            ]
            return _json(200, {"errors": errors})
        return self._rerun(job, now)

    def _collector_row(self, spec: CollectorSpec) -> dict[str, Any]:
        times = [
            moment
            for job in self.jobs.values()
            if job.collector_id == spec.collector_id
            for moment in (job.created, job.started)
            if moment is not None
        ]
        latest = max(times) if times else None
        last_run: Any = {
            "live": iso(latest) if latest else None,
            "absent": None,
            "stuck": STUCK_LAST_RUN,
            "epoch": int(latest.timestamp() * 1000) if latest else None,
        }[spec.last_run]
        row = {"id": spec.collector_id, "name": spec.name, "active": spec.active}
        row["last_run"] = last_run
        return {k: v for k, v in row.items() if v is not None}

    def _jobs_listing(self, collector_id: str | None, first: date, last: date) -> Answer:
        if collector_id not in self.collectors:
            if self.unknown_collector == "empty":
                return _json(200, {"total": 0, "offset": 0, "limit": 500, "data": []})
            status = 404 if self.unknown_collector == "404" else 400
            return _json(status, {"error": "Unknown collector"})
        jobs = sorted(
            (
                j
                for j in self.jobs.values()
                if j.collector_id == collector_id and first <= j.created.date() <= last
            ),
            key=lambda j: (j.created, j.job_id),
            reverse=True,
        )
        rows = [listing_row(j) for j in jobs]
        return _json(200, {"total": len(rows), "offset": 0, "limit": 500, "data": rows})

    def _rerun(self, job: ModelJob, now: datetime) -> Answer:
        new = ModelJob(
            job_id=self.new_job_id(False),
            collector_id=job.collector_id,
            created=now,
            shape=JobShape(),
            status="queued",
            inputs=max(job.fails, 1),
            rerun_of=job.job_id,
        )
        self.jobs[new.job_id] = new
        return _json(200, {"collection_id": new.job_id, "start_eta": iso(now)})


# ---- the client --------------------------------------------------------------------------------
Observe = Callable[[str, str | None, str], None]


@dataclass
class ModelClient:
    """BrightDataClient's interface over the model, for one run. `before` runs ahead of every
    call (the run's cut and deadline); `observe` hears how each call went: ok, failed, or gone
    (a 404 for a job)."""

    model: BrightDataModel
    before: Callable[[str], None]
    observe: Observe
    stats: CallStats = field(default_factory=CallStats)

    def list_collectors(self) -> list[dict]:
        return self._listing("collectors_list", Endpoint.COLLECTORS_LIST, None, {})

    def list_jobs(self, collector_id: str, from_date: date, to_date: date) -> list[dict]:
        cid = checked_id(ids.validate_collector_id, collector_id, Endpoint.COLLECTOR_JOBS)
        params = {"first": from_date, "last": to_date}
        return self._listing("collector_jobs", Endpoint.COLLECTOR_JOBS, cid, params)

    def get_log(self, job_id: str) -> dict:
        job = checked_id(ids.validate_job_id, job_id, Endpoint.LOG)
        try:
            reply = self._call("log", Call("GET", Endpoint.LOG, job, TOKEN), job)
        except NotFound:
            self.observe("log", job, "gone")
            raise
        except BrightDataError:
            self.observe("log", job, "failed")
            raise
        assert reply.payload is not None  # only empty_ok calls may answer nothing
        try:
            parse_job_log(reply.payload, job_id=job)
        except JobLogError:
            self.observe("log", job, "failed")
        else:
            self.observe("log", job, "ok")
        return reply.payload

    def get_errors(self, job_id: str, *, limit: int = 50) -> list[dict]:
        job = checked_id(ids.validate_job_id, job_id, Endpoint.HP_ERRORS)
        call = Call("GET", Endpoint.HP_ERRORS, job, TOKEN)
        reply = self._call("hp_errors", call, job, empty_ok=True)
        if reply.payload is None:
            return []
        errors: list[dict] = self._counted(lambda: answers.objects(reply, "errors"))
        return errors[:limit]

    def rerun(self, job_id: str, *, failed_only: bool = True) -> RerunStarted:
        job = checked_id(ids.validate_job_id, job_id, Endpoint.RERUN)
        reply = self._call("rerun", Call("POST", Endpoint.RERUN, job, TOKEN), job)
        started: RerunStarted = self._counted(lambda: answers.rerun_started(reply))
        return started

    def close(self) -> None:
        """Nothing to release: no connections."""

    # -- plumbing -------------------------------------------------------------------------------
    def _listing(
        self, endpoint: str, path: Endpoint, target: str | None, params: dict[str, Any]
    ) -> list[dict]:
        try:
            data = self._pages(endpoint, Call("GET", path, None, TOKEN), target, params)
        except BrightDataError:
            self.observe(endpoint, target, "failed")
            raise
        self.observe(endpoint, target, "ok")
        return data

    def _pages(
        self, endpoint: str, call: Call, target: str | None, params: dict[str, Any]
    ) -> list[dict]:
        """Page as the real client does: a first page that says there is more is followed by
        a second; one that repeats the first (the model ignores offsets) is a paging error."""
        reply = self._call(endpoint, call, target, **params)
        data: list[dict] = self._counted(lambda: answers.objects(reply, "data"))
        total = self._counted(lambda: answers.total(reply))
        if not data or total is None or total <= len(data):
            return data
        again = self._call(endpoint, call, target, **params)
        seen = {row.get("id") for row in data}
        more = self._counted(lambda: answers.objects(again, "data"))
        if more and all(row.get("id") in seen for row in more):
            raise self._counted_error(answers.paging_error(again, "paging made no progress"))
        return data + [row for row in more if row.get("id") not in seen]

    def _call(
        self,
        endpoint: str,
        call: Call,
        target: str | None,
        *,
        empty_ok: bool = False,
        **params: Any,
    ) -> answers.Reply:
        self.before(endpoint)
        self.stats.record_request(call.endpoint.value)
        try:
            answer = self.model.answer(endpoint, call, target, **params)
            return answers.decode(answer, call, attempts=4, empty_ok=empty_ok)
        except BrightDataError as exc:
            raise self._counted_error(exc) from None

    def _counted(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except BadResponse as exc:
            raise self._counted_error(exc) from None

    def _counted_error(self, exc: BrightDataError) -> BrightDataError:
        self.stats.record_error(exc.kind)
        return exc
