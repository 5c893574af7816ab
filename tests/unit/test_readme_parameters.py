"""README's "Template parameters" table is template.yaml's parameter list: every parameter once, in
the order of the template's parameter groups (the console's order), with the template's default.
The threshold parameters' defaults are held to the rule catalogue in test_catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from job_alerts.rules import THRESHOLD_SPECS
from local.cfn_yaml import load_template
from tests.unit.test_catalogue import backticked, markdown_rows

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
GROUPS = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
THRESHOLD_PARAMETERS = {spec.parameter for spec in THRESHOLD_SPECS.values() if spec.parameter}
# A default cell: `a value`, or a bare value, either followed by a note in parentheses;
# "empty" stands for the empty string. One value per parameter, " / " between them.
DEFAULT_CELL = re.compile(r"`(?P<code>[^`]*)`(?: \(.+\))?|(?P<bare>[^`(]+?)(?: \(.+\))?")


def readme_defaults() -> dict[str, str]:
    """Each parameter named in the table's first column, with the default shown for it."""
    defaults: dict[str, str] = {}
    for row in markdown_rows("### Template parameters"):
        names = backticked(row[0])
        cells = row[1].split(" / ")
        assert len(cells) == len(names), f"one default per parameter in {row[0]}"
        for name, cell in zip(names, cells, strict=True):
            assert name not in defaults, f"{name} has two rows"
            defaults[name] = cell
    return defaults


def default_value(cell: str) -> str:
    match = DEFAULT_CELL.fullmatch(cell)
    assert match is not None, f"unreadable default {cell!r}"
    if match["code"] is not None:
        return match["code"]
    return "" if match["bare"] == "empty" else match["bare"]


def test_readme_parameter_table_lists_every_template_parameter_in_group_order() -> None:
    # Given the template's parameter groups, which the table follows
    grouped = [name for group in GROUPS for name in group["Parameters"]]
    assert sorted(grouped) == sorted(PARAMETERS), "every parameter belongs to one group"
    # Then the table names exactly those parameters, in that order
    assert list(readme_defaults()) == grouped


@pytest.mark.parametrize("name", sorted(set(PARAMETERS) - THRESHOLD_PARAMETERS))
def test_readme_parameter_row_shows_the_template_default(name: str) -> None:
    # Given the default the README shows for a parameter
    shown = default_value(readme_defaults()[name])
    # Then it is the template's default, as CloudFormation passes it (text)
    assert shown == str(PARAMETERS[name]["Default"])


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("`rate(5 minutes)`", "rate(5 minutes)"),
        ("empty (no Slack)", ""),
        ("0 (off)", "0"),
        ("900", "900"),
        ("`true`", "true"),
    ],
)
def test_readme_default_cells_read_as_the_value_they_show(cell: str, value: str) -> None:
    assert default_value(cell) == value
