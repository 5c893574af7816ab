"""`job-alerts check`: read jobs from Bright Data now and judge them (no AWS needed)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import load_settings
from job_alerts.cli.output import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, print_json, safe
from job_alerts.cli.thresholds import print_threshold_rows, threshold_describer, thresholds_dict

if TYPE_CHECKING:
    from job_alerts.cli.app import AddCommand
    from job_alerts.rules import Finding
    from job_alerts.thresholds import EffectiveThresholds


def register(command: AddCommand) -> None:
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
            data["thresholds"] = thresholds_dict(self.thresholds)
        return data


def cmd_check(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from job_alerts import factory
    from job_alerts.brightdata import InvalidId, validate_job_id

    cfg = load_settings(args, judges=True)
    judge_with = factory.thresholds_resolver(cfg)
    describe = threshold_describer(cfg) if args.collector_thresholds else None
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
        print_json([r.to_dict() for r in results])
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
        print(f"{safe(result.job_id, 80)}: {title}")
        if result.error is not None:
            print(f"  error:     {safe(result.error)}")
            continue
        print(f"  collector: {safe(result.collector or '-', 80)}")
        settled = "settled" if result.settled else "not settled"
        print(f"  status:    {safe(result.status, 40)} ({settled})")
        for finding in result.findings:
            print(f"  [{finding.severity.value}] {finding.rule.value}: {safe(finding.message)}")
        if result.thresholds is not None:
            print("  thresholds:")
            print_threshold_rows(result.thresholds, indent="    ")
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("ok", "alert", "pending")}
    counts["error"] = sum(1 for r in results if r.verdict == "error")
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
    print(f"\n{len(results)} job{'s' * (len(results) != 1)}: {summary}")
