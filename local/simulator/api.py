"""BrightDataSimulator: the job store served as the DCA API over HTTP on 127.0.0.1, with fault
injection and request counting."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Self

from job_alerts.timeutil import Clock
from local.simulator.faults import (
    HUGE_DEFAULT_BYTES,
    Answer,
    Fault,
    FaultKind,
    FaultPlan,
    canned_answer,
    huge_json,
    trickle_body,
    with_wrong_types,
)
from local.simulator.jobs import JobStore
from local.simulator.routes import ENDPOINTS, Request
from local.simulator.server import Handler, RequestLog, ServedRequest, Server

__all__ = ["BrightDataSimulator"]


class BrightDataSimulator(JobStore):
    """Fake DCA API. Thread-safe; use as a context manager or start()/stop().

    Jobs are stored per collector and moved with the JobStore controls (add_job, update_job,
    advance, tick …); a rerun request adds a job, found with `reruns_of`. Faults are injected
    per endpoint name (see ENDPOINTS, or "*") and optionally per job id, the rerun endpoint
    included; every request served is counted (count, requests).
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
        super().__init__(
            collector_last_run=collector_last_run,
            collectors_page_size=collectors_page_size,
            now=now,
            clock=clock,
        )
        self.token = token
        self.latency = latency  # seconds added to every request (benchmarks)
        self._host, self._port = host, port
        self._faults = FaultPlan(ENDPOINTS)
        self._log = RequestLog()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Listen and serve in a background thread; OSError when the port cannot be bound."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = Server((self._host, self._port), self._handle)
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
        server.cut_connections()
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
        job_id: only requests about this job (for "collector_jobs": this collector id).
        kind: see FaultKind. Latency faults delay and then let the request go on; the first
        other matching fault decides the answer.
        """
        self._faults.inject(endpoint, kind, times=times, job_id=job_id, **params)

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- counting -----------------------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        return self._log.all()

    def count(
        self, endpoint: str | None = None, job_id: str | None = None, *, method: str | None = None
    ) -> int:
        """Requests served, filtered by endpoint (name or path template), job id, method."""
        return self._log.count(endpoint, job_id, method=method)

    def reset_counts(self) -> None:
        self._log.clear()

    # -- request handling ---------------------------------------------------------------

    def _handle(self, handler: Handler, method: str) -> None:
        request = handler.read_request(method)
        # A collector's job listing is targeted like a job: by its collector id.
        target = request.job_id or request.query.get("collector")
        delay, fault = self._faults.take(request.endpoint, target)
        delay += self.latency
        if delay > 0 and self._stopping.wait(delay):
            return
        if fault is not None and fault.kind is FaultKind.RESET:
            # Dropped before the server acted: a reset rerun starts no job.
            self._log.record(request, None)
            handler.reset()
        elif fault is not None and fault.kind is FaultKind.HUGE:
            self._log.record(request, 200)
            size = int(fault.params.get("size", HUGE_DEFAULT_BYTES))
            chunked = bool(fault.params.get("chunked", False))
            handler.send_stream(200, huge_json(size, request.job_id), None if chunked else size)
        else:
            self._respond(handler, request, fault)

    def _respond(self, handler: Handler, request: Request, fault: Fault | None) -> None:
        """Act on the request and answer it, at once or as a trickle or stall fault says."""
        answer = self._answer(request, fault)
        self._log.record(request, answer.status)
        kind = fault.kind if fault is not None else None
        params = fault.params if fault is not None else {}
        if kind is FaultKind.TRICKLE:
            interval = float(params.get("seconds", 1.0))
            body = trickle_body(params, answer)
            handler.send_trickle(answer.status, body, answer.headers, interval, self._stopping)
            return
        if kind is FaultKind.STALL and self._stopping.wait(float(params.get("seconds", 5.0))):
            return
        handler.send_answer(answer)

    def _answer(self, request: Request, fault: Fault | None) -> Answer:
        canned = canned_answer(fault)
        if canned is not None:
            return canned
        if request.authorization != f"Bearer {self.token}":
            return Answer(401, {"error": "Unauthorized"}, {})
        with self._lock:
            status, payload = request.route.answer(self, request)
        return with_wrong_types(fault, Answer(status, payload, {}))
