"""A local stand-in for a Slack incoming webhook: records every POST and can be told to answer
429 (with Retry-After), 500, or to stall, so delivery can be tested over real HTTP.

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
        self._retry_after = 1
        self._errors: int | None = 0  # None: forever
        self._stall_seconds = 0.0
        self._stalls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_post: Any = None  # optional callback(payload) for the demo printer

    # ---- faults ----------------------------------------------------------------------------
    def rate_limit(self, times: int, retry_after: int = 1) -> None:
        """Answer the next `times` POSTs with 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limits, self._retry_after = times, retry_after

    def fail(self, times: int | None = None) -> None:
        """Answer the next `times` POSTs (None: all of them) with 500."""
        with self._lock:
            self._errors = times

    def stall(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` POSTs for `seconds` before answering (client timeouts)."""
        with self._lock:
            self._stall_seconds, self._stalls = seconds, times

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._rate_limits, self._errors, self._stalls = 0, 0, 0

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
    def _decide(self, path: str, body: bytes) -> tuple[int, str, dict[str, str], float]:
        """(status, answer body, extra headers, seconds to stall) for one POST."""
        with self._lock:
            stall = 0.0
            if self._stalls > 0:
                self._stalls -= 1
                stall = self._stall_seconds
            if path != self.path:
                return 404, "no_service", {}, stall
            if self._rate_limits > 0:
                self._rate_limits -= 1
                return 429, "rate_limited", {"Retry-After": str(self._retry_after)}, stall
            if self._errors is None or self._errors > 0:
                if self._errors is not None:
                    self._errors -= 1
                return 500, "internal_error", {}, stall
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "invalid_payload", {}, stall
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, "no_text", {}, stall
        if len(payload.get("blocks") or []) > MAX_BLOCKS:
            return 400, "invalid_blocks", {}, stall
        return 200, "ok", {}, stall

    def _record(self, request: SinkRequest) -> None:
        with self._lock:
            self.requests.append(request)
        if self.on_post is not None and 200 <= request.status < 300:
            self.on_post(request.json())


def _handler_for(sink: SlackSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, answer, headers, stall = sink._decide(self.path, body)
            if stall:
                time.sleep(stall)
            sink._record(
                SinkRequest(self.path, body, dict(self.headers.items()), status, time.time())
            )
            data = answer.encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (stall tests); nothing left to tell it

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
