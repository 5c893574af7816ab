"""`make demo`: the monitor's real code over local stand-ins (moto server, the Bright Data
simulator, a Slack sink), playing a scripted scenario and printing every email and Slack post."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, ClassVar, TextIO

from job_alerts.rules import THRESHOLD_SPECS
from job_alerts.text import count, duration, percent
from job_alerts.timeutil import system_clock
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.slack_sink import SlackSink
from local.stack import LocalStack, MotoServer, PortUnavailableError, lambda_sns_record, provision

if TYPE_CHECKING:
    from job_alerts.config import Settings
    from job_alerts.monitor import RunSummary
    from job_alerts.slack import OncePerMessage, SlackClient

SIM_TOKEN = "demo-token-0123456789abcdef"  # noqa: S105 - the local simulator's fake token
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUN_EVERY = timedelta(minutes=5)
# The email subscription's filter: the template's EmailMinSeverity (its default value).
EMAIL_MIN_SEVERITY = "warning"
# The real API: runs this far apart unless --interval says otherwise.
REAL_INTERVAL_SECONDS = 60.0

# Settings of the scenario, fixed so its story does not depend on the caller's environment. The
# thresholds are the template's defaults: every threshold variable is cleared (see below).
SCENARIO_SETTINGS = {
    "ALARM_AFTER": "1",
    "ALARM_WINDOW": "1",
    "REPEAT_AFTER_MINUTES": "0",
    "ALERT_MODE": "state",
    "LOOKBACK_DAYS": "2",
    "MAX_CONCURRENCY": "8",
}
# Caller settings that would change the scenario (read by job_alerts.config).
SCENARIO_CLEARED = (
    "COLLECTORS",
    "RERUN_COLLECTORS",
    "THRESHOLDS_FILE",
    "THRESHOLDS_PARAMETER",
    *(spec.env_var for spec in THRESHOLD_SPECS.values() if spec.env_var),
)
# Powertools reads these when job_alerts is first imported: quiet logs, no EMF metrics output.
QUIET_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "job-alerts",
    "POWERTOOLS_METRICS_NAMESPACE": "BrightDataJobAlerts",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
# boto3 must reach moto only: a named profile or a per-service endpoint would send it elsewhere.
AWS_OVERRIDES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE")

PRODUCTS, REVIEWS, SERP = "c_amazon_products", "c_google_reviews", "c_bing_serp"
LISTINGS, PRICES = "c_zillow_listings", "c_walmart_prices"
COLLECTOR_NAMES = {
    PRODUCTS: "Amazon products",
    REVIEWS: "Google reviews",
    SERP: "Bing SERP",
    LISTINGS: "Zillow listings",
    PRICES: "Walmart prices",
}
# Reruns are off by default; the scenario opts one collector in to show one (and says so).
RERUN_OPT_IN = {"RERUN_COLLECTORS": SERP}

Expected = tuple[tuple[str, str], ...]  # (kind, rule) of every entry the run should publish


# ---- the scenario ------------------------------------------------------------------------------
def _at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return T0.replace(hour=int(hours), minute=int(minutes))


def _errors(url: str, samples: Sequence[tuple[str, int]]) -> list[dict[str, str]]:
    """Error records as /dca/jobs/{id}/hp_errors lists them: one per failed input."""
    out: list[dict[str, str]] = []
    for text, times in samples:
        for _ in range(times):
            out.append({"url": f"{url}{len(out) + 1}", "error": text, "consumer": "demo"})
    return out


def _settled_history(
    sim: BrightDataSimulator, collector: str, prefix: str, created: Sequence[str], lines: int
) -> None:
    """Healthy settled jobs from before monitoring starts: the first run learns the collector's
    cadence and output baseline from them (they are in the lookback)."""
    for n, hhmm in enumerate(created):
        start = _at(hhmm)
        sim.add_job(
            f"{prefix}_{hhmm.replace(':', '')}", collector, "done", created=start,
            started=start + timedelta(minutes=1), finished=start + timedelta(minutes=8),
            inputs=400, success=400, lines=lines + 10 * (n % 3),
        )  # fmt: skip


def _monitoring_starts(sim: BrightDataSimulator) -> None:
    for cid, name in COLLECTOR_NAMES.items():
        sim.add_collector(cid, name)
    # Zillow listings: hourly, about 2,400 lines a job. Walmart prices: every 25 min until 08:00.
    _settled_history(
        sim, LISTINGS, "j_listings", ["04:20", "05:20", "06:20", "07:20", "08:20"], 2400
    )
    _settled_history(sim, PRICES, "j_prices", ["06:45", "07:10", "07:35", "08:00"], 400)
    sim.add_job(
        "j_products_0820", PRODUCTS, "done", created=_at("08:20"), started=_at("08:21"),
        finished=_at("08:52"), inputs=1000, success=996, fails=4, lines=996, pages=1040,
    )  # fmt: skip
    sim.add_job(
        "j_products_0855", PRODUCTS, "running", created=_at("08:55"), started=_at("08:56"),
        inputs=500, success=180, lines=180, pages=190, pages_left=310,
    )  # fmt: skip
    sim.add_job(
        "j_reviews_0830", REVIEWS, "done", created=_at("08:30"), started=_at("08:31"),
        finished=_at("08:47"), inputs=200, success=197, fails=3, lines=1830, pages=210,
    )  # fmt: skip
    sim.add_job(
        "j_reviews_0857", REVIEWS, "running", created=_at("08:57"), started=_at("08:58"),
        inputs=200, success=60, fails=1, lines=540, pages=64, pages_left=140,
    )  # fmt: skip
    sim.add_job(
        "j_serp_0805", SERP, "done", created=_at("08:05"), started=_at("08:06"),
        finished=_at("08:24"), inputs=300, success=300, lines=3000, pages=300,
    )  # fmt: skip
    sim.add_job("j_serp_0810", SERP, "queued", created=_at("08:10"), inputs=250)


def _reviews_drop(sim: BrightDataSimulator) -> None:
    sim.update_job(
        "j_reviews_0857", status="done", finished=_at("09:03"), success=142, fails=58, lines=1278,
        pages=205, pages_left=0,
        errors=_errors(
            "https://www.google.com/maps/place/demo-",
            [("Timeout waiting for selector div.review-list", 8), ("Blocked: captcha page", 4)],
        ),
    )  # fmt: skip
    sim.update_job("j_products_0855", success=350, lines=350, pages=370, pages_left=130)
    sim.add_job(
        "j_serp_0902", SERP, "running", created=_at("09:02"), started=_at("09:02"), inputs=90,
        success=5, fails=20, lines=5, pages=25, pages_left=65,
    )  # fmt: skip


def _serp_job_fails(sim: BrightDataSimulator) -> None:
    sim.update_job(
        "j_serp_0902", status="failed", finished=_at("09:08"), success=6, fails=84, lines=6,
        pages=90, pages_left=0,
        errors=_errors(
            "https://www.bing.com/search?q=demo+",
            [("Proxy error: net::ERR_TUNNEL_CONNECTION_FAILED", 9), ("HTTP 403 from target", 3)],
        ),
    )  # fmt: skip
    sim.update_job(
        "j_products_0855", status="done", finished=_at("09:07"), success=497, fails=3,
        lines=497, pages=505, pages_left=0,
    )  # fmt: skip
    sim.add_job(
        "j_reviews_0906", REVIEWS, "running", created=_at("09:06"), started=_at("09:06"),
        inputs=200, success=40, lines=360, pages=42, pages_left=158,
    )  # fmt: skip


def _serp_reruns(sim: BrightDataSimulator) -> list[str]:
    """The jobs the monitor started by rerunning j_serp_0902's failed inputs (the simulator
    names them; one, when the rerun happened once)."""
    return sim.reruns_of("j_serp_0902")


def _job_stuck_in_queue(sim: BrightDataSimulator) -> None:
    sim.update_job(
        "j_reviews_0906", status="done", finished=_at("09:13"), success=150, fails=50,
        lines=1350, pages=204, pages_left=0,
    )  # fmt: skip
    for rerun in _serp_reruns(sim):
        sim.update_job(rerun, status="running", started=_at("09:11"), success=30, lines=30)
    sim.add_job(
        "j_products_0912", PRODUCTS, "running", created=_at("09:12"), started=_at("09:12"),
        inputs=800, success=100, lines=100, pages=104, pages_left=696,
    )  # fmt: skip


def _reviews_recover(sim: BrightDataSimulator) -> None:
    sim.add_job(
        "j_reviews_0916", REVIEWS, "done", created=_at("09:16"), started=_at("09:16"),
        finished=_at("09:19"), inputs=200, success=199, fails=1, lines=1790, pages=201,
    )  # fmt: skip
    sim.update_job("j_serp_0810", status="running", started=_at("09:18"), success=20, lines=200)
    sim.update_job(
        "j_products_0912", status="done", finished=_at("09:19"), success=800, lines=800,
        pages=812, pages_left=0,
    )  # fmt: skip


def _serp_recovers(sim: BrightDataSimulator) -> None:
    sim.add_job(
        "j_serp_0921", SERP, "done", created=_at("09:21"), started=_at("09:21"),
        finished=_at("09:24"), inputs=120, success=119, fails=1, lines=1190, pages=121,
    )  # fmt: skip
    sim.update_job(
        "j_serp_0810", status="done", finished=_at("09:24"), success=250, lines=2500, pages=250,
    )  # fmt: skip
    for rerun in _serp_reruns(sim):
        sim.update_job(
            rerun, status="done", finished=_at("09:22"), success=80, fails=4, lines=80, pages=84,
        )  # fmt: skip


def _listings_output_drops(sim: BrightDataSimulator) -> None:
    sim.add_job(
        "j_listings_0920", LISTINGS, "done", created=_at("09:20"), started=_at("09:21"),
        finished=_at("09:28"), inputs=400, success=398, fails=2, lines=470, pages=402,
    )  # fmt: skip


def _prices_start_again(sim: BrightDataSimulator) -> None:
    sim.add_job(
        "j_prices_0933", PRICES, "running", created=_at("09:33"), started=_at("09:33"),
        inputs=400, success=90, lines=90, pages=92, pages_left=308,
    )  # fmt: skip


@dataclass(frozen=True)
class Step:
    caption: str
    act: Callable[[BrightDataSimulator], None]
    expect: Expected = ()


SCENARIO: tuple[Step, ...] = (
    Step(
        "monitoring starts: 5 collectors, healthy jobs, one job waiting in the queue",
        _monitoring_starts,
    ),
    Step(
        "Google reviews: j_reviews_0857 ends with only 71% of its inputs scraped",
        _reviews_drop,
        (("ALARM", "success_rate_below_min"),),
    ),
    Step(
        "Bing SERP: j_serp_0902 fails, its failed inputs are rerun (opted in); Amazon products "
        "finishes a healthy job",
        _serp_job_fails,
        (("JOB", "job_failed"), ("ALARM", "success_rate_below_min"), ("JOB", "rerun")),
    ),
    Step(
        "Bing SERP: j_serp_0810 queued for 1 h 5 min; "
        "Google reviews still low (alarm already open)",
        _job_stuck_in_queue,
        (("JOB", "stuck_queued"),),
    ),
    Step(
        "Google reviews: the next job scrapes 99.5% of its inputs; j_serp_0810 starts; Walmart "
        "prices has started no job since 08:00",
        _reviews_recover,
        (("RESOLVED", "success_rate_below_min"), ("ALARM", "collector_silent")),
    ),
    Step(
        "Bing SERP: a new job succeeds and the rerun of j_serp_0902 settles",
        _serp_recovers,
        (("RESOLVED", "success_rate_below_min"), ("JOB", "rerun")),
    ),
    Step(
        "Zillow listings: j_listings_0920 returns a fifth of its usual output",
        _listings_output_drops,
        (("JOB", "output_below_baseline"),),
    ),
    Step(
        "Walmart prices: a job starts again",
        _prices_start_again,
        (("RESOLVED", "collector_silent"),),
    ),
)
IDLE_STEP = Step("nothing new happens", lambda sim: None)


# ---- output ------------------------------------------------------------------------------------
class Palette:
    """ANSI styles for a terminal; plain text when piped or NO_COLOR is set."""

    CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "cyan": "36",
    }

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO, environ: Mapping[str, str]) -> Palette:
        return cls(stream.isatty() and not environ.get("NO_COLOR"))

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(self.CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def for_document(self, document: Mapping[str, Any]) -> str:
        if document.get("kind") in ("RESOLVED", "RECOVERED"):
            return "green"
        return {"critical": "red", "warning": "yellow"}.get(str(document.get("severity")), "cyan")


_SLACK_LINK = re.compile(r"<([^|<>]+)\|([^<>]*)>")


def slack_text(mrkdwn: str) -> str:
    """Slack mrkdwn as a terminal shows it: links as their text, entities decoded."""
    text = _SLACK_LINK.sub(r"\2", mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_lines(payload: Mapping[str, Any]) -> list[str]:
    """A compact rendering of a Slack post: the header, then each section's and context's text."""
    lines: list[str] = []
    for block in payload.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(str(block["text"]["text"]))
        elif kind == "section":
            lines += slack_text(str(block["text"]["text"])).splitlines()
        elif kind == "context":
            lines += [slack_text(str(element.get("text", ""))) for element in block["elements"]]
    if not lines:
        lines = slack_text(str(payload.get("text", ""))).splitlines()
    return lines


class Printer:
    def __init__(self, out: TextIO, palette: Palette, quiet: bool) -> None:
        self.out = out
        self.paint = palette
        self.quiet = quiet
        self._status_shown = False

    def line(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def status(self, text: str) -> None:
        """A transient line in a terminal (replaced by the next output)."""
        if self.quiet or not self.paint.enabled:
            return
        self.out.write("\r\033[K" + self.paint(text, "dim"))
        self.out.flush()
        self._status_shown = True

    def clear_status(self) -> None:
        if self._status_shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._status_shown = False

    def block(self, label: str, title: str, body: Sequence[str], colour: str) -> None:
        self.line(f"  {self.paint(label, 'bold', colour)}  {self.paint(title, 'bold')}")
        for text in body:
            self.line(f"     {self.paint('│', 'dim')} {text}".rstrip())


# ---- delivery ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotifierContext:
    """The part of a Lambda context the idempotency layer reads: the time left to deliver."""

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Delivered:
    """What the topic delivered in one run, and where it went."""

    messages: list[dict[str, Any]] = field(default_factory=list)  # the unfiltered subscription
    emails: int = 0
    slack_posts: int = 0

    def entries(self) -> list[tuple[str, str]]:
        return sorted(
            (str(e["kind"]), str(e["rule"]))
            for message in self.messages
            for e in json.loads(message["Message"])["entries"]
        )


class Deliverer:
    """Reads what the topic delivered to its subscriptions and passes it on as production does:
    the email subscription's messages as an email reads, the Slack ones through the notifier."""

    def __init__(
        self,
        stack: LocalStack,
        sink: SlackSink,
        client: SlackClient,
        once: OncePerMessage,
        printer: Printer,
        alerts_out: IO[str] | None,
    ) -> None:
        self.stack = stack
        self.sink = sink
        self.client = client
        self.once = once
        self.printer = printer
        self.alerts_out = alerts_out
        self.first_record: dict[str, Any] | None = None

    @classmethod
    def for_services(
        cls, services: Services, printer: Printer, alerts_out: IO[str] | None
    ) -> Deliverer:
        """A deliverer with the Slack notifier's parts as the notifier function builds them:
        a Slack client, and its once-per-SNS-message idempotency on the state table."""
        from job_alerts import factory
        from job_alerts.slack import OncePerMessage, SlackClient

        once = OncePerMessage(
            services.stack.table_name, dynamodb_client=factory.aws_client("dynamodb")
        )
        once.register_lambda_context(NotifierContext())
        client = SlackClient(budget_seconds=10.0)
        return cls(services.stack, services.sink, client, once, printer, alerts_out)

    def deliver(self, run: int) -> Delivered:
        from job_alerts.alerts import render_email
        from job_alerts.slack import deliver_sns_event

        result = Delivered(messages=self.stack.drain("all"))
        emailed = {e["MessageId"]: e for e in self.stack.drain("email")}
        to_slack = {e["MessageId"]: e for e in self.stack.drain("slack")}
        result.messages.sort(key=lambda e: str(e.get("Timestamp", "")))
        paint = self.printer.paint
        for envelope in result.messages:
            document = json.loads(envelope["Message"])
            colour = paint.for_document(document)
            self._record(run, envelope, document)
            self.printer.line()
            email = emailed.get(envelope["MessageId"])
            if email is not None:
                # The SQS subscription gets the `default` document; an email subscriber gets
                # the `email` body the publisher renders from it with this same function.
                body = render_email(json.loads(email["Message"])).rstrip("\n").splitlines()
                self.printer.block("email", f"Subject: {email['Subject']}", body, colour)
                result.emails += 1
            else:
                severity = document.get("severity")
                self.printer.line(
                    f"  {paint('email', 'bold', 'dim')}  "
                    + paint(
                        f"not sent: {severity} is below the subscription's filter "
                        f"(EmailMinSeverity={EMAIL_MIN_SEVERITY})",
                        "dim",
                    )
                )
            slack = to_slack.get(envelope["MessageId"])
            if slack is None:
                continue
            record = lambda_sns_record(slack, f"{self.stack.topic_arn}:slack")
            self.first_record = self.first_record or record
            before = len(self.sink.posts)
            deliver_sns_event([record], self.sink.url, client=self.client, once=self.once)
            for payload in self.sink.posts[before:]:
                lines = slack_lines(payload)
                self.printer.block("slack", lines[0] if lines else "", lines[1:], colour)
                result.slack_posts += 1
        return result

    def redeliver_first(self) -> int:
        """SNS delivers at least once: hand the notifier a message again, as a retry would.
        Returns how many duplicates it skipped (1 when the idempotency works)."""
        from job_alerts.slack import deliver_sns_event

        if self.first_record is None:
            return 0
        report = deliver_sns_event(
            [self.first_record], self.sink.url, client=self.client, once=self.once
        )
        return len(report.duplicates)

    def _record(self, run: int, envelope: Mapping[str, Any], document: Any) -> None:
        if self.alerts_out is None:
            return
        line = {
            "run": run,
            "message_id": envelope["MessageId"],
            "subject": envelope.get("Subject"),
            "attributes": {
                name: value.get("Value")
                for name, value in (envelope.get("MessageAttributes") or {}).items()
            },
            "document": document,
        }
        self.alerts_out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        self.alerts_out.flush()


