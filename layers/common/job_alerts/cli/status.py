"""`job-alerts status`: what is red right now. The monitor's health and last run, open alarms per
collector, live job problems (stuck after an alert, unreadable), silences, override ids no listed
collector has, live jobs and unsent alerts; with --stack also the Slack dead-letter queue and the
stack's CloudWatch alarms. Exit 0 when nothing is open, 1 when something is."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import dead_letter_depth, load_deployment, stack_alarms
from job_alerts.cli.output import EXIT_FINDINGS, EXIT_OK, print_json, safe
from job_alerts.text import count, duration, moment

if TYPE_CHECKING:
    from job_alerts.cli.app import AddCommand
    from job_alerts.config import Settings
    from job_alerts.status import JobProblem, OpenAlarm, StateStatus

STATUS_SCHEMA_VERSION = 1
# Job problems listed, red first (a busy account can have many; the counts say how many).
JOB_PROBLEMS_SHOWN = 20


def register(command: AddCommand) -> None:
    status = command(
        "status",
        cmd_status,
        "Show what is red now: monitor health and last run, open alarms per collector, live "
        "jobs still stuck after their alert or unreadable, silences, live jobs and unsent "
        "alerts (with --stack also the Slack dead-letter queue and the stack's CloudWatch "
        "alarms). Exit 0 when nothing is open, 1 when an alarm is open, a job problem is red "
        "or the monitor is degraded.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON document")


def cmd_status(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.status import read_status

    deployment = load_deployment(args)
    cfg = deployment.settings
    state = read_status(factory.state_store(cfg), factory.clock()(), watched=cfg.collectors)
    unknown, unread = unknown_overrides(cfg, state)
    stack: dict[str, Any] | None = None
    if deployment.stack:
        stack = {
            "name": deployment.stack,
            "slack_dead_letter_queue": dead_letter_depth(deployment.outputs),
            "alarms": stack_alarms(deployment.stack),
        }
    document = status_document(state, stack, unknown_overrides=unknown)
    if args.json:
        print_json(document)
    else:
        _print_status(state, stack, document["open"], (unknown, unread))
    return EXIT_FINDINGS if document["open"] else EXIT_OK


def unknown_overrides(
    cfg: Settings, state: StateStatus
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The override document's collector ids that match no collector the monitor stored from its
    listings (status asks Bright Data nothing), each with the listed ids it may have meant. None
    when that cannot be told: with why when the document could not be read, without when the
    monitor has stored no collector yet."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    from job_alerts import factory
    from job_alerts.config import ConfigError
    from job_alerts.thresholds import similar_collector_ids, unknown_override_ids

    try:
        overrides = factory.load_overrides(cfg)
    except (ConfigError, GetParameterError, BotoCoreError, ClientError) as exc:
        return None, f"the override document could not be read ({safe(exc)})"
    if overrides is None or not overrides.collectors:
        return [], None
    listed = state.listed_collectors
    if listed is None:
        return None, None
    return [
        {"collector_id": cid, "did_you_mean": similar_collector_ids(cid, listed)}
        for cid in unknown_override_ids(overrides, listed)
    ], None


def status_document(
    state: StateStatus,
    stack: dict[str, Any] | None,
    *,
    unknown_overrides: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The `--json` document (its shape is documented in the README)."""
    from job_alerts.timeutil import iso

    stack_alarms_open = [a for a in (stack or {}).get("alarms", []) if a["state"] == "ALARM"]
    is_open = state.open_alarms or state.red_job_problems or state.monitor.degraded
    return {
        "schema_version": STATUS_SCHEMA_VERSION,
        "checked_at": iso(state.checked_at),
        "open": bool(is_open or stack_alarms_open),
        "monitor": state.monitor.to_dict(),
        "open_alarms": [alarm.to_dict() for alarm in state.open_alarms],
        "job_problems": [p.to_dict() for p in state.job_problems[:JOB_PROBLEMS_SHOWN]],
        "job_problems_total": len(state.job_problems),
        "job_problems_red": state.red_job_problems,
        "silences": [silence.to_dict() for silence in state.silences],
        "unknown_overrides": unknown_overrides,
        "jobs": {"live": state.live_jobs, "live_by_source": dict(state.live_jobs_by_source)},
        "unsent_alerts": [alert.to_dict() for alert in state.unsent],
        "stack": stack,
    }


def _measure(alarm: OpenAlarm) -> str | None:
    from job_alerts.alerts import AlertEntry, AlertKind
    from job_alerts.alerts.wording import measure
    from job_alerts.rules import Severity

    if alarm.observed is None or alarm.limit is None:
        return None
    entry = AlertEntry(
        AlertKind.ALARM,
        alarm.rule,
        Severity(alarm.severity or "warning"),
        "",
        observed=alarm.observed,
        limit=alarm.limit,
    )
    return measure(entry)


