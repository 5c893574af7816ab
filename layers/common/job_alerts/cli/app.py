"""The parser of `job-alerts` and its entry point: global options, one sub-command per module,
exit codes and the translation of operational failures into one-line errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from job_alerts.cli import check, limits, operate, status, thresholds
from job_alerts.cli.output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    PROG,
    cli_logging,
    error,
    operational_error,
    retry_progress_on_stderr,
)

Handler = Callable[[argparse.Namespace], int]
AddCommand = Callable[[str, Handler, str], Any]


def _add_global_options(parser: argparse.ArgumentParser, *, in_command: bool) -> None:
    # The same options are accepted before and after the command; in a command they default to
    # SUPPRESS so an option given before the command is not reset by the command's parser.
    default: Any = argparse.SUPPRESS if in_command else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--stack",
        metavar="NAME",
        default=default,
        help="use what this CloudFormation stack deployed: its table and topic, and the "
        "monitor's thresholds, override document and token parameter",
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
        description="Operate Bright Data job alerts: see what is red, check jobs, run the "
        "monitor, silence collectors, read the alert history. Configuration comes from the "
        "environment "
        "(BRIGHTDATA_API_TOKEN, TABLE_NAME, TOPIC_ARN, thresholds ...) or --stack.",
        epilog="Exit codes: 0 ok, 1 findings (check), failed alerts (run) or something open "
        "(status), "
        "2 usage/configuration error or something could not be read.",
    )
    _add_global_options(parser, in_command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text)
        _add_global_options(sub, in_command=True)
        sub.set_defaults(handler=handler)
        return sub

    status.register(command)
    check.register(command)
    limits.register(
        thresholds.register(command), lambda sub: _add_global_options(sub, in_command=True)
    )
    operate.register_run(command)
    operate.register_silences(command)
    operate.register_test_alert(command)
    return parser


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

    handler: Handler = args.handler
    with cli_logging(args.verbose), retry_progress_on_stderr():
        try:
            return handler(args)
        except ConfigError as exc:
            return error(str(exc))
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except Exception as exc:
            message = operational_error(exc)
            if message is None:
                raise
            return error(message)
