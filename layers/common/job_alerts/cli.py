"""The operator command line `job-alerts` (also `python -m job_alerts`): check jobs now, show
thresholds, run the monitor once, track jobs, silence collectors, list history, test delivery."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

# Only the standard library at import time: `job-alerts --help` must stay instant, and each
# command imports what it needs (boto3, urllib3, powertools) when it runs.
if TYPE_CHECKING:
    from job_alerts.config import Settings
    from job_alerts.rules import Finding
    from job_alerts.thresholds import EffectiveThresholds

__all__ = ["main", "parse_duration"]

PROG = "job-alerts"
EXIT_OK = 0
EXIT_FINDINGS = 1  # check: a job breached a rule; run: an alert could not be published
EXIT_ERROR = 2  # usage or configuration error, or something could not be read or written
EXIT_INTERRUPTED = 130

MAX_SILENCE = timedelta(days=30)
MAX_REASON_CHARS = 500
MAX_NAME_CHARS = 200
MAX_HISTORY = 1000
# CloudFormation outputs of template.yaml that the CLI reads with --stack.
STACK_OUTPUT_TABLE = "StateTableName"
STACK_OUTPUT_TOPIC = "AlertTopicArn"
TEST_MESSAGE = "This is a test alert from job-alerts: if you can read it, delivery works."

_DURATION = re.compile(r"(?:(?P<d>\d{1,5})d)?(?:(?P<h>\d{1,6})h)?(?:(?P<m>\d{1,8})m)?")
_DURATION_HINT = "expected a duration like 30m, 2h, 1d or 1h30m"
# Anything a terminal could interpret (escape sequences, bells, carriage returns).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


# ---- argument values --------------------------------------------------------------------------
def _preview(text: str, limit: int = 40) -> str:
    shown = ascii(text[:limit])
    return shown + (f"... ({len(text)} chars)" if len(text) > limit else "")


def parse_duration(text: str, *, maximum: timedelta | None = None) -> timedelta:
    """`30m`, `2h`, `1d`, `1h30m` (days, hours, minutes, in that order) as a timedelta > 0."""
    cleaned = text.strip().lower()
    match = _DURATION.fullmatch(cleaned) if cleaned else None
    if match is None:
        raise ValueError(f"invalid duration {_preview(text)}: {_DURATION_HINT}")
    parts = {unit: int(value or 0) for unit, value in match.groupdict().items()}
    duration = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"])
    if duration <= timedelta(0):
        raise ValueError(f"invalid duration {_preview(text)}: it must be longer than zero")
    if maximum is not None and duration > maximum:
        raise ValueError(
            f"duration {_preview(text)} is too long: at most {_show_duration(maximum)}"
        )
    return duration


def _show_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    shown = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return shown or "0m"


def _argument(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Turn a converter's ValueError into an argparse usage error carrying its message."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def _silence_duration(text: str) -> timedelta:
    return parse_duration(text, maximum=MAX_SILENCE)


def _collector_id(text: str) -> str:
    from job_alerts.brightdata import validate_collector_id

    return validate_collector_id(text)


def _since(text: str) -> timedelta | datetime:
    with contextlib.suppress(ValueError):
        return parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid --since {_preview(text)}: expected a duration (30m, 2h, 7d) "
            "or an ISO date/time (2026-01-31 or 2026-01-31T08:00:00Z)"
        ) from None
    # A time without zone is taken as UTC, the zone every stored time uses.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _limit(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_HISTORY:
        raise ValueError(f"invalid --limit {_preview(text)}: expected 1 to {MAX_HISTORY}")
    return int(text)


def _bounded_text(what: str, limit: int) -> Callable[[str], str]:
    def text_value(text: str) -> str:
        cleaned = _CONTROL.sub(" ", text).strip()
        if not cleaned:
            raise ValueError(f"{what} must not be empty")
        if len(cleaned) > limit:
            raise ValueError(f"{what} is too long ({len(cleaned)} characters, at most {limit})")
        return cleaned

    text_value.__name__ = what
    return text_value


# ---- parser -----------------------------------------------------------------------------------
def _add_global_options(parser: argparse.ArgumentParser, *, in_command: bool) -> None:
    # The same options are accepted before and after the command; in a command they default to
    # SUPPRESS so an option given before the command is not reset by the command's parser.
    default: Any = argparse.SUPPRESS if in_command else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--stack",
        metavar="NAME",
        default=default,
        help="read the table and topic from this CloudFormation stack's outputs",
    )
    group.add_argument(
        "--region", metavar="REGION", default=default, help="AWS region (default: from AWS config)"
    )
    group.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if in_command else False,
        help="show INFO logs on stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate Bright Data job alerts: check jobs, run the monitor, silence "
        "collectors, read the alert history. Configuration comes from the environment "
        "(BRIGHTDATA_API_TOKEN, TABLE_NAME, TOPIC_ARN, thresholds ...) or --stack.",
        epilog="Exit codes: 0 ok, 1 findings (check) or failed alerts (run), "
        "2 usage/configuration error or something could not be read.",
    )
    _add_global_options(parser, in_command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text)
        _add_global_options(sub, in_command=True)
        sub.set_defaults(handler=handler)
        return sub

    check = command(
        "check",
        cmd_check,
        "Read jobs from Bright Data now and judge them against their collector's thresholds "
        "(no AWS needed). Exit 1 when a job breaches a rule, 2 when a job cannot be read.",
    )
    check.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job ids (j_... or vj_...)")
    check.add_argument("--json", action="store_true", help="print a JSON array")
    check.add_argument(
        "--collector-thresholds",
        action="store_true",
        help="also show the thresholds each job was judged against, and their sources",
    )

    thresholds = command(
        "thresholds",
        cmd_thresholds,
        "Show the effective thresholds and where each value comes from "
        "(default, environment, overrides.default, overrides.collectors.<id>).",
    )
    thresholds.add_argument(
        "--collector", type=_argument(_collector_id), metavar="ID", help="collector id (c_...)"
    )
    thresholds.add_argument("--json", action="store_true", help="print JSON")

    run = command(
        "run",
        cmd_run,
        "Run the monitor once, exactly as the scheduled Lambda does. Exit 1 when an alert "
        "could not be published.",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="judge and print the alerts that would be sent; write and send nothing",
    )
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")

    track = command(
        "track",
        cmd_track,
        "Hand jobs to the monitor: the next run reads them. Nothing is written when any id "
        "is invalid.",
    )
    track.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job ids (j_... or vj_...)")

    silence = command(
        "silence",
        cmd_silence,
        "Silence a collector: its alerts are recorded as SUPPRESSED, not sent.",
    )
    silence.add_argument("collector_id", type=_argument(_collector_id), metavar="COLLECTOR_ID")
    silence.add_argument(
        "--for",
        dest="duration",
        required=True,
        type=_argument(_silence_duration),
        metavar="DURATION",
        help=f"how long: 30m, 2h, 1d, 1h30m (at most {_show_duration(MAX_SILENCE)})",
    )
    silence.add_argument(
        "--reason",
        required=True,
        type=_argument(_bounded_text("reason", MAX_REASON_CHARS)),
        metavar="TEXT",
        help="why (kept with the suppressed alerts)",
    )

    unsilence = command("unsilence", cmd_unsilence, "End a collector's silence.")
    unsilence.add_argument("collector_id", type=_argument(_collector_id), metavar="COLLECTOR_ID")

    history = command("history", cmd_history, "List recorded alerts, newest first.")
    history.add_argument(
        "--collector", type=_argument(_collector_id), metavar="ID", help="only this collector"
    )
    history.add_argument(
        "--since",
        type=_argument(_since),
        metavar="DURATION_OR_ISO",
        help="only alerts since then: a duration back from now (7d) or an ISO date/time",
    )
    history.add_argument(
        "--limit", type=_argument(_limit), default=20, metavar="N", help="at most N (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print a JSON array")

    test_alert = command(
        "test-alert",
        cmd_test_alert,
        "Publish a clearly marked test alert to the alert topic, to check delivery.",
    )
    test_alert.add_argument(
        "--severity",
        choices=("critical", "warning", "info"),
        default="info",
        help="severity of the test alert (default info); filters may route by it",
    )
    test_alert.add_argument(
        "--collector-name",
        type=_argument(_bounded_text("collector name", MAX_NAME_CHARS)),
        metavar="NAME",
        help="collector name shown in the test alert",
    )
    return parser


# ---- shared plumbing --------------------------------------------------------------------------
def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment; with --stack, the table and topic from its outputs."""
    from job_alerts.config import Settings

    cfg = Settings.from_env()
    if args.stack:
        outputs = stack_outputs(args.stack)
        cfg = dataclasses.replace(
            cfg, table_name=outputs[STACK_OUTPUT_TABLE], topic_arn=outputs[STACK_OUTPUT_TOPIC]
        )
    return cfg


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    from job_alerts import factory
    from job_alerts.config import ConfigError

    try:
        stacks = factory.aws_client("cloudformation").describe_stacks(StackName=stack_name)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        raise ConfigError(f"--stack {_preview(stack_name, 128)}: {message}") from None
    found = stacks.get("Stacks") or []
    if not found:
        raise ConfigError(f"--stack {_preview(stack_name, 128)}: no such stack")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs") or []}
    missing = [key for key in (STACK_OUTPUT_TABLE, STACK_OUTPUT_TOPIC) if not outputs.get(key)]
    if missing:
        raise ConfigError(
            f"--stack {_preview(stack_name, 128)} has no output {', '.join(missing)}; "
            "is it a job-alerts stack?"
        )
    return outputs