def _print_monitor(state: StateStatus) -> None:
    monitor = state.monitor
    if monitor.degraded:
        print(f"Monitor: DEGRADED ({monitor.state}) since {moment(monitor.since)}")
        if monitor.detail:
            print(f"  {safe(monitor.detail)}")
    else:
        print("Monitor: healthy")
    run = monitor.last_run
    if run is None:
        print("  last run: none recorded yet")
        return
    took = f" in {duration(run.duration_ms / 1000)}" if run.duration_ms is not None else ""
    outcome = {"ok": "ok", "alerts_failed": "some alerts could not be published"}.get(
        run.outcome, run.outcome
    )
    print(f"  last run: {moment(run.finished_at)}, {outcome}{took}")
    if run.detail:
        print(f"  {safe(run.detail)}")


def _print_alarms(state: StateStatus) -> None:
    if not state.open_alarms:
        print("Open alarms: none")
        return
    print(f"Open alarms ({len(state.open_alarms)}):")
    for alarm in state.open_alarms:
        name = f" ({safe(alarm.collector_name, 60)})" if alarm.collector_name else ""
        print(
            f"  {alarm.collector_id}{name}  {alarm.rule}  {alarm.state} since {moment(alarm.since)}"
        )
        measured = _measure(alarm)
        details = [measured] if measured else []
        if alarm.latest_job:
            details.append(f"latest job {safe(alarm.latest_job, 80)}")
        if details:
            print(f"    {' · '.join(details)}")


def _job_problem_line(problem: JobProblem) -> str:
    line = (
        f"  {safe(problem.job_id, 80)}  {safe(problem.collector_id or '?', 80)}  "
        f"{problem.problem}  {'RED' if problem.red else 'not red yet'}"
    )
    if problem.since is None:
        return f"{line}  {safe(problem.detail)}"
    took = f", for {duration(problem.for_minutes * 60)}" if problem.for_minutes else ""
    return f"{line} since {moment(problem.since)}{took}\n    {safe(problem.detail)}"


def _print_job_problems(state: StateStatus) -> None:
    problems = state.job_problems
    if not problems:
        print("Job problems: none")
        return
    print(f"Job problems ({len(problems)}, {state.red_job_problems} red):")
    for problem in problems[:JOB_PROBLEMS_SHOWN]:
        print(_job_problem_line(problem))
    if len(problems) > JOB_PROBLEMS_SHOWN:
        print(f"  … and {len(problems) - JOB_PROBLEMS_SHOWN} more")


def _print_stack(stack: dict[str, Any]) -> None:
    queue = stack["slack_dead_letter_queue"]
    if queue is None:
        print("Slack dead-letter queue: none (the stack has no Slack notifier)")
    else:
        print(f"Slack dead-letter queue: {count(queue['messages'], 'message')}")
    alarms = stack["alarms"]
    print(f"CloudWatch alarms of stack {safe(stack['name'], 128)} ({len(alarms)}):")
    for alarm in alarms:
        print(f"  {alarm['state'] or '?':<17} {safe(alarm['name'], 200)}")


def _print_unknown_overrides(
    state: StateStatus, unknown: list[dict[str, Any]] | None, unread: str | None
) -> None:
    """Said only when there is something to say: limits that judge no job, or an unreadable
    override document."""
    if unread is not None:
        print(f"Overrides: {unread}")
    if not unknown:
        return
    listed = state.listed_collectors or {}
    print(f"Overrides for collectors the monitor has not listed ({len(unknown)}):")
    for entry in unknown:
        meant = " or ".join(
            f"{cid} ({safe(listed.get(cid, cid), 60)})" for cid in entry["did_you_mean"]
        )
        print(f"  {entry['collector_id']}" + (f"  did you mean {meant}?" if meant else ""))
    collectors = count(len(listed), "collector")
    print(
        f"  Their limits judge no job: none of the {collectors} the monitor stored from its "
        "listings has these ids (status calls no Bright Data)."
    )


def _print_status(
    state: StateStatus,
    stack: dict[str, Any] | None,
    is_open: bool,
    overrides: tuple[list[dict[str, Any]] | None, str | None],
) -> None:
    _print_monitor(state)
    _print_alarms(state)
    _print_job_problems(state)
    if state.silences:
        print(f"Silences ({len(state.silences)}):")
        for silence in state.silences:
            by = f" (by {safe(silence.created_by, 80)})" if silence.created_by else ""
            print(
                f"  {silence.collector_id} until {moment(silence.until)}: "
                f"{safe(silence.reason, 200)}{by}"
            )
    else:
        print("Silences: none")
    _print_unknown_overrides(state, *overrides)
    sources = ", ".join(f"{n} {src}" for src, n in sorted(state.live_jobs_by_source.items()))
    print(f"Live jobs: {state.live_jobs}" + (f" ({sources})" if sources else ""))
    print(f"Unsent alerts: {len(state.unsent)}")
    for alert in state.unsent:
        print(f"  {moment(alert.created_at)}  {safe(alert.subject or alert.alert_id)}")
    if stack is not None:
        _print_stack(stack)
    print()
    print("Something is open (exit 1)." if is_open else "Nothing is open.")
