"""The commands that act on the monitor's state and topic: `run`, `track`, `silence`,
`unsilence`, `history` and `test-alert`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import load_settings
from job_alerts.cli.output import (
    CONTROL_BUT_NEWLINE,
    EXIT_FINDINGS,
    EXIT_OK,
    PROG,
    error,
    print_json,
    safe,
)
from job_alerts.cli.values import (
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    MAX_SILENCE,
    argument,
    bounded_text,
    collector_id,
    limit,
    silence_duration,
    since,
)
from job_alerts.text import count, duration, moment

if TYPE_CHECKING:
    from job_alerts.cli.app import AddCommand

TEST_MESSAGE = "This is a test alert from job-alerts: if you can read it, delivery works."


def register_run(command: AddCommand) -> None:
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


def register_silences(command: AddCommand) -> None:
    silence = command(
        "silence",
        cmd_silence,
        "Silence a collector: its alerts are recorded as SUPPRESSED, not sent.",
    )
    silence.add_argument("collector_id", type=argument(collector_id), metavar="COLLECTOR_ID")
    silence.add_argument(
        "--for",
        dest="duration",
        required=True,
        type=argument(silence_duration),
        metavar="DURATION",
        help=f"how long: 30m, 2h, 1d, 1h30m (at most {duration(MAX_SILENCE)})",
    )
    silence.add_argument(
        "--reason",
        required=True,
        type=argument(bounded_text("reason", MAX_REASON_CHARS)),
        metavar="TEXT",
        help="why (kept with the suppressed alerts)",
    )

    unsilence = command("unsilence", cmd_unsilence, "End a collector's silence.")
    unsilence.add_argument("collector_id", type=argument(collector_id), metavar="COLLECTOR_ID")

    history = command("history", cmd_history, "List recorded alerts, newest first.")
    history.add_argument(
        "--collector", type=argument(collector_id), metavar="ID", help="only this collector"
    )
    history.add_argument(
        "--since",
        type=argument(since),
        metavar="DURATION_OR_ISO",
        help="only alerts since then: a duration back from now (7d) or an ISO date/time",
    )
    history.add_argument(
        "--limit", type=argument(limit), default=20, metavar="N", help="at most N (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print a JSON array")


def register_test_alert(command: AddCommand) -> None:
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
        type=argument(bounded_text("collector name", MAX_NAME_CHARS)),
        metavar="NAME",
        help="collector name shown in the test alert",
    )


# ---- run --------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from job_alerts import service

    cfg = load_settings(args, judges=True)
    summary = service.run_once(cfg, dry_run=args.dry_run)
    if args.json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    return EXIT_FINDINGS if summary.alerts_failed > 0 else EXIT_OK


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def _print_summary(summary: Any) -> None:
    from job_alerts.alerts import render_email, render_subject

    kind = "Dry run" if summary.dry_run else "Run"
    took = duration(summary.duration_ms / 1000)
    print(f"{kind} {summary.run_id}: {took}, health {summary.health}")
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
        print(f"\n--- would send: {safe(render_subject(document))}")
        print(CONTROL_BUT_NEWLINE.sub("?", render_email(document)), end="")


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
        return error(f"{count(invalid, 'invalid job id')}: nothing was tracked")
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
        f"{args.collector_id} silenced for {duration(args.duration)}, "
        f"until {moment(until)}: its alerts are recorded as SUPPRESSED, not sent; an alarm "
        "that opens meanwhile and is still open when the silence ends is announced then"
    )
    return EXIT_OK


def cmd_unsilence(args: argparse.Namespace) -> int:
    from job_alerts import factory

    cfg = load_settings(args)
    removed = factory.state_store(cfg).unsilence(args.collector_id, factory.clock()())
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
        print_json(
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
        line = f"{moment(r.created_at)}  {r.status.value:<10}  {r.severity:<8}  {safe(r.subject)}"
        if r.suppressed_reason:
            line += f"  ({safe(r.suppressed_reason, 120)})"
        print(line)
    return EXIT_OK


# ---- test-alert -------------------------------------------------------------------------------
def cmd_test_alert(args: argparse.Namespace) -> int:
    import uuid

    from job_alerts import factory
    from job_alerts.alerts import Alert, AlertEntry, AlertKind, render_subject, to_document
    from job_alerts.config import Deployment
    from job_alerts.rules import Severity

    cfg = load_settings(args)
    now = factory.clock()()
    # The test alert names the deployment it goes out on, as the monitor's alerts do: with
    # --stack that stack (where its topic is), else the one the environment names, if any.
    deployment = Deployment.of_stack(args.stack, cfg.topic_arn) if args.stack else cfg.deployment
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
        deployment=deployment,
    )
    document = to_document(alert)
    message_id = factory.publisher(cfg).publish(document)
    print(f"Test alert published: {render_subject(document)}")
    print(f"SNS MessageId: {message_id}")
    return EXIT_OK
