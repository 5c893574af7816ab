"""Specs for job_alerts.thresholds: environment values, override documents, precedence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from job_alerts.rules import THRESHOLD_SPECS, Unit
from job_alerts.thresholds import (
    ENV_VARS,
    Overrides,
    Thresholds,
    ThresholdsError,
    effective,
    load_overrides_text,
    parse_overrides,
    thresholds_from_env,
)

NO_ENV: tuple[Thresholds, frozenset[str]] = (Thresholds(), frozenset())


def test_thresholds_defaults_are_the_catalogue_defaults_with_optional_rules_off() -> None:
    # Given / When: no configuration at all
    thresholds = Thresholds()
    # Then: each threshold has its catalogue default (README and template agree, see
    # test_catalogue), and the fail-ratio rule is off
    assert thresholds.to_dict() == {key: spec.default for key, spec in THRESHOLD_SPECS.items()}
    assert thresholds.min_success_rate == 0.9
    assert thresholds.max_fail_ratio is None


def test_thresholds_constructor_shows_rates_and_minutes_as_fractions_and_counts_as_whole() -> None:
    # Given whole numbers for every field
    thresholds = Thresholds(min_success_rate=1, max_queue_minutes=5, max_fails=3, min_lines=2)
    # When they are written out as `job-alerts thresholds --json` does
    written = {key: json.dumps(value) for key, value in thresholds.to_dict().items()}
    # Then rates and minutes read as numbers with a fraction, counts as whole numbers
    assert written["min_success_rate"] == "1.0"
    assert written["max_queue_minutes"] == "5.0"
    assert written["max_fails"] == "3"
    assert written["min_lines"] == "2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_success_rate", 1.5),
        ("min_success_rate", -0.1),
        ("max_fails", -1),
        ("max_fails", 1.5),
        ("max_fails", True),
        ("max_queue_minutes", 0),
        ("max_run_minutes", float("inf")),
        ("min_lines", None),
    ],
)
def test_thresholds_constructor_rejects_bad_values(field: str, value: Any) -> None:
    # When a Thresholds is built with an invalid value / Then the field is named
    with pytest.raises(ThresholdsError, match=f"^{field}: "):
        Thresholds(**{field: value})


# --- environment -------------------------------------------------------------------------


def test_thresholds_from_env_unset_gives_defaults_and_no_names() -> None:
    # Given an environment without threshold variables
    # When it is read
    values, names = thresholds_from_env({"UNRELATED": "1"})
    # Then nothing is marked as set by the environment
    assert values == Thresholds()
    assert names == frozenset()


# A valid value per unit, as text with stray whitespace, and what it reads as.
ENV_SAMPLES = {
    Unit.RATE: (" 0.75 ", 0.75),
    Unit.COUNT: ("3 ", 3),
    Unit.MINUTES: (" 90.5", 90.5),
    Unit.FACTOR: (" 2.5", 2.5),
    Unit.SWITCH: ("TRUE ", True),
}


def test_thresholds_from_env_reads_every_variable() -> None:
    # Given every variable of the catalogue set, with stray whitespace
    environ = {
        spec.env_var: ENV_SAMPLES[spec.unit][0]
        for spec in THRESHOLD_SPECS.values()
        if spec.env_var is not None
    }
    # When read
    values, names = thresholds_from_env(environ)
    # Then each value is parsed and reported as set (by field name); the settings made per
    # collector only keep their defaults
    assert values.to_dict() == {
        key: ENV_SAMPLES[spec.unit][1] if spec.env_var else spec.default
        for key, spec in THRESHOLD_SPECS.items()
    }
    assert names == frozenset(ENV_VARS)


@pytest.mark.parametrize("var", sorted(ENV_VARS.values()))
def test_thresholds_from_env_empty_value_means_unset(var: str) -> None:
    # Given a variable present but empty (SAM passes "" for unfilled parameters)
    values, names = thresholds_from_env({var: "  "})
    # Then the default stays (for MAX_FAIL_RATIO that is "rule off")
    assert values == Thresholds()
    assert names == frozenset()


@pytest.mark.parametrize(
    ("var", "text"),
    [
        ("MIN_SUCCESS_RATE", "1.01"),
        ("MIN_SUCCESS_RATE", "-0.5"),
        ("MIN_SUCCESS_RATE", "90%"),
        ("MIN_SUCCESS_RATE", "nan"),
        ("MAX_FAIL_RATIO", "2"),
        ("MAX_FAILS", "-1"),
        ("MAX_FAILS", "1.5"),
        ("MAX_FAILS", "20x"),
        ("MAX_FAILS", "true"),
        ("MAX_QUEUE_MINUTES", "0"),
        ("MAX_QUEUE_MINUTES", "inf"),
        ("MAX_RUN_MINUTES", "-5"),
        ("MIN_LINES", "many"),
    ],
)
def test_thresholds_from_env_bad_value_names_the_variable(var: str, text: str) -> None:
    # Given a malformed or out-of-range variable
    # When read / Then the error names the variable and shows the value
    with pytest.raises(ThresholdsError) as info:
        thresholds_from_env({var: text})
    assert info.value.path == var
    assert str(info.value).startswith(f"{var}: expected ")
    assert json.dumps(text) in str(info.value)


@pytest.mark.parametrize(
    ("var", "text", "expected"),
    [
        ("MIN_SUCCESS_RATE", "0", 0.0),
        ("MIN_SUCCESS_RATE", "1", 1.0),
        ("MAX_FAIL_RATIO", "0", 0.0),
        ("MAX_FAILS", "0", 0),
        ("MIN_LINES", "0", 0),
        ("MAX_QUEUE_MINUTES", "0.1", 0.1),
    ],
)
def test_thresholds_from_env_accepts_range_edges(var: str, text: str, expected: float) -> None:
    # Given a value exactly on the edge of its range / Then it is accepted
    values, _ = thresholds_from_env({var: text})
    field = next(name for name, env_var in ENV_VARS.items() if env_var == var)
    assert getattr(values, field) == expected


# --- override documents ------------------------------------------------------------------


def test_parse_overrides_accepts_full_document() -> None:
    # Given a document with default and per-collector scopes
    doc = {
        "default": {"min_success_rate": 0.8, "max_fail_ratio": 0.1},
        "collectors": {"c_abc": {"min_success_rate": 0.5, "max_fails": 20, "max_fail_ratio": None}},
    }
    # When parsed
    overrides = parse_overrides(doc)
    # Then both scopes are kept, null included (rule off for that collector)
    assert overrides.default == {"min_success_rate": 0.8, "max_fail_ratio": 0.1}
    assert overrides.collectors["c_abc"] == {
        "min_success_rate": 0.5,
        "max_fails": 20,
        "max_fail_ratio": None,
    }
    assert overrides.to_dict() == doc


@pytest.mark.parametrize("doc", [{}, {"default": {}}, {"collectors": {}}])
def test_parse_overrides_accepts_empty_scopes(doc: dict[str, Any]) -> None:
    assert parse_overrides(doc) == Overrides()


def test_parse_overrides_int_accepted_for_float_field() -> None:
    # Given whole numbers for rate and minute fields
    overrides = parse_overrides({"default": {"min_success_rate": 1, "max_run_minutes": 30}})
    # Then they are taken as floats
    assert overrides.default == {"min_success_rate": 1.0, "max_run_minutes": 30.0}


@pytest.mark.parametrize(
    ("doc", "expected_message"),
    [
        ([], "overrides: expected a JSON object, got []"),
        ({"defaults": {}}, 'overrides: unknown key "defaults" (did you mean "default"?)'),
        ({"colectors": {}}, 'overrides: unknown key "colectors" (did you mean "collectors"?)'),
        ({"default": []}, "default: expected an object of thresholds, got []"),
        ({"collectors": []}, "collectors: expected an object keyed by collector id, got []"),
        ({"collectors": {"c_abc": 5}}, "collectors.c_abc: expected an object of thresholds"),
        ({"collectors": {"abc": {}}}, 'collectors: invalid collector id "abc"'),
        ({"collectors": {"c_": {}}}, 'collectors: invalid collector id "c_"'),
        ({"collectors": {"c_a-b": {}}}, 'collectors: invalid collector id "c_a-b"'),
        ({"collectors": {"c_" + "a" * 65: {}}}, "collectors: invalid collector id"),
        (
            {"default": {"min_succes_rate": 0.5}},
            'default: unknown threshold "min_succes_rate" (did you mean "min_success_rate"?)',
        ),
        ({"default": {"banana": 1}}, 'default: unknown threshold "banana"; valid: '),
        (
            {"collectors": {"c_abc": {"max_fails": "20x"}}},
            'collectors.c_abc.max_fails: expected a whole number >= 0 or null, got "20x"',
        ),
        (
            {"collectors": {"c_abc": {"max_fails": "20"}}},
            'collectors.c_abc.max_fails: expected a whole number >= 0 or null, got "20"',
        ),
        (
            {"default": {"max_fails": -1}},
            "default.max_fails: expected a whole number >= 0 or null, got -1",
        ),
        (
            {"default": {"max_fails": 2.5}},
            "default.max_fails: expected a whole number >= 0 or null, got 2.5",
        ),
        (
            {"default": {"min_lines": None}},
            "default.min_lines: expected a whole number >= 0, got null",
        ),
        (
            {"default": {"min_lines": True}},
            "default.min_lines: expected a whole number >= 0, got true",
        ),
        (
            {"default": {"min_success_rate": True}},
            "default.min_success_rate: expected a number between 0 and 1, got true",
        ),
        (
            {"default": {"min_success_rate": 1.5}},
            "default.min_success_rate: expected a number between 0 and 1, got 1.5",
        ),
        (
            {"default": {"min_success_rate": "0.5"}},
            'default.min_success_rate: expected a number between 0 and 1, got "0.5"',
        ),
        (
            {"default": {"max_fail_ratio": -0.01}},
            "default.max_fail_ratio: expected a number between 0 and 1 or null, got -0.01",
        ),
        (
            {"default": {"max_queue_minutes": 0}},
            "default.max_queue_minutes: expected a number > 0, got 0",
        ),
        (
            {"default": {"max_run_minutes": -10}},
            "default.max_run_minutes: expected a number > 0, got -10",
        ),
        (
            {"default": {"max_run_minutes": [1]}},
            "default.max_run_minutes: expected a number > 0, got [1]",
        ),
    ],
)
def test_parse_overrides_rejects_bad_document_with_path(doc: Any, expected_message: str) -> None:
    # Given a document with one mistake
    # When parsed / Then the error starts with the path and says what is wrong
    with pytest.raises(ThresholdsError) as info:
        parse_overrides(doc)
    assert str(info.value).startswith(expected_message)


@pytest.mark.parametrize("collector_id", ["c_a", "c_m9im5n7v82p2y35la", "c_" + "Z" * 64, "c_x_1"])
def test_parse_overrides_accepts_valid_collector_ids(collector_id: str) -> None:
    assert collector_id in parse_overrides({"collectors": {collector_id: {}}}).collectors


def test_load_overrides_text_parses_json() -> None:
    # Given override JSON text
    text = '{"collectors": {"c_abc": {"min_success_rate": 0.5, "max_fails": 20}}}'
    # When loaded / Then it is the validated document
    assert load_overrides_text(text).collectors["c_abc"] == {
        "min_success_rate": 0.5,
        "max_fails": 20,
    }


@pytest.mark.parametrize("text", ["", "  \n"])
def test_load_overrides_text_blank_means_no_overrides(text: str) -> None:
    assert load_overrides_text(text) == Overrides()


@pytest.mark.parametrize(
    ("text", "expected_message"),
    [
        ("{not json", "overrides: invalid JSON at line 1 column 2"),
        ('{"default": {"max_fails": 1, "max_fails": 2}}', 'overrides: duplicate key "max_fails"'),
        ('{"default": {"min_success_rate": NaN}}', "overrides: NaN is not a valid"),
        ('{"default": {"max_run_minutes": Infinity}}', "overrides: Infinity is not a valid"),
        ("[1, 2]", "overrides: expected a JSON object"),
        ("null", "overrides: expected a JSON object, got null"),
    ],
)
def test_load_overrides_text_rejects_bad_json(text: str, expected_message: str) -> None:
    # Given text that is not a valid document / Then loading raises, never silently disables
    with pytest.raises(ThresholdsError) as info:
        load_overrides_text(text)
    assert str(info.value).startswith(expected_message)


# --- precedence ----------------------------------------------------------------------------


def test_effective_without_env_or_overrides_is_all_default() -> None:
    result = effective("c_abc", NO_ENV, None)
    assert result.values == Thresholds()
    assert set(result.sources.values()) == {"default"}
    assert set(result.sources) == set(THRESHOLD_SPECS)


def test_effective_precedence_default_env_overrides_default_collector() -> None:
    # Given each layer setting some fields, deeper layers overlapping shallower ones
    env = thresholds_from_env(
        {"MIN_SUCCESS_RATE": "0.8", "MAX_FAILS": "5", "MAX_QUEUE_MINUTES": "30"}
    )
    overrides = parse_overrides(
        {
            "default": {"max_fails": 10, "max_queue_minutes": 20},
            "collectors": {"c_abc": {"max_queue_minutes": 10}, "c_other": {"min_lines": 99}},
        }
    )
    # When merged for c_abc
    result = effective("c_abc", env, overrides)
    # Then each field comes from the deepest layer that set it
    assert result.values == Thresholds(
        min_success_rate=0.8, max_fails=10, max_queue_minutes=10, min_lines=1
    )
    set_by = {
        "min_success_rate": "environment",
        "max_fails": "overrides.default",
        "max_queue_minutes": "overrides.collectors.c_abc",
    }
    assert dict(result.sources) == {key: set_by.get(key, "default") for key in THRESHOLD_SPECS}


def test_effective_collector_null_turns_fail_ratio_off() -> None:
    # Given the environment enables the fail-ratio rule
    env = thresholds_from_env({"MAX_FAIL_RATIO": "0.2"})
    overrides = parse_overrides({"collectors": {"c_abc": {"max_fail_ratio": None}}})
    # When merged for the collector that nulls it, and for another one
    for_abc = effective("c_abc", env, overrides)
    for_other = effective("c_zzz", env, overrides)
    # Then it is off only for c_abc
    assert for_abc.values.max_fail_ratio is None
    assert for_abc.sources["max_fail_ratio"] == "overrides.collectors.c_abc"
    assert for_other.values.max_fail_ratio == 0.2
    assert for_other.sources["max_fail_ratio"] == "environment"


def test_effective_without_collector_id_uses_overrides_default_only() -> None:
    overrides = parse_overrides(
        {"default": {"min_lines": 5}, "collectors": {"c_abc": {"min_lines": 9}}}
    )
    result = effective(None, NO_ENV, overrides)
    assert result.values.min_lines == 5
    assert result.sources["min_lines"] == "overrides.default"


def test_effective_sources_are_read_only() -> None:
    result = effective("c_abc", NO_ENV, None)
    with pytest.raises(TypeError):
        result.sources["min_lines"] = "hacked"  # type: ignore[index]
