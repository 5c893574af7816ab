"""`job-alerts thresholds`: the effective thresholds and where each value came from."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from job_alerts.cli.deployed import load_settings
from job_alerts.cli.output import EXIT_OK, print_json
from job_alerts.cli.values import argument, collector_id

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
        shown = "off" if value is None else f"{value:g}"
        print(f"{indent}{name:<18} {shown:<8} {eff.sources[name]}")


def cmd_thresholds(args: argparse.Namespace) -> int:
    from job_alerts import factory
    from job_alerts.thresholds import effective

    cfg = load_settings(args, judges=True)
    overrides = factory.load_overrides(cfg)
    eff = effective(args.collector, (cfg.env_thresholds, cfg.env_threshold_names), overrides)
    with_overrides = sorted(overrides.collectors) if overrides is not None else []
    if args.json:
        print_json(
            {
                "collector": args.collector,
                "thresholds": thresholds_dict(eff),
                "collectors_with_overrides": with_overrides,
            }
        )
        return EXIT_OK
    scope = f"collector {args.collector}" if args.collector else "any collector without overrides"
    print(f"Effective thresholds for {scope}:")
    print(f"  {'threshold':<18} {'value':<8} source")
    print_threshold_rows(eff)
    if with_overrides and not args.collector:
        listed = ", ".join(with_overrides)
        print(f"\nCollectors with their own overrides (see --collector): {listed}")
    return EXIT_OK
