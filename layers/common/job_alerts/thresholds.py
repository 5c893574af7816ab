"""Alert thresholds: environment values, per-collector override documents and the precedence that
merges them into the thresholds one collector is judged against. Which thresholds exist, their
variables and defaults come from the rule catalogue (job_alerts.rules)."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from job_alerts.rules import THRESHOLD_SPECS, ThresholdSpec, Unit

__all__ = [
    "ENV_VARS",
    "EffectiveThresholds",
    "Overrides",
    "Thresholds",
    "ThresholdsError",
    "effective",
    "load_overrides_text",
    "parse_overrides",
    "similar_collector_ids",
    "thresholds_from_env",
    "unknown_override_ids",
]

ThresholdValue = float | int | bool | None

COLLECTOR_ID_PATTERN = re.compile(r"^c_[A-Za-z0-9_]{1,64}$")

# The environment's word for "this optional rule is off" (JSON documents use null).
OFF = "off"
SOURCE_DEFAULT = "default"
SOURCE_ENVIRONMENT = "environment"
SOURCE_OVERRIDES_DEFAULT = "overrides.default"
SOURCE_OVERRIDES_COLLECTOR_PREFIX = "overrides.collectors."


class ThresholdsError(ValueError):
    """A threshold value or override document is invalid; `path` names where (variable or
    document path) so an operator can fix it without reading code."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


_EXPECTED: Mapping[Unit, str] = MappingProxyType(
    {
        Unit.RATE: "a number between 0 and 1",
        Unit.COUNT: "a whole number >= 0",
        Unit.MINUTES: "a number > 0",
        Unit.FACTOR: "a number > 0",
        Unit.SWITCH: "true or false",
    }
)

ENV_VARS: Mapping[str, str] = MappingProxyType(
    {name: spec.env_var for name, spec in THRESHOLD_SPECS.items() if spec.env_var is not None}
)
"""Threshold field name -> environment variable that sets it (settings made per collector only
have none)."""


