"""`job-alerts thresholds`: the effective thresholds and where each value came from."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import load_settings
from job_alerts.cli.output import EXIT_OK, print_json
from job_alerts.cli.values import argument, collector_id
from job_alerts.text import count, duration, moment, number
from job_alerts.timeutil import parse_iso

if TYPE_CHECKING:
    from job_alerts.cli.app import AddCommand
    from job_alerts.config import Settings
    from job_alerts.thresholds import EffectiveThresholds


def register(command: AddCommand) -> Any:
    thresholds = command(
        "thresholds",
        cmd_thresholds,
        "Show the effective thresholds and where each value comes from "
        "(default, environment, overrides.default, overrides.collectors.<id>); "
        "`thresholds set` / `thresholds unset` change one collector's.",
    )
    thresholds.add_argument(
        "--collector", type=argument(collector_id), metavar="ID", help="collector id (c_...)"
    )
    thresholds.add_argument("--json", action="store_true", help="print JSON")
    return thresholds


def threshold_describer(cfg: Settings) -> Callable[[str | None], EffectiveThresholds]:
    from job_alerts import factory
    from job_alerts.thresholds import effective

    overrides = factory.load_overrides(cfg)
    env = (cfg.env_thresholds, cfg.env_threshold_names)
    return lambda collector_id: effective(collector_id, env, overrides)


def thresholds_dict(eff: EffectiveThresholds) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": value, "source": eff.sources[name]}
        for name, value in eff.values.to_dict().items()
    }


def print_threshold_rows(eff: EffectiveThresholds, indent: str = "  ") -> None:
    for name, value in eff.values.to_dict().items():
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        else:
            shown = "off" if value is None else f"{value:g}"
        print(f"{indent}{name:<18} {shown:<8} {eff.sources[name]}")


def learned_from_history(cfg: Settings, collector: str, eff: EffectiveThresholds) -> dict[str, Any]:
    """What the monitor learned of the collector (cadence, baseline) from the state table; a
    note instead when there is no table to read or it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from job_alerts import factory
    from job_alerts.history import History, learned
    from job_alerts.rules_history import silence_limit

    if not cfg.table_name:
        return {"note": "no state table configured (TABLE_NAME or --stack): nothing learned"}
    try:
        store = factory.state_store(cfg)
        meta = store.collector_meta().get(collector)
        baseline = store.baselines([collector])[collector]
    except (BotoCoreError, ClientError) as exc:
        return {"note": f"the state table could not be read: {type(exc).__name__}"}
    history = History(created=meta.created if meta else (), settled=baseline.settled)
    limit = silence_limit(history, eff.values)
    return learned(history, limit[0] if limit else None, eff.values.min_lines_vs_median)


def print_learned(found: dict[str, Any]) -> None:
    print("\nLearned from its history:")
    if "note" in found:
        print(f"  ({found['note']})")
        return
    cadence, baseline = found["cadence"], found["baseline"]
    if cadence is None:
        print(f"  cadence   not learned yet ({found['cadence_needs']} between launches)")
    else:
        last = moment(parse_iso(cadence["last_job_created"]))
        print(
            f"  cadence   a launch every {duration(cadence['interval_minutes'] * 60)} "
            f"(median of {count(cadence['intervals'], 'interval')} between launches; "
            f"last job created {last})"
        )
    if found["silent_after_minutes"] is not None:
        after = duration(found["silent_after_minutes"] * 60)
        print(f"  silence   alarms after {after} without a job")
    if baseline is None:
        print(f"  baseline  not judged yet ({found['baseline_needs']})")
    else:
        below = baseline["warns_below_lines"]
        warns = "; the rule is off" if below is None else f"; warns below {number(below)} lines"
        print(
            f"  baseline  median {number(baseline['median_lines'])} lines over "
            f"{count(len(baseline['jobs']), 'settled job')}{warns}"
        )


def cmd_thresholds(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.thresholds import effective

    cfg = load_settings(args, judges=True)
    overrides = factory.load_overrides(cfg)
    eff = effective(args.collector, (cfg.env_thresholds, cfg.env_threshold_names), overrides)
    with_overrides = sorted(overrides.collectors) if overrides is not None else []
    found = learned_from_history(cfg, args.collector, eff) if args.collector else None
    if args.json:
        document = {
            "collector": args.collector,
            "thresholds": thresholds_dict(eff),
            "collectors_with_overrides": with_overrides,
        }
        if found is not None:
            document["learned"] = found
        print_json(document)
        return EXIT_OK
    scope = f"collector {args.collector}" if args.collector else "any collector without overrides"
    print(f"Effective thresholds for {scope}:")
    print(f"  {'threshold':<18} {'value':<8} source")
    print_threshold_rows(eff)
    if found is not None:
        print_learned(found)
    if with_overrides and not args.collector:
        listed = ", ".join(with_overrides)
        print(f"\nCollectors with their own overrides (see --collector): {listed}")
    return EXIT_OK