# ---- the demo ----------------------------------------------------------------------------------
@dataclass
class Totals:
    runs: int = 0
    jobs_read: int = 0
    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    emails: int = 0
    slack_posts: int = 0
    duplicates_skipped: int = 0
    api_calls: Counter[str] = field(default_factory=Counter)
    state_ops: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, summary: RunSummary, delivered: Delivered) -> None:
        self.runs += 1
        self.jobs_read += summary.jobs_read
        self.sent += summary.alerts_sent
        self.suppressed += summary.alerts_suppressed
        self.failed += summary.alerts_failed
        self.emails += delivered.emails
        self.slack_posts += delivered.slack_posts
        self.api_calls.update(summary.api_calls.get("requests", {}))
        self.state_ops.update(summary.state_ops)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.demo",
        description=(
            "Run the job-alerts monitor locally: moto server (DynamoDB, SNS, SQS) provisioned from "
            "template.yaml, a Bright Data API simulator playing a scenario, and a Slack sink. "
            "Prints every email and Slack message the alerts became. No AWS account needed."
        ),
        epilog='Through make: make demo ARGS="--runs 3 --quiet"',
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="read this Bright Data API (e.g. https://api.brightdata.com) instead of the "
        "simulator; the token comes from BRIGHTDATA_API_TOKEN; no scenario, real time",
    )
    parser.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help=f"monitor runs (default: the scenario's {len(SCENARIO)}; 1 with --api-url)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        metavar="S",
        help="real seconds between runs (default: 0 with the simulator, whose clock jumps 5 "
        f"minutes per run; {REAL_INTERVAL_SECONDS:g} with --api-url)",
    )
    parser.add_argument(
        "--alerts-out",
        metavar="FILE",
        help="write every delivered SNS message as one JSON line (subject, attributes, document)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.interval is not None and args.interval < 0:
        parser.error("--interval must be >= 0")
    if args.api_url and not os.environ.get("BRIGHTDATA_API_TOKEN", "").strip():
        parser.error("--api-url needs the API token in the environment: BRIGHTDATA_API_TOKEN")
    return args


def prepare_environment(args: argparse.Namespace, stack: LocalStack, api_url: str) -> None:
    """The monitor's configuration, as the template would set it (this process is the demo)."""
    for name in AWS_OVERRIDES:
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")]:
        os.environ.pop(name)
    os.environ.update(stack.env())
    os.environ["BRIGHTDATA_API_URL"] = api_url
    if not args.api_url:
        for name in SCENARIO_CLEARED:
            os.environ.pop(name, None)
        os.environ.update(SCENARIO_SETTINGS)
        os.environ.update(RERUN_OPT_IN)
        os.environ["BRIGHTDATA_API_TOKEN"] = SIM_TOKEN


def quiet_powertools() -> None:
    """Quiet Powertools: its settings must be in the environment before job_alerts is imported."""
    os.environ.update(QUIET_POWERTOOLS)
    import logging

    from job_alerts.observability import logger

    # Warnings the monitor logs go to stderr, so stdout shows only the demo.
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.stream = sys.stderr
    logger.setLevel(logging.WARNING)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does, so every local server is stopped on the way out."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class Services:
    """The local stand-ins one demo runs against, started and provisioned."""

    moto: MotoServer
    sim: BrightDataSimulator | None  # None against a real API (--api-url)
    sink: SlackSink
    stack: LocalStack
    api_url: str


def start_services(
    resources: contextlib.ExitStack[Any], args: argparse.Namespace, clock: ManualClock
) -> Services:
    """Start moto server, the simulator (unless --api-url) and the Slack sink, each stopped when
    `resources` closes, and provision the stack from template.yaml."""
    moto = resources.enter_context(MotoServer())
    sim: BrightDataSimulator | None = None
    if not args.api_url:
        sim = resources.enter_context(BrightDataSimulator(token=SIM_TOKEN, clock=clock))
    sink = resources.enter_context(SlackSink())
    stack = provision(moto.url, parameters={"EmailMinSeverity": EMAIL_MIN_SEVERITY})
    api_url = args.api_url or (sim.url if sim else "")
    return Services(moto, sim, sink, stack, api_url)


def print_header(printer: Printer, services: Services, cfg: Settings) -> None:
    """Where everything runs, and every setting that shapes what the runs alert on."""
    sim, stack = services.sim, services.stack
    printer.line(printer.paint("job-alerts demo", "bold"))
    api = (
        f"Bright Data simulator {sim.url.split('//')[1]}"
        if sim
        else f"Bright Data API {services.api_url}"
    )
    printer.line(
        f"local services: moto {services.moto.url.split('//')[1]} · {api} · "
        f"Slack sink {services.sink.url.split('/')[2]}"
    )
    printer.line(
        f"provisioned from template.yaml: table {stack.table_name}, topic "
        f"{stack.topic_arn.rsplit(':', 1)[1]}, "
        f"subscriptions email ({EMAIL_MIN_SEVERITY} and up) and slack"
    )
    limits = cfg.env_thresholds
    printer.line(
        f"thresholds (the template defaults): success rate >= {percent(limits.min_success_rate)}, "
        f"queued <= {duration(limits.max_queue_minutes * 60)}, running <= "
        f"{duration(limits.max_run_minutes * 60)}, output lines >= {count(limits.min_lines)}"
    )
    printer.line(
        f"  and against each collector's own history: output >= "
        f"{_share(limits.min_lines_vs_median)} of its median, no new job for at most "
        f"{_factor(limits.max_silence_factor)} its usual interval"
    )
    printer.line(f"reruns of failed inputs: {_reruns(cfg, simulated=sim is not None)}")


def _reruns(cfg: Settings, *, simulated: bool) -> str:
    if not cfg.rerun_collectors:
        return "off (the default: no collector opted in)"
    named = ", ".join(
        f"{COLLECTOR_NAMES[cid]} ({cid})" if cid in COLLECTOR_NAMES else cid
        for cid in cfg.rerun_collectors
    )
    if simulated:
        return (
            f"off by default; this demo opts {named} in "
            f"(RerunCollectors={','.join(cfg.rerun_collectors)}) to show one"
        )
    return f"on for {named} (RERUN_COLLECTORS is set; each rerun spends Bright Data credits)"


def _share(value: float | None) -> str:
    return "-" if value is None else percent(value)


def _factor(value: float | None) -> str:
    return "-" if value is None else f"{value:g} x"


@dataclass
class Session:
    """One demo's runs: each plays its step on the simulator, runs the real monitor, and passes
    on what the topic delivered."""

    cfg: Settings
    services: Services
    clock: ManualClock
    printer: Printer
    deliverer: Deliverer
    totals: Totals = field(default_factory=Totals)

    def play(self, steps: Sequence[Step], interval: float) -> None:
        for run, step in enumerate(steps, start=1):
            if run > 1:
                self._wait(interval)
            self._run(run, len(steps), step)
        self.totals.duplicates_skipped = self.deliverer.redeliver_first()
        simulated = self.services.sim is not None
        if simulated and self.totals.slack_posts and self.totals.duplicates_skipped != 1:
            self.totals.problems.append("a redelivered SNS message was posted to Slack again")

    def _wait(self, interval: float) -> None:
        """Until the next run: simulated time jumps a run's interval; real time is waited."""
        if interval:
            time.sleep(interval)
        if self.services.sim is not None:
            self.clock.advance(seconds=RUN_EVERY.total_seconds())
        else:
            self.clock.set(system_clock())

    def _run(self, run: int, total_runs: int, step: Step) -> None:
        from job_alerts.models import HealthState
        from job_alerts.service import build_monitor

        sim, printer, paint = self.services.sim, self.printer, self.printer.paint
        if sim is not None:
            step.act(sim)
        printer.status(f"run {run}/{total_runs}: reading jobs …")
        summary = build_monitor(self.cfg, clock=self.clock).run()
        printer.clear_status()
        counts = f"{count(summary.jobs_read, 'job')} read, {count(summary.alerts_sent, 'alert')}"
        caption = step.caption if sim else ""
        printer.line()
        printer.line(
            paint(f"run {run}/{total_runs}: {counts}", "bold")
            + paint(f"  [{self.clock.now:%H:%M} UTC] {caption}".rstrip(), "dim")
        )
        if summary.health != HealthState.HEALTHY.value:
            printer.line(paint(f"  monitor health: {summary.health}", "yellow"))
        delivered = self.deliverer.deliver(run)
        self.totals.add(summary, delivered)
        if sim is not None:
            check_run(run, step, delivered, self.totals.problems)


def planned_steps(args: argparse.Namespace) -> list[Step]:
    """The scenario's steps (cut to --runs, or idle ones added), or idle runs against a real
    API."""
    steps = list(SCENARIO) if not args.api_url else []
    total_runs = args.runs or (len(steps) if steps else 1)
    return steps[:total_runs] + [IDLE_STEP] * max(0, total_runs - len(steps))


def run_interval(args: argparse.Namespace) -> float:
    if args.interval is not None:
        return float(args.interval)
    return REAL_INTERVAL_SECONDS if args.api_url else 0.0


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    started = time.monotonic()
    printer = Printer(out, Palette.for_stream(out, os.environ), args.quiet)
    # Simulated time: one clock for the simulator and the monitor. Against a real API the runs
    # happen now, so the clock follows the wall clock between runs.
    clock = ManualClock(system_clock() if args.api_url else T0)
    with contextlib.ExitStack() as resources:
        printer.status("starting moto server, Bright Data simulator and Slack sink …")
        try:
            services = start_services(resources, args, clock)
        finally:
            printer.clear_status()
        prepare_environment(args, services.stack, services.api_url)

        from job_alerts import factory

        cfg = factory.settings()
        print_header(printer, services, cfg)
        alerts_out = (
            resources.enter_context(open(args.alerts_out, "w", encoding="utf-8"))
            if args.alerts_out
            else None
        )
        deliverer = Deliverer.for_services(services, printer, alerts_out)
        session = Session(cfg, services, clock, printer, deliverer)
        session.play(planned_steps(args), run_interval(args))
        if not args.quiet:
            print(file=out)
        simulated = services.sim is not None
        elapsed = time.monotonic() - started
        print_summary(out, printer.paint, session.totals, clock, simulated, elapsed)
    for problem in session.totals.problems:
        print(f"demo check failed: {problem}", file=sys.stderr)
    return 1 if session.totals.problems else 0


def check_run(run: int, step: Step, delivered: Delivered, problems: list[str]) -> None:
    """The demo is also a smoke test: each run must publish exactly what its step expects."""
    got = delivered.entries()
    if got != sorted(step.expect):
        problems.append(f"run {run} published {got or 'nothing'}, expected {sorted(step.expect)}")
    if delivered.slack_posts != len(delivered.messages):
        problems.append(
            f"run {run}: {len(delivered.messages)} messages but {delivered.slack_posts} Slack posts"
        )


def print_summary(
    out: TextIO, paint: Palette, totals: Totals, clock: ManualClock, simulated: bool, seconds: float
) -> None:
    def row(label: str, value: str) -> None:
        print(f"  {label:<16} {value}", file=out)

    print(paint("summary", "bold"), file=out)
    if simulated and totals.runs > 1:
        first = clock.now - RUN_EVERY * (totals.runs - 1)
        when = f"simulated {first:%H:%M} to {clock.now:%H:%M} UTC, {duration(RUN_EVERY)} apart"
    elif simulated:
        when = f"simulated {clock.now:%H:%M} UTC"
    else:
        when = "real time"
    row("runs", f"{totals.runs} ({when}) in {duration(seconds)}")
    row("jobs read", str(totals.jobs_read))
    row(
        "alerts",
        f"{totals.sent} published, {totals.suppressed} suppressed, {totals.failed} failed",
    )
    redelivered = (
        "; a redelivered SNS message was not posted twice" if totals.duplicates_skipped else ""
    )
    row(
        "delivered",
        f"{count(totals.emails, 'email')}, {count(totals.slack_posts, 'Slack post')}" + redelivered,
    )
    calls = ", ".join(f"{endpoint} {n}" for endpoint, n in sorted(totals.api_calls.items()))
    row("Bright Data API", f"{sum(totals.api_calls.values())} calls ({calls or 'none'})")
    ops = totals.state_ops
    row(
        "DynamoDB",
        f"{ops['reads']} reads, {ops['writes']} writes ({ops['items_written']} items), "
        "by the monitor",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_powertools()
    # Alerts hold non-ASCII text; a terminal or pipe that cannot show it gets "?" instead.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")
    try:
        with stop_on_sigterm():
            return run_demo(args, sys.stdout)
    except KeyboardInterrupt:
        print("\ninterrupted: local services stopped", file=sys.stderr)
        return 130
    except PortUnavailableError as exc:
        print(f"demo: {exc}; free that port or run the demo again", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
