"""Load CloudFormation/SAM YAML templates: short-form intrinsic tags (!Ref, !Sub, !If, ...)
become the long JSON form ({"Ref": ...}, {"Fn::Sub": ...}) that CloudFormation itself sees."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

# Tag -> long-form key. !Ref and !Condition are not "Fn::" functions.
_FUNCTION_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "FindInMap": "Fn::FindInMap",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Sub": "Fn::Sub",
    "Transform": "Fn::Transform",
    "And": "Fn::And",
    "Equals": "Fn::Equals",
    "If": "Fn::If",
    "Not": "Fn::Not",
    "Or": "Fn::Or",
    "GetAtt": "Fn::GetAtt",
}


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that also understands CloudFormation's short-form tags."""


def _construct_intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _FUNCTION_TAGS[tag_suffix]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        # !GetAtt Resource.Attribute is shorthand for ["Resource", "Attribute"].
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


for _tag in _FUNCTION_TAGS:
    CfnLoader.add_constructor(
        f"!{_tag}",
        lambda loader, node, _tag=_tag: _construct_intrinsic(loader, _tag, node),
    )


def loads(text: str) -> dict[str, Any]:
    """Parse template text into the long-form dictionary."""
    # CfnLoader derives from SafeLoader: no arbitrary objects.
    document = yaml.load(text, Loader=CfnLoader)  # noqa: S506  # nosec B506
    if not isinstance(document, dict):
        raise ValueError("a CloudFormation template must be a YAML mapping")
    return document


def load_template(path: str | Path) -> dict[str, Any]:
    """Read and parse a template file."""
    return loads(Path(path).read_text(encoding="utf-8"))


_NO_VALUE = object()


def parameter_values(
    template: dict[str, Any], overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """Every template parameter's value as CloudFormation passes it: the override, else the
    default, as a string (CloudFormation hands Number parameters to Ref as text)."""
    values: dict[str, str] = {}
    for name, spec in template.get("Parameters", {}).items():
        if overrides and name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
    unknown = set(overrides or {}) - set(template.get("Parameters", {}))
    if unknown:
        raise ValueError(f"unknown parameters: {sorted(unknown)}")
    return values


def _equals(evaluate: Callable[[Any], Any], arg: Any) -> bool:
    left, right = (evaluate(item) for item in arg)
    return str(left) == str(right)


# The functions a condition combines others with; each gets the evaluator for its arguments
# (local/stack.py evaluates conditions with its own Ref rules, and shares these).
CONDITION_FUNCTIONS: dict[str, Callable[[Callable[[Any], Any], Any], bool]] = {
    "Fn::Equals": _equals,
    "Fn::Not": lambda evaluate, arg: not evaluate(arg[0]),
    "Fn::And": lambda evaluate, arg: all(evaluate(item) for item in arg),
    "Fn::Or": lambda evaluate, arg: any(evaluate(item) for item in arg),
}


def evaluate_conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Evaluate the template's Conditions section for the given parameter values."""
    definitions: dict[str, Any] = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((key, arg),) = node.items()
        if key == "Ref":
            if arg not in parameters:
                raise ValueError(f"condition refers to {arg!r}, which has no value")
            return parameters[arg]
        if key == "Condition":
            return condition(arg)
        if key in CONDITION_FUNCTIONS:
            return CONDITION_FUNCTIONS[key](value, arg)
        raise ValueError(f"unsupported function in a condition: {key}")

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = bool(value(definitions[name]))
        return results[name]

    for name in definitions:
        condition(name)
    return results


def _substitute_parameters(arg: Any, parameters: dict[str, str]) -> Any:
    """Replace ${Parameter} in a Fn::Sub argument (text, or [text, variables]); names the
    variables map defines, resources and pseudo parameters stay for CloudFormation."""
    text, variables = (arg, {}) if isinstance(arg, str) else arg
    if not isinstance(text, str):
        return arg

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters and name not in variables:
            return parameters[name]
        return match.group(0)

    substituted = re.sub(r"\$\{([^}!.]+)\}", replace, text)
    return substituted if isinstance(arg, str) else [substituted, variables]


def resolve(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """What CloudFormation would deploy for these parameters: conditions evaluated, resources and
    outputs whose condition is false removed, Fn::If and AWS::NoValue resolved, parameters
    (by Ref or inside Fn::Sub) replaced by their values. References to resources and pseudo
    parameters are left as they are."""
    parameters = parameter_values(template, overrides)
    conditions = evaluate_conditions(template, parameters)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Fn::If":
                    name, when_true, when_false = arg
                    return walk(when_true if conditions[name] else when_false)
                if key == "Ref" and arg == "AWS::NoValue":
                    return _NO_VALUE
                if key == "Ref" and arg in parameters:
                    return parameters[arg]
                if key == "Fn::Sub":
                    return {key: _substitute_parameters(walk(arg), parameters)}
            resolved = {key: walk(item) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk(entry) for entry in node) if item is not _NO_VALUE]
        return node

    result = dict(template)
    for section in ("Resources", "Outputs"):
        kept = {
            name: body
            for name, body in template.get(section, {}).items()
            if not isinstance(body, dict) or conditions.get(str(body.get("Condition")), True)
        }
        result[section] = walk(kept)
    for section in ("Globals", "Metadata"):
        if section in template:
            result[section] = walk(template[section])
    return result
