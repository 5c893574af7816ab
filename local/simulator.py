"""A programmable fake of the Bright Data DCA API on 127.0.0.1 (standard library only), with
fault injection and request counting, for tests, the local demo and benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, unquote, urlsplit

from job_alerts.timeutil import Clock, as_utc, system_clock
from local.clock import ManualClock

__all__ = ["BrightDataSimulator", "FaultKind", "ServedRequest", "http_date"]

MAX_JOBS_LIMIT = 500
HUGE_DEFAULT_BYTES = 50_000_000
_STREAM_PIECE = 64 * 1024
MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Bright Data - Maintenance</title></head>\n"
    "<body><h1>We'll be back soon</h1><p>Scheduled maintenance in progress.</p></body></html>\n"
)
DEFAULT_JOBS_LIMIT = 50
TERMINAL = frozenset({"done", "failed", "cancelled", "canceled"})
_NEXT_STATUS = {"building": "queued", "queued": "running", "running": "done"}

# endpoint name (used by inject/count) -> path template (as the client names it)
ENDPOINTS: dict[str, str] = {
    "collectors_list": "/dca/collectors_list",
    "collector_jobs": "/dca/collector/jobs",
    "log": "/dca/log/{id}",
    "hp_errors": "/dca/jobs/{id}/hp_errors",
    "rerun": "/dca/jobs/{id}/rerun",
}
_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "collectors_list", re.compile(r"/dca/collectors_list")),
    ("GET", "collector_jobs", re.compile(r"/dca/collector/jobs")),
    ("GET", "log", re.compile(r"/dca/log/([^/]+)")),
    ("GET", "hp_errors", re.compile(r"/dca/jobs/([^/]+)/hp_errors")),
    ("POST", "rerun", re.compile(r"/dca/jobs/([^/]+)/rerun")),
]


class FaultKind(StrEnum):
    LATENCY = "latency"  # params: seconds; delays, then the request proceeds
    STATUS = "status"  # params: code (default 503), body (optional JSON)
    RATE_LIMIT = "rate_limit"  # params: retry_after = seconds | raw header str | None
    UNAUTHORIZED = "unauthorized"  # 401
    NOT_FOUND = "not_found"  # 404
    MALFORMED = "malformed"  # 200 with a body that is not JSON; params: body (str)
    WRONG_TYPE = "wrong_type"  # 200; params: body (replaces payload) or fields (merged in)
    RESET = "reset"  # close the connection without an answer (and without acting)
    STALL = "stall"  # params: seconds (default 5); act, wait, then answer normally
    # Act, then send the answer's body one byte every `seconds` (default 1); params: body
    TRICKLE = "trickle"
    # 200 with a valid JSON object of `size` bytes (default 50 MB), streamed; chunked=True
    # sends it without Content-Length
    HUGE = "huge"
    HTML = "html"  # text/html page (maintenance); params: code (default 200), body
    FORBIDDEN = "forbidden"  # 403 as text/plain; params: body (default "Automation not allowed")


class ServedRequest(NamedTuple):
    method: str
    path: str  # path template, e.g. "/dca/log/{id}"; the raw path when unknown
    job_id: str | None
    status: int | None  # None: the connection was closed without an answer
    at: float  # time.time() when it was answered
    endpoint: str  # endpoint name, e.g. "log"


@dataclass
class _Fault:
    endpoint: str
    kind: FaultKind
    remaining: int | None
    job_id: str | None
    params: dict[str, Any]

    def matches(self, endpoint: str, job_id: str | None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        return self.job_id is None or self.job_id == job_id


@dataclass
class _Collector:
    id: str
    name: str
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Job:
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
    errors: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


_JOB_FIELDS = frozenset(_Job.__dataclass_fields__) - {"id", "extra"}


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and Z, as Bright Data writes it."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(moment: datetime) -> str:
    """An HTTP-date (for a Retry-After header)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("simulator times must be timezone-aware")
    return moment.astimezone(UTC)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive handler threads wait for their client: never block stop() on them.
    block_on_close = False
    request_queue_size = 256
    simulator: BrightDataSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BrightDataSimulator/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks must not drown in per-request lines."""

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY, Nagle plus delayed ACKs
        # would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.simulator._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.simulator._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.simulator._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.simulator._handle(self, "POST")

    def send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_body(status, json.dumps(payload).encode(), headers)

    def send_body(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        try:
            self._send_head(status, len(body), headers)
            self.wfile.write(body)
        except OSError:
            # The client gave up (e.g. after a read timeout): nothing left to tell it.
            self.close_connection = True

    def send_trickle(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None,
        interval: float,
        stopping: threading.Event,
    ) -> None:
        """The head at once, then the body one byte every `interval` seconds."""
        try:
            self._send_head(status, len(body), headers)
            self.wfile.flush()
            for index in range(len(body)):
                if stopping.wait(interval):
                    self.close_connection = True
                    return
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_stream(self, status: int, pieces: Iterable[bytes], length: int | None) -> None:
        """A body sent piece by piece (chunked when `length` is None), never held whole; stops
        when the client goes away."""
        try:
            if length is None:
                self._send_head(status, None, {"Transfer-Encoding": "chunked"})
                for piece in pieces:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self._send_head(status, length, None)
                for piece in pieces:
                    self.wfile.write(piece)
        except OSError:
            self.close_connection = True

    def _send_head(
        self, status: int, length: int | None, headers: Mapping[str, str] | None
    ) -> None:
        extra = dict(headers or {})
        self.send_response(status)
        self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()

    def reset(self) -> None:
        # SO_LINGER 0 turns the close into a TCP reset: the client gets no answer at all.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class BrightDataSimulator:
    """Fake DCA API. Thread-safe; use as a context manager or start()/stop().

    Jobs are stored per collector. `clock` (shared with the monitor and the test's fixtures) is
    the time used for defaults, collector `last_run` and running jobs' durations; without one the
    simulator keeps its own ManualClock, started at `now` (default: the wall clock at start-up).
    Faults are injected per endpoint name (see ENDPOINTS, or "*") and optionally per job id.
    """

    def __init__(
        self,
        token: str = "sim-token",  # noqa: S107 - the fake token of a local fake API
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        collector_last_run: bool = True,
        latency: float = 0.0,
        collectors_page_size: int | None = None,
        now: datetime | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.token = token
        self.collector_last_run = collector_last_run
        self.latency = latency  # seconds added to every request (benchmarks)
        self.collectors_page_size = collectors_page_size
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self.clock: Clock = clock or ManualClock(now or system_clock())
        self._collectors: dict[str, _Collector] = {}
        self._jobs: dict[str, _Job] = {}
        self._by_collector: dict[str, list[str]] = {}
        self._expired: set[str] = set()
        self._faults: list[_Fault] = []
        self._served: list[ServedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.simulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="bright-data-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes stalled handlers
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

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

    # -- data ---------------------------------------------------------------------------

    def add_collector(
        self, collector_id: str, name: str | None = None, *, active: bool = True, **extra: Any
    ) -> None:
        with self._lock:
            self._collectors[collector_id] = _Collector(
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
        success_rate, template, trigger, expired); anything else is sent as an extra key.
        Missing times default from the clock: created = now, started = created once the job
        has left the queue, finished = now for terminal statuses."""
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
            job = _Job(
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

    def job_ids(self, collector_id: str | None = None) -> list[str]:
        with self._lock:
            if collector_id is None:
                return list(self._jobs)
            return list(self._by_collector.get(collector_id, []))

    @staticmethod
    def _apply(job: _Job, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            if name in _JOB_FIELDS:
                setattr(job, name, list(value) if name == "errors" else value)
            else:
                job.extra[name] = value

    # -- faults -------------------------------------------------------------------------

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        times: int | None = 1,
        job_id: str | None = None,
        **params: Any,
    ) -> None:
        """Make the next `times` matching requests (None: all of them) misbehave.

        endpoint: "collectors_list", "collector_jobs", "log", "hp_errors", "rerun" or "*".
        kind: see FaultKind. Latency faults delay and then let the request go on; the first
        other matching fault decides the answer.
        """
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}")
        fault_kind = FaultKind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults.append(_Fault(endpoint, fault_kind, times, job_id, dict(params)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_faults(self, endpoint: str, job_id: str | None) -> tuple[float, _Fault | None]:
        delay = self.latency
        chosen: _Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(endpoint, job_id):
                    continue
                if fault.kind is FaultKind.LATENCY:
                    delay += float(fault.params.get("seconds", 0.1))
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
        return delay, chosen

    # -- counting -----------------------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._served)

    def count(
        self, endpoint: str | None = None, job_id: str | None = None, *, method: str | None = None
    ) -> int:
        """Requests served, filtered by endpoint (name or path template), job id, method."""
        with self._lock:
            return sum(
                1
                for r in self._served
                if (endpoint is None or endpoint in (r.endpoint, r.path))
                and (job_id is None or r.job_id == job_id)
                and (method is None or r.method == method)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._served.clear()

    def _record(
        self, method: str, endpoint: str, path: str, job_id: str | None, status: int | None
    ) -> None:
        with self._lock:
            self._served.append(ServedRequest(method, path, job_id, status, time.time(), endpoint))

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # -- request handling ---------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        target = urlsplit(handler.path)
        path = target.path
        query = {k: v[-1] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or "0")
        raw_body = handler.rfile.read(length) if length > 0 else b""

        endpoint, job_id = "unknown", None
        for route_method, name, pattern in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                endpoint = name
                job_id = unquote(match.group(1)) if match.groups() else None
                break
        template = ENDPOINTS.get(endpoint, path)

        delay, fault = self._take_faults(endpoint, job_id)
        if delay > 0 and self._stopping.wait(delay):
            return
        if fault is not None and fault.kind is FaultKind.RESET:
            # Dropped before the server acted: a reset rerun starts no job.
            self._record(method, endpoint, template, job_id, None)
            handler.reset()
            return
        if fault is not None and fault.kind is FaultKind.HUGE:
            self._record(method, endpoint, template, job_id, 200)
            size = int(fault.params.get("size", HUGE_DEFAULT_BYTES))
            chunked = bool(fault.params.get("chunked", False))
            handler.send_stream(200, _huge_json(size, job_id), None if chunked else size)
            return
        status, payload, headers = self._answer(
            method, endpoint, job_id, query, raw_body, handler.headers.get("Authorization"), fault
        )
        if fault is not None and fault.kind is FaultKind.TRICKLE:
            self._record(method, endpoint, template, job_id, status)
            body = fault.params.get("body", payload)
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            interval = float(fault.params.get("seconds", 1.0))
            handler.send_trickle(status, body, headers, interval, self._stopping)
            return
        if fault is not None and fault.kind is FaultKind.STALL:
            self._record(method, endpoint, template, job_id, status)
            if self._stopping.wait(float(fault.params.get("seconds", 5.0))):
                return
        else:
            self._record(method, endpoint, template, job_id, status)
        if isinstance(payload, bytes):
            handler.send_body(status, payload, headers)
        else:
            handler.send_json(status, payload, headers)

    def _answer(
        self,
        method: str,
        endpoint: str,
        job_id: str | None,
        query: Mapping[str, str],
        raw_body: bytes,
        authorization: str | None,
        fault: _Fault | None,
    ) -> tuple[int, Any, dict[str, str]]:
        kind = fault.kind if fault else None
        params = fault.params if fault else {}
        if kind is FaultKind.STATUS:
            code = int(params.get("code", 503))
            return code, params.get("body", {"error": f"simulated {code}"}), {}
        if kind is FaultKind.RATE_LIMIT:
            headers: dict[str, str] = {"x-brd-error-code": "client_10110"}
            retry_after = params.get("retry_after")
            if isinstance(retry_after, int | float):
                headers["Retry-After"] = str(int(retry_after))
            elif isinstance(retry_after, datetime):
                headers["Retry-After"] = http_date(retry_after)
            elif isinstance(retry_after, str):
                headers["Retry-After"] = retry_after
            return 429, {"error": "Too many requests"}, headers
        if kind is FaultKind.UNAUTHORIZED:
            return 401, {"error": "Unauthorized"}, {}
        if kind is FaultKind.NOT_FOUND:
            return 404, {"error": "Not found"}, {}
        if kind is FaultKind.MALFORMED:
            body = params.get("body", '{"status": "done", "fails": ')
            return 200, body.encode() if isinstance(body, str) else bytes(body), {}
        if kind is FaultKind.HTML:
            page = str(params.get("body", MAINTENANCE_PAGE)).encode()
            return int(params.get("code", 200)), page, {"Content-Type": "text/html; charset=utf-8"}
        if kind is FaultKind.FORBIDDEN:
            text = str(params.get("body", "Automation not allowed")).encode()
            return 403, text, {"Content-Type": "text/plain; charset=utf-8"}

        if authorization != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized"}, {}
        status, payload = self._route(method, endpoint, job_id, query, raw_body)

        if kind is FaultKind.WRONG_TYPE and status == 200:
            if "body" in params:
                payload = params["body"]
            elif isinstance(payload, dict):
                payload = {**payload, **params.get("fields", {})}
        return status, payload, {}

    def _route(
        self,
        method: str,
        endpoint: str,
        job_id: str | None,
        query: Mapping[str, str],
        raw_body: bytes,
    ) -> tuple[int, Any]:
        with self._lock:
            if endpoint == "collectors_list":
                return self._collectors_list(query)
            if endpoint == "collector_jobs":
                return self._collector_jobs(query)
            if endpoint == "unknown":
                return 404, {"error": "Not found"}
            assert job_id is not None
            job = self._jobs.get(job_id)
            if job is None:
                reason = "Job expired" if job_id in self._expired else "Job not found"
                return 404, {"error": reason}
            if endpoint == "log":
                return 200, self._log(job)
            if endpoint == "hp_errors":
                return 200, {"errors": [dict(e) for e in job.errors]}
            return self._rerun(job, raw_body)

    @staticmethod
    def _int_param(query: Mapping[str, str], name: str, default: int) -> int | None:
        raw = query.get(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            return None

    def _collectors_list(self, query: Mapping[str, str]) -> tuple[int, Any]:
        search = query.get("search", "").lower()
        rows = []
        for collector in self._collectors.values():
            if search and search not in collector.name.lower():
                continue
            row: dict[str, Any] = {
                "id": collector.id,
                "name": collector.name,
                "active": collector.active,
            }
            if self.collector_last_run:
                row["last_run"] = iso(self._last_run(collector.id))
            row.update(collector.extra)
            rows.append(row)
        offset = self._int_param(query, "offset", 0)
        limit = self._int_param(query, "limit", self.collectors_page_size or len(rows))
        if offset is None or limit is None or offset < 0 or limit < 0:
            return 400, {"error": "Invalid offset or limit"}
        if self.collectors_page_size:
            limit = min(limit, self.collectors_page_size)
        page = rows[offset : offset + limit]
        return 200, {"total": len(rows), "offset": offset, "limit": limit, "data": page}

    def _last_run(self, collector_id: str) -> datetime | None:
        moments = [
            job.started or job.created
            for job in (self._jobs[i] for i in self._by_collector.get(collector_id, []))
        ]
        return max(moments, default=None)

    def _collector_jobs(self, query: Mapping[str, str]) -> tuple[int, Any]:
        collector_id = query.get("collector")
        if not collector_id:
            return 400, {"error": "Missing collector parameter"}
        try:
            first = date.fromisoformat(query["from_date"]) if query.get("from_date") else None
            last = date.fromisoformat(query["to_date"]) if query.get("to_date") else None
        except ValueError:
            return 400, {"error": "Invalid date, expected YYYY-MM-DD"}
        offset = self._int_param(query, "offset", 0)
        limit = self._int_param(query, "limit", DEFAULT_JOBS_LIMIT)
        if offset is None or limit is None or offset < 0 or limit < 0:
            return 400, {"error": "Invalid offset or limit"}
        limit = min(limit, MAX_JOBS_LIMIT)
        jobs = [
            job
            for job in (self._jobs[i] for i in self._by_collector.get(collector_id, []))
            if (first is None or job.created.date() >= first)
            and (last is None or job.created.date() <= last)
        ]
        oldest_first = query.get("sort_asc") == "1"
        jobs.sort(key=lambda job: (job.created, job.id), reverse=not oldest_first)
        page = [self._job_row(job) for job in jobs[offset : offset + limit]]
        return 200, {"total": len(jobs), "offset": offset, "limit": limit, "data": page}

    @staticmethod
    def _job_row(job: _Job) -> dict[str, Any]:
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

    def _log(self, job: _Job) -> dict[str, Any]:
        now = self.now()
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
        return payload

    def _rerun(self, job: _Job, raw_body: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except ValueError:
            return 400, {"error": "Invalid JSON body"}
        failed_only = isinstance(body, dict) and bool(body.get("failed_only"))
        new_id = "j_" + secrets.token_hex(9)
        inputs = job.fails if failed_only else job.inputs
        self.add_job(new_id, job.collector_id, "queued", inputs=inputs, key_case=job.key_case)
        start_eta = self.now() + timedelta(seconds=30)
        return 200, {"collection_id": new_id, "start_eta": iso(start_eta)}


def _huge_json(size: int, job_id: str | None) -> Iterable[bytes]:
    """A valid JSON object of exactly `size` bytes (or the smallest one, if `size` is smaller),
    made piece by piece so that not even the simulator holds it whole."""
    head = json.dumps({"Id": job_id or "j_huge", "Status": "done"})[:-1].encode()
    head += b', "padding": "'
    tail = b'"}'
    padding = max(0, size - len(head) - len(tail))
    yield head
    while padding > 0:
        piece = min(padding, _STREAM_PIECE)
        yield b"x" * piece
        padding -= piece
    yield tail


def _demo(simulator: BrightDataSimulator) -> None:
    now = simulator.now()
    simulator.add_collector("c_demo_products", "Demo products")
    simulator.add_collector("c_demo_reviews", "Demo reviews")
    simulator.add_job(
        "j_demo_ok", "c_demo_products", "done", inputs=100, success=99, fails=1, lines=990,
        pages=120, created=now - timedelta(minutes=30), started=now - timedelta(minutes=29),
        finished=now - timedelta(minutes=5),
    )  # fmt: skip
    simulator.add_job(
        "j_demo_bad", "c_demo_reviews", "done", inputs=100, success=40, fails=60, lines=40,
        pages=100, created=now - timedelta(minutes=40), started=now - timedelta(minutes=39),
        finished=now - timedelta(minutes=10), key_case="lower",
        errors=[{"url": "https://example.com/p/1", "error": "Timeout", "consumer": "demo"}],
    )  # fmt: skip
    simulator.add_job("j_demo_stuck", "c_demo_reviews", "queued", created=now - timedelta(hours=3))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Bright Data API simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--demo", action="store_true", help="load a few demo collectors and jobs")
    args = parser.parse_args(argv)
    # A long-running server for people to try things against: it follows the wall clock.
    simulator = BrightDataSimulator(args.token, host=args.host, port=args.port, clock=system_clock)
    if args.demo:
        _demo(simulator)
    with simulator:
        print(f"Bright Data simulator on {simulator.url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
