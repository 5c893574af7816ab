"""`job-alerts thresholds set|unset`: change one collector's limits in the override document
(the SSM parameter with --stack, THRESHOLDS_FILE locally) after validating them and showing the
difference; `set` writes limits only for a collector the account lists (or with --force);
`--what-if` replays the collector's recent settled jobs under the proposed limits instead of
writing anything."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import load_settings
from job_alerts.cli.output import EXIT_OK, PROG, error, print_json, safe
from job_alerts.cli.values import argument, collector_id
from job_alerts.text import count

if TYPE_CHECKING:
    from job_alerts.config import Settings
    from job_alerts.thresholds import EffectiveThresholds, Overrides

OFF_WORDS = ("off", "null", "none")
WHAT_IF_JOBS = 20
NO_DOCUMENT = (
    "no override document to write: locally set THRESHOLDS_FILE to a JSON file; for a "
    "stack, deploy it with ThresholdsParameterName=/job-alerts/thresholds and create that "
    "String parameter (content {})"
)


def threshold_key(text: str) -> str:
    from job_alerts.rules import THRESHOLD_SPECS

    key = text.strip()
    if key not in THRESHOLD_SPECS:
        match = difflib.get_close_matches(key, list(THRESHOLD_SPECS), n=1, cutoff=0.6)
        hint = f' (did you mean "{match[0]}"?)' if match else ""
        valid = ", ".join(THRESHOLD_SPECS)
        raise ValueError(f"unknown threshold {key[:40]!r}{hint}; valid: {valid}")
    return key


def assignment(text: str) -> tuple[str, Any]:
    """`min_success_rate=0.8`, `max_fails=20`, `max_fail_ratio=off`: a key and a JSON value
    (checked against the key's unit when the document is validated)."""
    import json

    key, sep, raw = text.partition("=")
    if not sep or not raw.strip():
        raise ValueError(f"expected KEY=VALUE (e.g. min_success_rate=0.8), got {text[:60]!r}")
    name = threshold_key(key)
    if raw.strip().lower() in OFF_WORDS:
        return name, None
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw.strip()


def register(thresholds: argparse.ArgumentParser, add_global: Any) -> None:
    actions = thresholds.add_subparsers(dest="change", metavar="{set,unset}", required=False)
    set_ = actions.add_parser(
        "set",
        help="set limits for one collector in the override document",
        description="Validate and write limits for one collector into the override document "
        "(the SSM parameter with --stack, THRESHOLDS_FILE locally), showing the difference. "
        "Values: numbers, or off/null to turn an optional rule off. The collector must be in "
        "the account's collectors listing (GET /dca/collectors_list), or --force given.",
    )
    set_.add_argument("assignments", nargs="+", type=argument(assignment), metavar="KEY=VALUE")
    set_.add_argument(
        "--force",
        action="store_true",
        help="write even when the account's collectors listing does not show the collector, "
        "or cannot be read (a warning says so)",
    )
    unset = actions.add_parser(
        "unset",
        help="remove one collector's own limits from the override document",
        description="Remove keys from one collector's overrides: it falls back to the "
        "document's default, the environment, or the built-in default.",
    )
    unset.add_argument("keys", nargs="+", type=argument(threshold_key), metavar="KEY")
    for sub in (set_, unset):
        sub.set_defaults(handler=cmd_change)
        add_global(sub)
        sub.add_argument(
            "--collector",
            required=True,
            type=argument(collector_id),
            metavar="ID",
            help="collector id (c_...)",
        )
        sub.add_argument(
            "--what-if",
            action="store_true",
            help="write nothing: replay the collector's recent settled jobs under the proposed "
            "limits and show which alerts would have fired, and which did",
        )
        sub.add_argument("--json", action="store_true", help="print JSON")


def _changed(current: Overrides | None, args: argparse.Namespace) -> Overrides:
    from job_alerts.config import ConfigError
    from job_alerts.thresholds import Overrides, ThresholdsError, parse_overrides

    document = (current or Overrides()).to_dict()
    scope = dict(document["collectors"].get(args.collector, {}))
    if args.change == "set":
        scope.update(dict(args.assignments))
    else:
        for key in args.keys:
            scope.pop(key, None)
    if scope:
        document["collectors"][args.collector] = scope
    else:
        document["collectors"].pop(args.collector, None)
    try:
        return parse_overrides(document)
    except ThresholdsError as exc:
        raise ConfigError(f"not changed: {exc}") from None


def _diff(before: EffectiveThresholds, after: EffectiveThresholds) -> list[dict[str, Any]]:
    rows = []
    for name, old in before.values.to_dict().items():
        new = getattr(after.values, name)
        if old != new or before.sources[name] != after.sources[name]:
            rows.append(
                {
                    "threshold": name,
                    "before": {"value": old, "source": before.sources[name]},
                    "after": {"value": new, "source": after.sources[name]},
                }
            )
    return rows


def cmd_change(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.config import ConfigError
    from job_alerts.thresholds import effective

    cfg = load_settings(args, judges=True)
    current = factory.load_overrides(cfg)
    proposed = _changed(current, args)
    env = (cfg.env_thresholds, cfg.env_threshold_names)
    before = effective(args.collector, env, current)
    after = effective(args.collector, env, proposed)
    diff = _diff(before, after)
    replay = _what_if(cfg, args.collector, before, after) if args.what_if else None
    written = None
    if not args.what_if and diff:
        if not (cfg.thresholds_file or cfg.thresholds_parameter):
            raise ConfigError(NO_DOCUMENT)
        # Only limits being set can judge nothing; unsetting a mistyped id's is the remedy.
        doubt = collector_doubt(cfg, args.collector) if args.change == "set" else None
        if doubt is not None and not args.force:
            return error(f"{doubt} Nothing written; pass --force to write it anyway.")
        written = _write(cfg, proposed)
        if doubt is not None:
            print(f"{PROG}: warning: {doubt} Written anyway (--force).", file=sys.stderr)
    if args.json:
        print_json(
            {"collector": args.collector, "diff": diff, "written_to": written, "what_if": replay}
        )
        return EXIT_OK
    _print_diff(args.collector, diff)
    if replay is not None:
        _print_replay(replay)
    elif written:
        print(f"Written to {written}; the monitor uses it from its next run (at most 5 min).")
    return EXIT_OK


def collector_doubt(cfg: Settings, collector: str) -> str | None:
    """Why `collector` may be none of the account's collectors (with the listed ones it may
    have meant), or that the listing could not be read to tell; None when the listing shows it.
    One GET /dca/collectors_list."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    from job_alerts.brightdata import BrightDataError
    from job_alerts.config import ConfigError
    from job_alerts.thresholds import similar_collector_ids

    try:
        listed = _collectors_listed(cfg)
    except (BrightDataError, ConfigError, GetParameterError, BotoCoreError, ClientError) as exc:
        return (
            f"whether {collector} is one of this account's collectors cannot be told: listing "
            f"them failed ({safe(exc)}); check the id."
        )
    if collector in listed:
        return None
    similar = similar_collector_ids(collector, listed)
    meant = " or ".join(f"{cid} ({safe(listed[cid], 60)})" for cid in similar)
    return (
        f"{collector} is not one of this account's collectors (GET /dca/collectors_list shows "
        f"{len(listed)}), so its limits would judge no job"
        + (f"; did you mean {meant}?" if similar else ".")
    )


def _collectors_listed(cfg: Settings) -> dict[str, str]:
    """id -> name of every collector the account lists."""
    from job_alerts import factory
    from job_alerts.ids import is_collector_id

    client = factory.bright_data_client(cfg)
    try:
        answer = client.list_collectors()
    finally:
        client.close()
    return {
        item["id"]: str(item.get("name") or item["id"])
        for item in answer
        if isinstance(item, dict) and is_collector_id(item.get("id"))
    }


def _write(cfg: Settings, proposed: Overrides) -> str:
    """Write the document where it is kept (cmd_change made sure there is such a place)."""
    import json
    from pathlib import Path

    from job_alerts import factory

    text = json.dumps(proposed.to_dict(), indent=2, sort_keys=True) + "\n"
    if cfg.thresholds_file:
        Path(cfg.thresholds_file).write_text(text, encoding="utf-8")
        return f"THRESHOLDS_FILE {cfg.thresholds_file}"
    factory.aws_client("ssm").put_parameter(
        Name=cfg.thresholds_parameter, Value=text, Type="String", Overwrite=True
    )
    return f"SSM parameter {cfg.thresholds_parameter}"


def _print_diff(collector: str, diff: Sequence[dict[str, Any]]) -> None:
    def shown(side: dict[str, Any]) -> str:
        value = "off" if side["value"] is None else f"{side['value']:g}"
        return f"{value} ({side['source']})"

    if not diff:
        print(f"Nothing changes for {collector}.")
        return
    print(f"Thresholds of {collector}:")
    for row in diff:
        print(f"  {row['threshold']:<18} {shown(row['before'])} -> {shown(row['after'])}")


def _what_if(
    cfg: Settings, collector: str, before: EffectiveThresholds, after: EffectiveThresholds
) -> list[dict[str, Any]]:
    """The collector's newest settled jobs (from Bright Data, as the monitor would read them),
    judged under both limits, beside the alerts the monitor recorded for them."""
    from job_alerts import factory
    from job_alerts.joblog import JobLogError, parse_job_log
    from job_alerts.rules import evaluate

    now = factory.clock()()
    client = factory.bright_data_client(cfg)
    try:
        listed = client.list_jobs(
            collector, (now - timedelta(days=cfg.lookback_days)).date(), now.date()
        )
        jobs = []
        for item in listed:
            job_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(job_id, str):
                continue
            try:
                job = parse_job_log(client.get_log(job_id), job_id=job_id)
            except JobLogError:
                continue
            if job.settled:
                jobs.append(job)
            if len(jobs) >= WHAT_IF_JOBS:
                break
    finally:
        client.close()
    alerted = _alerted_rules(cfg, collector)
    return [
        {
            "job_id": job.job_id,
            "fires_now": sorted(f.rule.value for f in evaluate(job, before.values, now)),
            "would_fire": sorted(f.rule.value for f in evaluate(job, after.values, now)),
            "alerted": sorted(alerted.get(job.job_id, ())),
        }
        for job in jobs
    ]


def _alerted_rules(cfg: Settings, collector: str) -> dict[str, set[str]]:
    """job id -> rules the monitor alerted (or suppressed) for it; empty without a table."""
    from job_alerts import factory

    if not cfg.table_name:
        return {}
    found: dict[str, set[str]] = {}
    for record in factory.state_store(cfg).history(collector_id=collector, limit=500):
        for entry in record.document.get("entries", []):
            if entry.get("kind") in ("ALARM", "JOB", "REMINDER"):
                for job_id in entry.get("job_ids") or []:
                    found.setdefault(job_id, set()).add(str(entry.get("rule")))
    return found


def _print_replay(replay: Sequence[dict[str, Any]]) -> None:
    replayed = count(len(replay), "recent settled job")
    print(f"\nWhat if (nothing written): {replayed} replayed")
    if not replay:
        return
    print(f"  {'job':<24} {'fires now':<28} {'would fire':<28} alerted")
    for row in replay:
        cells = [", ".join(row[k]) or "-" for k in ("fires_now", "would_fire", "alerted")]
        print(f"  {safe(row['job_id'], 24):<24} {cells[0]:<28} {cells[1]:<28} {cells[2]}")
    gained = sum(1 for r in replay if set(r["would_fire"]) - set(r["fires_now"]))
    lost = sum(1 for r in replay if set(r["fires_now"]) - set(r["would_fire"]))
    print(f"  {count(gained, 'job')} would raise more, {count(lost, 'job')} would raise less.")
