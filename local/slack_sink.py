"""A local stand-in for a Slack incoming webhook: records every POST and can be told to answer
429 (with Retry-After), 5xx (with any body), to stall, or to trickle its answer byte by byte, so
delivery can be tested over real HTTP.

    with SlackSink() as sink:
        post_somewhere(sink.url)
        assert sink.posts[0]["text"]

Run ``python -m local.slack_sink`` to keep one open and print what arrives (for demos)."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SinkRequest", "SlackSink"]

# Slack's documented Block Kit limit; a real webhook answers 400 beyond it.
MAX_BLOCKS = 50


@dataclass(frozen=True)
class SinkRequest:
    """One POST as received, and the status the sink answered."""

    path: str
    body: bytes
    headers: dict[str, str]
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class SlackSink:
    """Threaded HTTP server on 127.0.0.1 (free port). ``url`` looks like a webhook URL with a
    random secret path; only that path is accepted (others: 404 ``no_service``, like Slack).

    ``requests``: every POST, whatever was answered. ``posts``: the JSON payloads accepted
    (what a channel would show). Faults are consumed in order: 429s, then 500s, per request."""

    def __init__(self) -> None:
        self.path = f"/services/T0LOCAL/B0LOCAL/{secrets.token_hex(12)}"
        self.requests: list[SinkRequest] = []
        self._lock = threading.Lock()
        self._rate_limits = 0
        self._retry_after: int | str = 1
        self._errors: int | None = 0  # None: forever
        self._error_status = 500
        self._error_body = b"internal_error"
        self._stall_seconds = 0.0
        self._stalls = 0
        self._trickle_seconds = 0.0
        self._trickles = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_post: Any = None  # optional callback(payload) for the demo printer

    # ---- faults ----------------------------------------------------------------------------
    def rate_limit(self, times: int, retry_after: int | str = 1) -> None:
        """Answer the next `times` POSTs with 429 and ``Retry-After: retry_after`` (seconds, or
        an HTTP date given as text)."""
        with self._lock:
            self._rate_limits, self._retry_after = times, retry_after

    def fail(
        self, times: int | None = None, *, status: int = 500, body: str | bytes = "internal_error"
    ) -> None:
        """Answer the next `times` POSTs (None: all of them) with `status` (a 5xx) and `body`."""
        with self._lock:
            self._errors = times
            self._error_status = status
            self._error_body = body.encode() if isinstance(body, str) else body

    def stall(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` POSTs for `seconds` before answering (client timeouts)."""
        with self._lock:
            self._stall_seconds, self._stalls = seconds, times

    def trickle(self, seconds: float, times: int = 1) -> None:
        """Send the next `times` answers' bodies one byte every `seconds` (the head at once)."""
        with self._lock:
            self._trickle_seconds, self._trickles = seconds, times

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._rate_limits, self._errors, self._stalls, self._trickles = 0, 0, 0, 0

    # ---- results ---------------------------------------------------------------------------
    @property
    def posts(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests if 200 <= r.status < 300]

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sink is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> SlackSink:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- request handling ------------------------------------------------------------------
    def _decide(self, path: str, body: bytes) -> _Answer:
        """What to answer to one POST, and how slowly."""
        with self._lock:
            pace = _Pace()
            if self._stalls > 0:
                self._stalls -= 1
                pace.stall = self._stall_seconds
            if self._trickles > 0:
                self._trickles -= 1
                pace.trickle = self._trickle_seconds
            if path != self.path:
                return _Answer(404, b"no_service", {}, pace)
            if self._rate_limits > 0:
                self._rate_limits -= 1
                headers = {"Retry-After": str(self._retry_after)}
                return _Answer(429, b"rate_limited", headers, pace)
            if self._errors is None or self._errors > 0:
                if self._errors is not None:
                    self._errors -= 1
                return _Answer(self._error_status, self._error_body, {}, pace)
        try:
            payload = json.loads(body)
        except ValueError:
            return _Answer(400, b"invalid_payload", {}, pace)
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return _Answer(400, b"no_text", {}, pace)
        if len(payload.get("blocks") or []) > MAX_BLOCKS:
            return _Answer(400, b"invalid_blocks", {}, pace)
        return _Answer(200, b"ok", {}, pace)

    def _record(self, request: SinkRequest) -> None:
        with self._lock:
            self.requests.append(request)
        if self.on_post is not None and 200 <= request.status < 300:
            self.on_post(request.json())


@dataclass
class _Pace:
    stall: float = 0.0  # seconds before answering
    trickle: float = 0.0  # seconds between the body's bytes (0: all at once)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    pace: _Pace


def _handler_for(sink: SlackSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = sink._decide(self.path, body)
            if answer.pace.stall:
                time.sleep(answer.pace.stall)
            sink._record(
                SinkRequest(self.path, body, dict(self.headers.items()), answer.status, time.time())
            )
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not answer.pace.trickle:
                    self.wfile.write(answer.body)
                    return
                self.wfile.flush()
                for index in range(len(answer.body)):
                    time.sleep(answer.pace.trickle)
                    self.wfile.write(answer.body[index : index + 1])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up waiting (stall and trickle tests): nothing left to tell it.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests and the demo print what matters themselves."""

    return Handler


def main() -> int:
    """Keep a sink open and print each accepted message's fallback text."""

    def show(payload: Any) -> None:
        print(f"--- Slack message ---\n{payload.get('text', '')}", flush=True)

    with SlackSink() as sink:
        sink.on_post = show
        print(f"Slack sink listening: {sink.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
