"""The DCA endpoints the simulator serves: one route per endpoint (its name, method and path
template) and the answer it gives from the job store once the token has been accepted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.simulator.jobs import Job, JobStore, iso

__all__ = ["ENDPOINTS", "ROUTES", "UNKNOWN", "Request", "Route"]

MAX_JOBS_LIMIT = 500
DEFAULT_JOBS_LIMIT = 50
RERUN_START_DELAY = timedelta(seconds=30)

# What an endpoint answers: (status, JSON payload).
Result = tuple[int, Any]


@dataclass(frozen=True)
class Route:
    method: str
    endpoint: str  # the name faults and counts use, e.g. "log"
    template: str  # the path as the client names it, e.g. "/dca/log/{id}"
    answer: Callable[[JobStore, Request], Result]
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pattern = re.compile(re.escape(self.template).replace(r"\{id\}", "([^/]+)"))
        object.__setattr__(self, "pattern", pattern)


@dataclass(frozen=True)
class Request:
    """One request as the simulator sees it: its route (UNKNOWN when none matched), the job
    it concerns and what it carried."""

    method: str
    path: str
    route: Route
    job_id: str | None
    query: Mapping[str, str]
    body: bytes
    authorization: str | None

    @property
    def endpoint(self) -> str:
        return self.route.endpoint

    @property
    def template(self) -> str:
        """The path template, or the path itself when no route matched."""
        return self.route.template if self.route is not UNKNOWN else self.path

    @classmethod
    def parse(cls, method: str, target: str, body: bytes, authorization: str | None) -> Request:
        """The request for `method` on `target` (path and query as sent)."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route, job_id = UNKNOWN, None
        for candidate in ROUTES:
            match = candidate.pattern.fullmatch(parts.path)
            if match and candidate.method == method:
                route = candidate
                job_id = unquote(match.group(1)) if match.groups() else None
                break
        return cls(method, parts.path, route, job_id, query, body, authorization)


def _int_param(query: Mapping[str, str], name: str, default: int) -> int | None:
    raw = query.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def _last_run(store: JobStore, collector_id: str) -> datetime | None:
    return max((job.started or job.created for job in store.jobs_of(collector_id)), default=None)


def _collectors_list(store: JobStore, request: Request) -> Result:
    query = request.query
    search = query.get("search", "").lower()
    rows = []
    for collector in store.collectors():
        if search and search not in collector.name.lower():
            continue
        row: dict[str, Any] = {
            "id": collector.id,
            "name": collector.name,
            "active": collector.active,
        }
        if store.collector_last_run:
            row["last_run"] = iso(_last_run(store, collector.id))
        row.update(collector.extra)
        rows.append(row)
    offset = _int_param(query, "offset", 0)
    limit = _int_param(query, "limit", store.collectors_page_size or len(rows))
    if offset is None or limit is None or offset < 0 or limit < 0:
        return 400, {"error": "Invalid offset or limit"}
    if store.collectors_page_size:
        limit = min(limit, store.collectors_page_size)
    page = rows[offset : offset + limit]
    return 200, {"total": len(rows), "offset": offset, "limit": limit, "data": page}


def _collector_jobs(store: JobStore, request: Request) -> Result:
    query = request.query
    collector_id = query.get("collector")
    if not collector_id:
        return 400, {"error": "Missing collector parameter"}
    try:
        first = date.fromisoformat(query["from_date"]) if query.get("from_date") else None
        last = date.fromisoformat(query["to_date"]) if query.get("to_date") else None
    except ValueError:
        return 400, {"error": "Invalid date, expected YYYY-MM-DD"}
    offset = _int_param(query, "offset", 0)
    limit = _int_param(query, "limit", DEFAULT_JOBS_LIMIT)
    if offset is None or limit is None or offset < 0 or limit < 0:
        return 400, {"error": "Invalid offset or limit"}
    limit = min(limit, MAX_JOBS_LIMIT)
    jobs = [
        job
        for job in store.jobs_of(collector_id)
        if (first is None or job.created.date() >= first)
        and (last is None or job.created.date() <= last)
    ]
    oldest_first = query.get("sort_asc") == "1"
    jobs.sort(key=lambda job: (job.created, job.id), reverse=not oldest_first)
    page = [_job_row(job) for job in jobs[offset : offset + limit]]
    return 200, {"total": len(jobs), "offset": offset, "limit": limit, "data": page}


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "queued": iso(job.created),
        "started": iso(job.started),
        "finished": iso(job.finished),
        "inputs": job.inputs,
        "page_loads": job.pages,
        "total_pages": job.pages + job.pages_left,
        "failed_pages": job.failed_pages,
        "data_lines": job.lines,
        "trigger": {"type": "api", "user": job.trigger, "ip": "203.0.113.7"},
        "expired": job.expired,
    }


