"""What every command shares: exit codes, terminal-safe text, JSON and error output, the quiet
logging of a CLI process, a line on stderr while a call waits to retry, and the one-line
messages for failures an operator can act on."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from job_alerts.cli.values import CONTROL
from job_alerts.text import duration, truncate

if TYPE_CHECKING:
    from job_alerts.http import RetryWait

PROG = "job-alerts"
EXIT_OK = 0
EXIT_FINDINGS = 1  # check: a job breached a rule; run: an alert could not be published
EXIT_ERROR = 2  # usage or configuration error, or something could not be read or written
EXIT_INTERRUPTED = 130

CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def safe(text: object, limit: int = 300) -> str:
    """Text from the API or the table, fit for a terminal: no control characters, bounded."""
    return truncate(CONTROL.sub("?", str(text)), limit)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_ERROR


@contextlib.contextmanager
def cli_logging(verbose: bool) -> Iterator[None]:
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


def retry_progress(wait: RetryWait) -> str:
    """One line saying why the command is quiet for a while: what failed, the wait, the attempt.
    Bright Data's paths (/dca/...) are shown; any other call is not named by its path, which may
    be a secret (a Slack webhook's is)."""
    if wait.path.startswith("/dca/"):
        call = f"{wait.method} {safe(wait.path, 120)}"
        if wait.status is not None:
            failure = f"Bright Data answered {wait.status} for {call}"
        else:
            failure = f"Bright Data did not answer {call} ({wait.reason})"
    elif wait.status is not None:
        failure = f"an HTTP call answered {wait.status}"
    else:
        failure = f"an HTTP call got no answer ({wait.reason})"
    of = f" of {wait.max_attempts}" if wait.max_attempts is not None else ""
    return f"{PROG}: {failure}; retrying in {duration(wait.delay)} (attempt {wait.attempt}{of})"


@contextlib.contextmanager
def retry_progress_on_stderr() -> Iterator[None]:
    """While the block runs, every retry wait of this process prints a line on stderr (stdout
    stays clean for --json). Only the CLI registers this: the Lambda functions print nothing
    (the monitor counts its retries in the run summary it logs through Powertools)."""
    from job_alerts.http import retry_waits_observed

    def show(wait: RetryWait) -> None:
        # One write per line: the monitor's threads may wait at the same time.
        sys.stderr.write(retry_progress(wait) + "\n")
        sys.stderr.flush()

    with retry_waits_observed(show):
        yield


def operational_error(exc: BaseException) -> str | None:
    """A one-line message for failures an operator can act on; None for programming errors."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    from job_alerts.brightdata import BrightDataError
    from job_alerts.cli.deployed import NO_REGION
    from job_alerts.models import StateError
    from job_alerts.publish import PublishError

    if isinstance(exc, NoRegionError):
        return NO_REGION
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
