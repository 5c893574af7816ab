"""The operator command line `job-alerts` (also `python -m job_alerts`): check jobs now, show
thresholds, run the monitor once, track jobs, silence collectors, list history, test delivery.

Only the standard library at import time: `job-alerts --help` must stay instant, and each command
imports what it needs (boto3, urllib3, powertools) when it runs."""

from job_alerts.cli.app import build_parser, main
from job_alerts.cli.operate import TEST_MESSAGE
from job_alerts.cli.output import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, PROG
from job_alerts.cli.values import MAX_SILENCE, parse_duration

__all__ = [
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "MAX_SILENCE",
    "PROG",
    "TEST_MESSAGE",
    "build_parser",
    "main",
    "parse_duration",
]