def _show(value: Any) -> str:
    """Render an offending value the way the operator wrote it (JSON), kept short."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(spec: ThresholdSpec) -> str:
    return _EXPECTED[spec.unit] + (" or null" if spec.optional else "")


def _check_value(path: str, spec: ThresholdSpec, value: Any) -> ThresholdValue:
    """Validate a typed value (document or constructor) and normalise ints to floats for
    rate/minute fields. Strings are refused here: only the environment carries text."""
    if value is None:
        if spec.optional:
            return None
        raise ThresholdsError(path, f"expected {_expected(spec)}, got null")
    if spec.unit is Unit.SWITCH:
        if not isinstance(value, bool):
            raise ThresholdsError(path, f"expected {_expected(spec)}, got {_show(value)}")
        return value
    # bool is an int subclass, but `true` for a limit is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdsError(path, f"expected {_expected(spec)}, got {_show(value)}")
    if spec.unit is Unit.COUNT:
        if isinstance(value, float) or value < 0:
            raise ThresholdsError(path, f"expected {_expected(spec)}, got {_show(value)}")
        return int(value)
    number = float(value)
    in_range = (
        0.0 <= number <= 1.0 if spec.unit is Unit.RATE else math.isfinite(number) and number > 0.0
    )
    if not in_range:
        raise ThresholdsError(path, f"expected {_expected(spec)}, got {_show(value)}")
    return number


def _default(name: str) -> Any:
    # Any: the catalogue holds each default as a ThresholdValue, the field below says which.
    return THRESHOLD_SPECS[name].default


@dataclass(frozen=True)
class Thresholds:
    """The limits one job is judged against, one field per threshold of the rule catalogue
    (defaults from there too). Validated on construction."""

    min_success_rate: float = _default("min_success_rate")
    max_fails: int | None = _default("max_fails")
    max_fail_ratio: float | None = _default("max_fail_ratio")
    max_queue_minutes: float = _default("max_queue_minutes")
    max_run_minutes: float = _default("max_run_minutes")
    min_lines: int = _default("min_lines")
    min_lines_vs_median: float | None = _default("min_lines_vs_median")
    max_silence_factor: float | None = _default("max_silence_factor")
    max_silence_minutes: float | None = _default("max_silence_minutes")
    rerun_failed_inputs: bool = _default("rerun_failed_inputs")
    max_reruns_per_day: int = _default("max_reruns_per_day")

    def __post_init__(self) -> None:
        for name, spec in THRESHOLD_SPECS.items():
            checked = _check_value(name, spec, getattr(self, name))
            # Frozen: normalising 1 -> 1.0 for float fields needs the escape hatch.
            object.__setattr__(self, name, checked)

    def to_dict(self) -> dict[str, ThresholdValue]:
        return {name: getattr(self, name) for name in THRESHOLD_SPECS}


def _parse_env_value(var: str, spec: ThresholdSpec, text: str) -> ThresholdValue:
    stripped = text.strip()
    problem = f"expected {_EXPECTED[spec.unit]}, got {_show(text)}"
    # An optional rule whose default is on is turned off from the template with "off".
    if spec.optional and stripped.lower() == OFF:
        return None
    if spec.unit is Unit.SWITCH:
        if stripped.lower() not in ("true", "false"):
            raise ThresholdsError(var, problem)
        return stripped.lower() == "true"
    if spec.unit is Unit.COUNT:
        if not re.fullmatch(r"[0-9]+", stripped):
            raise ThresholdsError(var, problem)
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        raise ThresholdsError(var, problem) from None
    if not math.isfinite(number):
        raise ThresholdsError(var, problem)
    try:
        return _check_value(var, spec, number)
    except ThresholdsError:
        # Show the text as written, not the float it became.
        raise ThresholdsError(var, problem) from None


def _build(values: Mapping[str, ThresholdValue]) -> Thresholds:
    # Keys come from THRESHOLD_SPECS and Thresholds.__post_init__ checks every value, so the
    # loose mapping type is safe to hand over.
    return Thresholds(**values)  # type: ignore[arg-type]


def thresholds_from_env(environ: Mapping[str, str]) -> tuple[Thresholds, frozenset[str]]:
    """Read the threshold variables. Returns the thresholds and the *field names* the
    environment set. Unset or empty variables keep the default (SAM passes "" for an
    unfilled parameter); for MAX_FAIL_RATIO the default is "rule off"."""
    values: dict[str, ThresholdValue] = {}
    for name, spec in THRESHOLD_SPECS.items():
        if spec.env_var is None:
            continue
        raw = environ.get(spec.env_var)
        if raw is None or not raw.strip():
            continue
        values[name] = _parse_env_value(spec.env_var, spec, raw)
    return _build(values), frozenset(values)


def _closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def _parse_scope(path: str, scope: Any) -> Mapping[str, ThresholdValue]:
    if not isinstance(scope, dict):
        raise ThresholdsError(path, f"expected an object of thresholds, got {_show(scope)}")
    parsed: dict[str, ThresholdValue] = {}
    for key, value in scope.items():
        spec = THRESHOLD_SPECS.get(key) if isinstance(key, str) else None
        if spec is None:
            hint = _closest(key, list(THRESHOLD_SPECS)) if isinstance(key, str) else ""
            raise ThresholdsError(
                path, f"unknown threshold {_show(key)}{hint}; valid: {', '.join(THRESHOLD_SPECS)}"
            )
        parsed[key] = _check_value(f"{path}.{key}", spec, value)
    return MappingProxyType(parsed)


@dataclass(frozen=True)
class Overrides:
    """A validated override document: partial thresholds for every collector and per
    collector id. A value of None (JSON null) turns a nullable rule off in that scope."""

    default: Mapping[str, ThresholdValue] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    collectors: Mapping[str, Mapping[str, ThresholdValue]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": dict(self.default),
            "collectors": {cid: dict(scope) for cid, scope in self.collectors.items()},
        }


_TOP_LEVEL_KEYS = ("default", "collectors")


def parse_overrides(doc: Any) -> Overrides:
    """Validate an already-decoded override document. Anything doubtful raises: a bad
    document must never quietly leave a collector unwatched."""
    if not isinstance(doc, dict):
        raise ThresholdsError("overrides", f"expected a JSON object, got {_show(doc)}")
    for key in doc:
        if key not in _TOP_LEVEL_KEYS:
            hint = _closest(key, list(_TOP_LEVEL_KEYS)) if isinstance(key, str) else ""
            raise ThresholdsError(
                "overrides",
                f"unknown key {_show(key)}{hint}; valid: {', '.join(_TOP_LEVEL_KEYS)}",
            )
    default = _parse_scope("default", doc.get("default", {}))
    collectors_doc = doc.get("collectors", {})
    if not isinstance(collectors_doc, dict):
        raise ThresholdsError(
            "collectors", f"expected an object keyed by collector id, got {_show(collectors_doc)}"
        )
    collectors: dict[str, Mapping[str, ThresholdValue]] = {}
    for collector_id, scope in collectors_doc.items():
        if not isinstance(collector_id, str) or not COLLECTOR_ID_PATTERN.fullmatch(collector_id):
            raise ThresholdsError(
                "collectors",
                f"invalid collector id {_show(collector_id)}; "
                "expected c_ followed by 1-64 letters, digits or underscores",
            )
        collectors[collector_id] = _parse_scope(f"collectors.{collector_id}", scope)
    return Overrides(default=default, collectors=MappingProxyType(collectors))


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last duplicate silently; an operator who wrote a key twice
    # should learn which value would have been ignored.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ThresholdsError("overrides", f"duplicate key {_show(key)}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ThresholdsError("overrides", f"{name} is not a valid threshold value")


def load_overrides_text(text: str) -> Overrides:
    """Decode and validate override JSON. Blank text means "no overrides"."""
    if not text.strip():
        return Overrides()
    try:
        doc = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise ThresholdsError(
            "overrides", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_overrides(doc)


@dataclass(frozen=True)
class EffectiveThresholds:
    """The merged thresholds for one collector and, per field, which layer set it."""

    values: Thresholds
    sources: Mapping[str, str] = field(hash=False)


def effective(
    collector_id: str | None,
    env: tuple[Thresholds, frozenset[str]],
    overrides: Overrides | None,
) -> EffectiveThresholds:
    """Merge: built-in default < environment < overrides.default < overrides.collectors.<id>."""
    env_values, env_names = env
    defaults = Thresholds()
    merged: dict[str, ThresholdValue] = defaults.to_dict()
    sources = dict.fromkeys(merged, SOURCE_DEFAULT)
    for name in env_names:
        merged[name] = getattr(env_values, name)
        sources[name] = SOURCE_ENVIRONMENT
    if overrides is not None:
        layers: list[tuple[str, Mapping[str, ThresholdValue]]] = [
            (SOURCE_OVERRIDES_DEFAULT, overrides.default)
        ]
        if collector_id is not None and collector_id in overrides.collectors:
            layers.append(
                (
                    SOURCE_OVERRIDES_COLLECTOR_PREFIX + collector_id,
                    overrides.collectors[collector_id],
                )
            )
        for source, scope in layers:
            for name, value in scope.items():
                merged[name] = value
                sources[name] = source
    return EffectiveThresholds(values=_build(merged), sources=MappingProxyType(sources))


def unknown_override_ids(
    overrides: Overrides | None, listed_ids: Collection[str]
) -> tuple[str, ...]:
    """The collector ids the override document has limits for that are not among `listed_ids`,
    sorted: limits that judge no job (a mistyped id, or a collector gone from the account)."""
    if overrides is None:
        return ()
    return tuple(sorted(cid for cid in overrides.collectors if cid not in listed_ids))


def similar_collector_ids(collector_id: str, listed: Mapping[str, str]) -> list[str]:
    """The listed collectors (id -> name) whose id or name is close to `collector_id`, closest
    first: what a mistyped id was probably meant to be."""
    # Names lower-cased, as an id typed from a name would be; ids first, so a name that reads
    # like another collector's id does not take its place.
    by_text: dict[str, str] = {}
    for cid in listed:
        by_text.setdefault(cid, cid)
    for cid, name in listed.items():
        by_text.setdefault(name.lower(), cid)
    matches = difflib.get_close_matches(collector_id, list(by_text), n=3, cutoff=0.6)
    return list(dict.fromkeys(by_text[match] for match in matches))