def _safe(text: object, limit: int = 300) -> str:
    """Text from the API or the table, fit for a terminal: no control characters, bounded."""
    shown = _CONTROL.sub("?", str(text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@contextlib.contextmanager
def _cli_logging(verbose: bool) -> Iterator[None]:
    """Quiet by default: only warnings, and on stderr so stdout stays clean for --json. The
    logger is shared with the Lambda code, so its level and stream are restored afterwards."""
    import logging

    from job_alerts.observability import logger, metrics

    handler = logger.registered_handler
    old_level = logger.log_level
    stream_handler = handler if isinstance(handler, logging.StreamHandler) else None
    old_stream = stream_handler.stream if stream_handler else None
    if stream_handler is not None:
        # Assigned, not setStream(): that flushes the old stream, which may already be closed
        # (a test's captured stdout).
        stream_handler.stream = sys.stderr
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    # The monitor adds metrics as it runs; the CLI never flushes them (that would print EMF JSON
    # into stdout), and clearing keeps a long-lived process from auto-flushing at 100 values.
    metrics.clear_metrics()
    try:
        yield
    finally:
        metrics.clear_metrics()
        logger.setLevel(old_level)
        if stream_handler is not None:
            stream_handler.stream = old_stream


def _operational_error(exc: BaseException) -> str | None:
    """A one-line message for failures an operator can act on; None for programming errors."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    from job_alerts.brightdata import BrightDataError
    from job_alerts.models import StateError
    from job_alerts.publish import PublishError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "AWS call")
        return f"{operation} failed: {error.get('Code', 'error')}: {error.get('Message', '')}"
    if isinstance(exc, GetParameterError):
        # Powertools wraps the AWS error; its text names the parameter, never its value.
        return f"reading an SSM parameter failed: {exc}"
    if isinstance(exc, BotoCoreError | PublishError | StateError | BrightDataError):
        return str(exc)
    return None


# ---- check ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class JobCheck:
    """The verdict on one job read now."""

    job_id: str
    verdict: str  # ok | alert | pending | error
    collector: str | None = None
    status: str | None = None
    settled: bool | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    thresholds: EffectiveThresholds | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "collector": self.collector,
            "status": self.status,
            "settled": self.settled,
            "verdict": self.verdict,
            "findings": [
                {
                    "rule": f.rule.value,
                    "severity": f.severity.value,
                    "observed": f.observed,
                    "limit": f.limit,
                    "message": f.message,
                }
                for f in self.findings
            ],
            "error": self.error,
        }
        if self.thresholds is not None:
            data["thresholds"] = _thresholds_dict(self.thresholds)
        return data


def cmd_check(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from job_alerts import factory
    from job_alerts.brightdata import InvalidId, validate_job_id

    cfg = load_settings(args)
    judge_with = factory.thresholds_resolver(cfg)
    describe = _threshold_describer(cfg) if args.collector_thresholds else None
    requested = list(dict.fromkeys(args.job_ids))
    checks: dict[str, JobCheck] = {}
    valid: list[str] = []
    for raw in requested:
        try:
            valid.append(validate_job_id(raw))
        except InvalidId as exc:
            checks[raw] = JobCheck(job_id=raw, verdict="error", error=str(exc))
    if valid:
        client = factory.bright_data_client(cfg)
        now = factory.clock()()
        try:
            with ThreadPoolExecutor(max_workers=min(len(valid), cfg.max_concurrency)) as pool:
                for result in pool.map(
                    lambda job_id: _check_job(client, job_id, judge_with, describe, now), valid
                ):
                    checks[result.job_id] = result
        finally:
            client.close()
    results = [checks[raw] for raw in requested]
    if args.json:
        _print_json([r.to_dict() for r in results])
    else:
        _print_checks(results)
    if any(r.verdict == "error" for r in results):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.findings for r in results) else EXIT_OK


def _check_job(
    client: Any,
    job_id: str,
    judge_with: Callable[[str | None], Any],
    describe: Callable[[str | None], EffectiveThresholds] | None,
    now: datetime,
) -> JobCheck:
    from job_alerts.brightdata import BrightDataError
    from job_alerts.joblog import JobLogError, parse_job_log
    from job_alerts.rules import evaluate

    try:
        job = parse_job_log(client.get_log(job_id), job_id=job_id)
    except BrightDataError as exc:
        return JobCheck(job_id=job_id, verdict="error", error=f"{exc.kind}: {exc}")
    except JobLogError as exc:
        return JobCheck(job_id=job_id, verdict="error", error=f"unreadable job log: {exc}")
    findings = tuple(evaluate(job, judge_with(job.collector_id), now))
    verdict = "alert" if findings else ("ok" if job.settled else "pending")
    return JobCheck(
        job_id=job_id,
        verdict=verdict,
        collector=job.collector_id,
        status=job.status.value,
        settled=job.settled,
        findings=findings,
        thresholds=describe(job.collector_id) if describe else None,
    )


def _print_checks(results: Sequence[JobCheck]) -> None:
    for index, result in enumerate(results):
        if index:
            print()
        title = {
            "ok": "ok",
            "alert": f"ALERT ({len(result.findings)} finding{'s' * (len(result.findings) > 1)})",
            "pending": "pending (still running; judged again once it settles)",
            "error": "ERROR (could not be read)",
        }[result.verdict]
        print(f"{_safe(result.job_id, 80)}: {title}")
        if result.error is not None:
            print(f"  error:     {_safe(result.error)}")
            continue
        print(f"  collector: {_safe(result.collector or '-', 80)}")
        settled = "settled" if result.settled else "not settled"
        print(f"  status:    {_safe(result.status, 40)} ({settled})")
        for finding in result.findings:
            print(f"  [{finding.severity.value}] {finding.rule.value}: {_safe(finding.message)}")
        if result.thresholds is not None:
            print("  thresholds:")
            _print_threshold_rows(result.thresholds, indent="    ")
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("ok", "alert", "pending")}
    counts["error"] = sum(1 for r in results if r.verdict == "error")
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
    print(f"\n{len(results)} job{'s' * (len(results) != 1)}: {summary}")


# ---- thresholds -------------------------------------------------------------------------------
def _threshold_describer(cfg: Settings) -> Callable[[str | None], EffectiveThresholds]:
    from job_alerts import factory
    from job_alerts.thresholds import effective

    overrides = factory.load_overrides(cfg)
    env = (cfg.env_thresholds, cfg.env_threshold_names)
    return lambda collector_id: effective(collector_id, env, overrides)


def _thresholds_dict(eff: EffectiveThresholds) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": value, "source": eff.sources[name]}
        for name, value in eff.values.to_dict().items()
    }


def _print_threshold_rows(eff: EffectiveThresholds, indent: str = "  ") -> None:
    for name, value in eff.values.to_dict().items():
        shown = "off" if value is None else f"{value:g}"
        print(f"{indent}{name:<18} {shown:<8} {eff.sources[name]}")


def cmd_thresholds(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.thresholds import effective

    cfg = load_settings(args)
    overrides = factory.load_overrides(cfg)
    eff = effective(args.collector, (cfg.env_thresholds, cfg.env_threshold_names), overrides)
    with_overrides = sorted(overrides.collectors) if overrides is not None else []
    if args.json:
        _print_json(
            {
                "collector": args.collector,
                "thresholds": _thresholds_dict(eff),
                "collectors_with_overrides": with_overrides,
            }
        )
        return EXIT_OK
    scope = f"collector {args.collector}" if args.collector else "any collector without overrides"
    print(f"Effective thresholds for {scope}:")
    print(f"  {'threshold':<18} {'value':<8} source")
    _print_threshold_rows(eff)
    if with_overrides and not args.collector:
        listed = ", ".join(with_overrides)
        print(f"\nCollectors with their own overrides (see --collector): {listed}")
    return EXIT_OK


# ---- run --------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from job_alerts import service

    cfg = load_settings(args)
    summary = service.run_once(cfg, dry_run=args.dry_run)
    if args.json:
        _print_json(summary.to_dict())
    else:
        _print_summary(summary)
    return EXIT_FINDINGS if summary.alerts_failed > 0 else EXIT_OK


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def _print_summary(summary: Any) -> None:
    from job_alerts.alerts import render_email, render_subject

    kind = "Dry run" if summary.dry_run else "Run"
    print(f"{kind} {summary.run_id}: {summary.duration_ms} ms, health {summary.health}")
    print(f"  collectors: {summary.collectors_seen} seen, {summary.collectors_listed} listed")
    print(
        f"  jobs:       {summary.jobs_discovered} discovered, {summary.live_jobs} live, "
        f"{summary.jobs_read} read, {summary.jobs_settled} settled, "
        f"{summary.jobs_deferred} deferred, {summary.jobs_expired} expired"
    )
    print(f"  read errors: {_counts(summary.read_errors)}")
    print(f"  findings:   {_counts(summary.findings)}")
    if summary.dry_run:
        print(f"  alerts:     {len(summary.alerts_planned)} would be sent (nothing written)")
    else:
        print(
            f"  alerts:     {summary.alerts_sent} sent, {summary.alerts_suppressed} suppressed, "
            f"{summary.alerts_failed} failed"
        )
    calls = summary.api_calls
    print(
        f"  API calls:  {calls.get('requests_total', 0)} "
        f"({_counts(calls.get('requests', {}))}), {calls.get('retries_total', 0)} retries, "
        f"{calls.get('errors_total', 0)} errors"
    )
    for document in summary.alerts_planned:
        print(f"\n--- would send: {_safe(render_subject(document))}")
        print(_CONTROL_BUT_NEWLINE.sub("?", render_email(document)), end="")


# ---- track, silence, unsilence, history -------------------------------------------------------
def cmd_track(args: argparse.Namespace) -> int:
    from job_alerts import factory, service
    from job_alerts.brightdata import InvalidId, validate_job_id

    ids: list[str] = []
    invalid = 0
    for raw in dict.fromkeys(args.job_ids):
        try:
            ids.append(validate_job_id(raw))
        except InvalidId as exc:
            invalid += 1
            print(f"{PROG}: error: {exc}", file=sys.stderr)
    if invalid:
        return _error(f"{invalid} invalid job id(s): nothing was tracked")
    cfg = load_settings(args)
    results = service.track_jobs(
        factory.state_store(cfg), ids, source="track", cfg=cfg, now=factory.clock()()
    )
    for job_id, outcome in results.items():
        note = "tracked: the next run reads it" if outcome == "tracked" else "already known"
        print(f"{job_id}: {note}")
    return EXIT_OK


def _created_by() -> str | None:
    import getpass

    try:
        return f"{getpass.getuser()} via {PROG}"
    except (KeyError, OSError, ImportError):
        return PROG


def cmd_silence(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.models import Silence

    cfg = load_settings(args)
    until = factory.clock()() + args.duration
    factory.state_store(cfg).silence(
        Silence(args.collector_id, until, args.reason, created_by=_created_by())
    )
    print(
        f"{args.collector_id} silenced for {_show_duration(args.duration)}, until {_time(until)}: "
        "its alerts are recorded as SUPPRESSED, not sent"
    )
    return EXIT_OK


def cmd_unsilence(args: argparse.Namespace) -> int:
    from job_alerts import factory

    cfg = load_settings(args)
    removed = factory.state_store(cfg).unsilence(args.collector_id)
    print(f"{args.collector_id}: " + ("silence ended" if removed else "was not silenced"))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from job_alerts import factory

    cfg = load_settings(args)
    since = args.since
    if isinstance(since, timedelta):
        since = factory.clock()() - since
    records = factory.state_store(cfg).history(
        since=since, collector_id=args.collector, limit=args.limit
    )
    if args.json:
        _print_json(
            [
                {
                    "alert_id": r.alert_id,
                    "created_at": r.created_at.isoformat(),
                    "status": r.status.value,
                    "severity": r.severity,
                    "collector_id": r.collector_id,
                    "subject": r.subject,
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                    "message_id": r.message_id,
                    "suppressed_reason": r.suppressed_reason,
                }
                for r in records
            ]
        )
        return EXIT_OK
    if not records:
        print("No alerts recorded" + (" for that selection." if args.collector or since else "."))
        return EXIT_OK
    for r in records:
        line = f"{_time(r.created_at)}  {r.status.value:<10}  {r.severity:<8}  {_safe(r.subject)}"
        if r.suppressed_reason:
            line += f"  ({_safe(r.suppressed_reason, 120)})"
        print(line)
    return EXIT_OK


# ---- test-alert -------------------------------------------------------------------------------
def cmd_test_alert(args: argparse.Namespace) -> int:
    import uuid

    from job_alerts import factory
    from job_alerts.alerts import Alert, AlertEntry, AlertKind, render_subject, to_document
    from job_alerts.rules import Severity

    cfg = load_settings(args)
    now = factory.clock()()
    alert = Alert(
        alert_id=f"test-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        collector_id=None,
        collector_name=args.collector_name,
        entries=(
            AlertEntry(
                kind=AlertKind.TEST,
                rule="test_alert",
                severity=Severity(args.severity),
                message=TEST_MESSAGE,
            ),
        ),
        jobs=(),
        affected_jobs=0,
        created_at=now,
        test=True,
    )
    document = to_document(alert)
    message_id = factory.publisher(cfg).publish(document)
    print(f"Test alert published: {render_subject(document)}")
    print(f"SNS MessageId: {message_id}")
    return EXIT_OK


# ---- entry point ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2): argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if args.region:
        import boto3

        # Every AWS client the commands create comes from boto3's default session.
        boto3.setup_default_session(region_name=args.region)

    from job_alerts.config import ConfigError

    handler: Callable[[argparse.Namespace], int] = args.handler
    with _cli_logging(args.verbose):
        try:
            return handler(args)
        except ConfigError as exc:
            return _error(str(exc))
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except Exception as exc:
            message = _operational_error(exc)
            if message is None:
                raise
            return _error(message)
