"""`python -m local.simulator`: run the simulator until Ctrl-C, optionally with a few demo jobs."""

from __future__ import annotations

import argparse
import contextlib
import threading
from datetime import timedelta

from job_alerts.timeutil import system_clock
from local.simulator.api import BrightDataSimulator

PROG = "python -m local.simulator"


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
    parser = argparse.ArgumentParser(prog=PROG, description="Run the Bright Data API simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--demo", action="store_true", help="load a few demo collectors and jobs")
    args = parser.parse_args(argv)
    # A long-running server for people to try things against: it follows the wall clock.
    simulator = BrightDataSimulator(args.token, host=args.host, port=args.port, clock=system_clock)
    if args.demo:
        _demo(simulator)
    try:
        simulator.start()
    except OSError as exc:
        # Usually the port is taken (another simulator still running): say so in one line.
        reason = exc.strerror or str(exc)
        parser.exit(2, f"{PROG}: error: cannot listen on {args.host} port {args.port}: {reason}\n")
    try:
        print(f"Bright Data simulator on {simulator.url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
