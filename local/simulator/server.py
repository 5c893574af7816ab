"""The simulator's HTTP side: a threaded server that keeps track of its open connections, the
handler's ways of answering (whole, trickled, streamed, or a reset), and the log of requests
served."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from local.simulator.faults import Answer
from local.simulator.routes import Request

__all__ = ["Handler", "RequestLog", "ServedRequest", "Server"]


class ServedRequest(NamedTuple):
    method: str
    path: str  # path template, e.g. "/dca/log/{id}"; the raw path when unknown
    job_id: str | None
    status: int | None  # None: the connection was closed without an answer
    at: float  # time.time() when it was answered
    endpoint: str  # endpoint name, e.g. "log"


class RequestLog:
    """Every request served, in order, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: list[ServedRequest] = []

    def record(self, request: Request, status: int | None) -> None:
        served = ServedRequest(
            request.method, request.template, request.job_id, status, time.time(), request.endpoint
        )
        with self._lock:
            self._served.append(served)

    def all(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._served)

    def count(
        self, endpoint: str | None = None, job_id: str | None = None, *, method: str | None = None
    ) -> int:
        with self._lock:
            return sum(
                1
                for r in self._served
                if (endpoint is None or endpoint in (r.endpoint, r.path))
                and (job_id is None or r.job_id == job_id)
                and (method is None or r.method == method)
            )

    def clear(self) -> None:
        with self._lock:
            self._served.clear()


class Server(ThreadingHTTPServer):
    """Hands every request to `dispatch(handler, method)`; remembers open connections so that
    stopping can cut the ones idle in keep-alive or held by a stall."""

    daemon_threads = True
    # Keep-alive handler threads wait for their client: never block stop() on them.
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], dispatch: Callable[[Handler, str], None]) -> None:
        super().__init__(address, Handler)
        self.dispatch = dispatch
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def cut_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BrightDataSimulator/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end after this
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks must not drown in per-request lines."""

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY, Nagle plus delayed ACKs
        # would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.dispatch(self, "POST")

    def read_request(self, method: str) -> Request:
        length = int(self.headers.get("Content-Length") or "0")
        body = self.rfile.read(length) if length > 0 else b""
        return Request.parse(method, self.path, body, self.headers.get("Authorization"))

    def send_answer(self, answer: Answer) -> None:
        payload = answer.payload
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_body(answer.status, body, answer.headers)

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
