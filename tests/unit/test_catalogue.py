"""The rule catalogue is the one source of a rule's facts: the code derived from it, template.yaml
and the README all tell the same story about every rule and threshold."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from job_alerts.history import History
from job_alerts.joblog import JobLog, JobStatus
from job_alerts.rules import (
    ACTIVITY_RULES,
    COLLECTOR_RULES,
    JOB_EVENT_RULES,
    RULE_SEVERITY,
    RULES,
    THRESHOLD_SPECS,
    Direction,
    Rule,
    RuleSpec,
    Scope,
    ThresholdSpec,
    Unit,
    spec_for,
    spec_named,
)
from job_alerts.thresholds import ENV_VARS, Thresholds, thresholds_from_env
from local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEMPLATE = load_template(ROOT / "template.yaml")
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)

THRESHOLD_RULES = [spec for spec in RULES.values() if spec.threshold is not None]
# Settings with a template parameter (some are made per collector only, in the override document).
PARAMETER_SPECS = [spec for spec in THRESHOLD_SPECS.values() if spec.parameter is not None]


def threshold_of(spec: RuleSpec) -> ThresholdSpec:
    assert spec.threshold is not None, f"{spec.rule} has no threshold"
    return spec.threshold


def markdown_rows(section_heading: str) -> list[list[str]]:
    """The body rows of the first table under `section_heading`, as stripped cells."""
    section = README.split(f"\n{section_heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def shown(value: float | int) -> str:
    """A default as the README writes it: 0.9, 60, 240."""
    return f"{value:g}"


# --- the catalogue itself ------------------------------------------------------------------


def test_catalogue_has_one_spec_per_rule_in_rule_order() -> None:
    # Given the catalogue / Then every Rule has exactly one spec, keyed by its own rule
    assert list(RULES) == list(Rule)
    assert all(spec.rule is rule for rule, spec in RULES.items())
    assert all(spec_for(rule) is RULES[rule] for rule in Rule)


@pytest.mark.parametrize("rule", list(Rule))
def test_catalogue_judge_answers_for_its_own_rule(rule: Rule) -> None:
    # Given a healthy settled job and the rule's default limit (or a limit for an optional one)
    spec = spec_for(rule)
    job = JobLog(
        job_id="j_ok",
        status=JobStatus.DONE,
        raw_status="done",
        inputs=10,
        success=10,
        fails=0,
        lines=10,
        success_rate=1.0,
        created=NOW,
        started=NOW,
        finished=NOW,
    )
    limit = None if spec.threshold is None else spec.threshold.default
    if spec.threshold is not None and limit is None:
        limit = 0.5
    # When its judge weighs the job (a collector-wide rule: a collector with no history yet)
    if spec.judge is None:
        assert spec.judge_activity is not None
        result = spec.judge_activity(History(), Thresholds(), NOW)
    else:
        result = spec.judge(job, limit, NOW, History())
    # Then the result is about this rule, and nothing is wrong
    assert result.rule is rule
    assert result.finding is None


def test_catalogue_derives_scopes_and_severities() -> None:
    # Given the specs / Then the rule sets and severities the monitor imports follow from them
    assert {r for r, s in RULES.items() if s.scope is Scope.JOB_EVENT} == JOB_EVENT_RULES
    assert {r for r, s in RULES.items() if s.scope is Scope.COLLECTOR} == COLLECTOR_RULES
    assert {r for r, s in RULES.items() if s.scope is Scope.ACTIVITY} == ACTIVITY_RULES
    assert dict(RULE_SEVERITY) == {rule: spec.severity for rule, spec in RULES.items()}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("success_rate_below_min", Rule.SUCCESS_RATE_BELOW_MIN), ("api_health", None), ("", None)],
)
def test_spec_named_finds_rules_and_nothing_else(name: str, expected: Rule | None) -> None:
    # Given a rule name as an alert document holds it (health conditions are no rules)
    spec = spec_named(name)
    # Then only a catalogue rule has a spec
    assert (spec.rule if spec else None) is expected


def test_catalogue_thresholds_are_fields_of_thresholds_with_their_defaults() -> None:
    # Given the thresholds the catalogue names / Then Thresholds has exactly those fields,
    # in the same order, defaulting to the catalogue's values
    fields = [field.name for field in dataclasses.fields(Thresholds)]
    assert fields == list(THRESHOLD_SPECS)
    assert Thresholds().to_dict() == {key: spec.default for key, spec in THRESHOLD_SPECS.items()}
    assert dict(ENV_VARS) == {
        key: spec.env_var for key, spec in THRESHOLD_SPECS.items() if spec.env_var is not None
    }


def test_catalogue_names_each_threshold_once() -> None:
    # Given the threshold specs / Then no two share a key, a variable or a parameter
    specs = list(THRESHOLD_SPECS.values())
    for attribute in ("key", "env_var", "parameter"):
        names = [getattr(spec, attribute) for spec in specs if getattr(spec, attribute)]
        assert len(set(names)) == len(names), attribute
    # ... and a setting has a variable exactly when it has a template parameter
    assert all((spec.env_var is None) is (spec.parameter is None) for spec in specs)


def test_threshold_spec_refuses_a_default_of_off_for_a_required_threshold() -> None:
    with pytest.raises(ValueError, match="only an optional threshold"):
        ThresholdSpec("max_x", "MAX_X", "MaxX", None, Unit.COUNT, Direction.MAX)


# --- template.yaml -------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", PARAMETER_SPECS, ids=lambda spec: spec.key)
def test_template_parameter_default_is_the_catalogue_default(threshold: ThresholdSpec) -> None:
    # Given the setting's template parameter
    assert threshold.parameter is not None
    parameter = PARAMETERS[threshold.parameter]
    # Then an optional threshold that is off by default is an empty String; any other has the
    # same default, as a Number, or as a String for a count (digits only, see below) and for an
    # optional threshold that is on by default (so that "off" can turn it off)
    if threshold.default is None:
        assert parameter["Type"] == "String"
        assert parameter["Default"] == ""
    else:
        text = threshold.unit is Unit.COUNT or threshold.optional
        assert parameter["Type"] == ("String" if text else "Number")
        assert Decimal(str(parameter["Default"])) == Decimal(str(threshold.default))


@pytest.mark.parametrize("threshold", PARAMETER_SPECS, ids=lambda spec: spec.key)
def test_template_passes_the_parameter_in_the_catalogue_variable(threshold: ThresholdSpec) -> None:
    # Given the monitor's environment in the template
    assert threshold.env_var is not None
    variables = TEMPLATE["Resources"]["MonitorFunction"]["Properties"]["Environment"]["Variables"]
    value = variables[threshold.env_var]
    # Then the variable is the parameter; an optional one is left unset while the parameter is empty
    reference = {"Ref": threshold.parameter}
    if threshold.optional and threshold.default is None:
        condition, when_set, when_empty = value["Fn::If"]
        assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [reference, ""]}]}
        assert (when_set, when_empty) == (reference, {"Ref": "AWS::NoValue"})
    else:
        assert value == reference


def test_template_threshold_group_lists_the_catalogue_parameters_in_order() -> None:
    # Given the console's "Thresholds" parameter group
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    group = next(g for g in groups if g["Label"]["default"] == "Thresholds")
    # Then it shows every threshold parameter, in rule order (then the override document)
    catalogue = [spec.parameter for spec in PARAMETER_SPECS]
    assert [name for name in group["Parameters"] if name != "ThresholdsParameterName"] == catalogue


def _bounds(threshold: ThresholdSpec) -> list[str]:
    """The values on the edges of what the template lets through for this threshold."""
    assert threshold.parameter is not None
    parameter = PARAMETERS[threshold.parameter]
    return [str(parameter[edge]) for edge in ("MinValue", "MaxValue") if edge in parameter]


@pytest.mark.parametrize("threshold", PARAMETER_SPECS, ids=lambda spec: spec.key)
def test_template_range_is_within_what_the_code_accepts(threshold: ThresholdSpec) -> None:
    # Given the range the template allows for the parameter
    assert threshold.parameter is not None and threshold.env_var is not None
    parameter = PARAMETERS[threshold.parameter]
    # Then it is bounded below wherever the code is (rates above too) ...
    if parameter["Type"] == "Number":
        assert "MinValue" in parameter
        if threshold.unit is Unit.RATE:
            assert "MaxValue" in parameter
    else:
        assert "AllowedPattern" in parameter
    # ... and the code accepts the values on its edges
    for edge in _bounds(threshold):
        values, _ = thresholds_from_env({threshold.env_var: edge})
        assert getattr(values, threshold.key) == pytest.approx(float(edge))


# Optional thresholds that are on by default: the parameter is a String that "off" turns off.
ON_BY_DEFAULT = [s for s in PARAMETER_SPECS if s.optional and s.default is not None]


@pytest.mark.parametrize("threshold", ON_BY_DEFAULT, ids=lambda spec: spec.key)
def test_template_off_turns_an_optional_rule_off(threshold: ThresholdSpec) -> None:
    # Given an optional threshold that is on by default
    assert threshold.parameter is not None and threshold.env_var is not None
    pattern = PARAMETERS[threshold.parameter]["AllowedPattern"]
    # Then "off" can be deployed, empty cannot, and the code reads "off" as the rule off
    assert re.fullmatch(pattern, "off")
    assert not re.fullmatch(pattern, "")
    values, names = thresholds_from_env({threshold.env_var: "off"})
    assert getattr(values, threshold.key) is None and threshold.key in names


@pytest.mark.parametrize(
    ("key", "text"),
    [
        *[("max_silence_factor", t) for t in ("0.5", "1", "3", "2.25", "9999")],
        *[("min_lines_vs_median", t) for t in ("0", "0.5", "1", "1.0")],
    ],
)
def test_template_pattern_admits_only_values_the_code_accepts(key: str, text: str) -> None:
    # Given a value an optional String parameter's pattern lets through
    threshold = THRESHOLD_SPECS[key]
    assert threshold.parameter is not None and threshold.env_var is not None
    assert re.fullmatch(PARAMETERS[threshold.parameter]["AllowedPattern"], text)
    # Then the code reads it as that number
    values, _ = thresholds_from_env({threshold.env_var: text})
    assert getattr(values, key) == pytest.approx(float(text))


@pytest.mark.parametrize("text", ["0", "0.0", "-1", "1e3", ""])
def test_template_silence_factor_refuses_what_the_code_refuses(text: str) -> None:
    pattern = PARAMETERS["MaxSilenceFactor"]["AllowedPattern"]
    assert not re.fullmatch(pattern, text)


@pytest.mark.parametrize(
    "text", ["0", "0.25", "0.999", "1", "1.0", "1.000"], ids=lambda text: f"MaxFailRatio={text}"
)
def test_template_pattern_admits_only_rates_the_code_accepts(text: str) -> None:
    # Given a value the optional rate parameter's pattern lets through
    threshold = THRESHOLD_SPECS["max_fail_ratio"]
    assert re.fullmatch(PARAMETERS[threshold.parameter]["AllowedPattern"], text)
    # Then the code reads it as that rate
    values, _ = thresholds_from_env({threshold.env_var: text})
    assert values.max_fail_ratio == pytest.approx(float(text))


@pytest.mark.parametrize("key", [s.key for s in PARAMETER_SPECS if s.unit is Unit.COUNT])
def test_template_count_parameters_admit_only_whole_numbers(key: str) -> None:
    # Given a count threshold's parameter (a Number would let 1.5 through to the monitor)
    spec = THRESHOLD_SPECS[key]
    parameter = PARAMETERS[spec.parameter]
    pattern = parameter.get("AllowedPattern")
    assert parameter["Type"] == "String" and pattern is not None
    # Then a fraction, a sign or a word cannot be deployed, and empty only turns an optional off
    for refused in ("1.5", "-1", "1e3", "ten", " 1"):
        assert not re.fullmatch(pattern, refused), refused
    assert bool(re.fullmatch(pattern, "")) is spec.optional
    # ... and every whole number it admits is one the monitor reads as that number
    for admitted in ("0", "7", "100000"):
        assert re.fullmatch(pattern, admitted)
        values, _ = thresholds_from_env({spec.env_var: admitted})
        assert getattr(values, key) == int(admitted)


def test_template_dashboard_charts_the_findings_of_every_rule() -> None:
    # Given the dashboard's text (a Fn::Sub of its JSON body)
    dashboards = [
        resource["Properties"]["DashboardBody"]
        for resource in TEMPLATE["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert len(dashboards) == 1
    body = json.dumps(dashboards[0])
    # Then it charts the Findings_<rule> metric of each catalogue rule, and of no other
    charted = re.findall(r"Findings_([a-z_]+)", body)
    assert charted == [rule.value for rule in RULES]


# --- README --------------------------------------------------------------------------------


def test_readme_rules_table_lists_every_rule_in_order() -> None:
    # Given the README's rules table
    rows = markdown_rows("### Rules")
    # Then it has one row per rule, in catalogue order
    assert [backticked(row[0]) for row in rows] == [[rule.value] for rule in RULES]


@pytest.mark.parametrize("spec", list(RULES.values()), ids=lambda spec: spec.rule.value)
def test_readme_rules_row_matches_the_catalogue(spec: RuleSpec) -> None:
    # Given the rule's row: rule | fires when | default | severity
    row = next(row for row in markdown_rows("### Rules") if row[0] == f"`{spec.rule.value}`")
    _, fires_when, default, severity = row
    # Then severity and default are the catalogue's, and the condition names its parameter
    assert severity == spec.severity.value
    if spec.threshold is None:
        assert default == "—"
        assert not set(backticked(fires_when)) & set(PARAMETERS)
    else:
        assert default == (
            "off" if spec.threshold.default is None else shown(spec.threshold.default)
        )
        assert spec.threshold.parameter in backticked(fires_when)


def test_readme_names_the_job_event_rules() -> None:
    # Given the sentence under the rules table that says which rules are job events
    sentence = re.search(r"\n([^\n]*(?:\n[^\n]+)*?) are \*\*job events\*\*", README)
    assert sentence is not None
    # Then it names exactly the catalogue's job-event rules, and counts the collector rules
    assert set(backticked(sentence.group(1))) == {rule.value for rule in JOB_EVENT_RULES}
    count = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}[len(COLLECTOR_RULES)]
    assert f"The other {count} are **collector rules**" in README


@pytest.mark.parametrize("spec", THRESHOLD_RULES, ids=lambda spec: spec.rule.value)
def test_readme_parameter_row_shows_the_catalogue_default(spec: RuleSpec) -> None:
    # Given the README's row for the rule's template parameter
    threshold = threshold_of(spec)
    rows = {backticked(row[0])[0]: row for row in markdown_rows("### Template parameters")}
    _, default, _ = rows[threshold.parameter]
    # Then it shows the catalogue's default
    if threshold.default is None:
        assert default == "empty (off)"
    else:
        assert default == shown(threshold.default)


def test_readme_parameter_table_lists_the_threshold_parameters_in_order() -> None:
    # Given the parameter names in the README's table
    names = [backticked(row[0])[0] for row in markdown_rows("### Template parameters")]
    # Then the threshold parameters appear together, in catalogue order
    catalogue = [spec.parameter for spec in PARAMETER_SPECS]
    start = names.index(catalogue[0])
    assert names[start : start + len(catalogue)] == catalogue


def test_readme_override_keys_are_the_catalogue_keys() -> None:
    # Given the "Keys:" sentence about the override document
    keys = re.search(r"\nKeys: (.+?)\. Precedence", README, re.DOTALL)
    assert keys is not None
    # Then it names every threshold key, in catalogue order
    assert [key for key in backticked(keys.group(1)) if key != "null"] == list(THRESHOLD_SPECS)