def _of_job(
    answer: Callable[[JobStore, Job, Request], Result],
) -> Callable[[JobStore, Request], Result]:
    """A per-job endpoint: 404 for a job that does not exist (or no longer does)."""

    def answer_for_job(store: JobStore, request: Request) -> Result:
        assert request.job_id is not None
        job = store.job(request.job_id)
        if job is None:
            reason = "Job expired" if store.is_expired(request.job_id) else "Job not found"
            return 404, {"error": reason}
        return answer(store, job, request)

    return answer_for_job


def _log(store: JobStore, job: Job, request: Request) -> Result:
    now = store.now()
    success_rate = job.success_rate
    if success_rate is None and job.inputs > 0:
        success_rate = round(job.success / job.inputs, 4)
    upper: dict[str, Any] = {
        "Id": job.id,
        "Status": job.status,
        "Collector": job.collector_id,
        "Template": job.template,
        "Inputs": job.inputs,
        "dup_inputs": job.dup_inputs,
        "Lines": job.lines,
        "Fails": job.fails,
        "Pages": job.pages,
        "Pages_left": job.pages_left,
        "Success": job.success,
        "Navigations": job.navigations,
        "created": iso(job.created),
        "started": iso(job.started),
        "finished": iso(job.finished),
        "trigger": job.trigger,
        "Success_rate": success_rate,
        "Job_time": _ms(job.started, job.finished or (now if job.started else None)),
        "Queue_time": _ms(job.created, job.started or now),
    }
    # Absent rather than null: e.g. `finished` does not exist while the job runs.
    payload = {k: v for k, v in upper.items() if v is not None}
    if job.key_case == "lower":
        payload = {k.lower(): v for k, v in payload.items()}
    payload.update(job.extra)
    return 200, payload


def _hp_errors(store: JobStore, job: Job, request: Request) -> Result:
    return 200, {"errors": [dict(e) for e in job.errors]}


def _rerun(store: JobStore, job: Job, request: Request) -> Result:
    try:
        body = json.loads(request.body) if request.body.strip() else {}
    except ValueError:
        return 400, {"error": "Invalid JSON body"}
    failed_only = isinstance(body, dict) and bool(body.get("failed_only"))
    new_id = store.rerun(job.id, failed_only=failed_only)
    start_eta = store.now() + RERUN_START_DELAY
    return 200, {"collection_id": new_id, "start_eta": iso(start_eta)}


ROUTES: tuple[Route, ...] = (
    Route("GET", "collectors_list", "/dca/collectors_list", _collectors_list),
    Route("GET", "collector_jobs", "/dca/collector/jobs", _collector_jobs),
    Route("GET", "log", "/dca/log/{id}", _of_job(_log)),
    Route("GET", "hp_errors", "/dca/jobs/{id}/hp_errors", _of_job(_hp_errors)),
    Route("POST", "rerun", "/dca/jobs/{id}/rerun", _of_job(_rerun)),
)
# Any other method or path.
UNKNOWN = Route("*", "unknown", "", lambda store, request: (404, {"error": "Not found"}))
# endpoint name (used by inject/count) -> path template (as the client names it)
ENDPOINTS: dict[str, str] = {route.endpoint: route.template for route in ROUTES}
