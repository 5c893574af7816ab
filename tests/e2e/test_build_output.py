"""The `sam build` output runs on its own: each handler imports in a fresh, isolated interpreter
that sees only the function's folder and the built layer, as Lambda does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.cfn_yaml import load_template, resolve

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".aws-sam" / "build"
LAYER = BUILD / "CommonLayer" / "python"
FUNCTIONS = ("MonitorFunction", "SlackNotifierFunction", "IntakeFunction")

# CI sets REQUIRE_SAM_BUILD=1 after running sam build: there a missing build is a failure.
_REQUIRED = os.environ.get("REQUIRE_SAM_BUILD") == "1"
if _REQUIRED and not BUILD.is_dir():
    raise RuntimeError("REQUIRE_SAM_BUILD=1 but .aws-sam/build does not exist: run sam build")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not BUILD.is_dir(), reason="no .aws-sam/build: run scripts/sam-checks.sh (sam build) first"
    ),
]

# Import names provided by each direct runtime requirement (layers/common/requirements.in; its
# lock requirements.txt adds their own dependencies). A new
# requirement must be added here so the probe proves the build installed it.
REQUIREMENT_MODULES = {
    "boto3": ("boto3",),
    "urllib3": ("urllib3",),
    "aws-lambda-powertools": ("aws_lambda_powertools", "aws_lambda_powertools.tracing"),
    "aws-lambda-powertools[tracer]": ("aws_xray_sdk",),
}

# Runs in the isolated interpreter (-I -S: no site-packages, no user site, no PYTHON* variables).
PROBE = """
import importlib, json, pkgutil, sys
paths, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path[:0] = paths
import app
for name in modules:
    importlib.import_module(name)
import job_alerts
for info in pkgutil.walk_packages(job_alerts.__path__, "job_alerts."):
    importlib.import_module(info.name)
print(json.dumps({
    "handler_callable": callable(getattr(app, "handler", None)),
    "app_file": app.__file__,
    "job_alerts_file": job_alerts.__file__,
    "site_imported": "site" in sys.modules,
}))
"""


def _requirement_modules() -> list[str]:
    lines = (REPO / "layers" / "common" / "requirements.in").read_text().splitlines()
    modules: list[str] = []
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name = requirement.split("==", 1)[0].split(">=", 1)[0].strip().lower()
        base = name.split("[", 1)[0]
        assert base in REQUIREMENT_MODULES, f"add the import names of {name!r} to the probe"
        modules += REQUIREMENT_MODULES[base]
        if name != base:
            assert name in REQUIREMENT_MODULES, f"add the import names of {name!r} to the probe"
            modules += REQUIREMENT_MODULES[name]
    return modules


def _lambda_environment(function: str) -> dict[str, str]:
    """The function's environment as deployed with defaults (plus a Slack secret so the
    optional notifier exists), stack references replaced by plausible values."""
    template = resolve(
        load_template(BUILD / "template.yaml"),
        {"SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"},
    )
    variables: dict[str, Any] = template["Resources"][function]["Properties"]["Environment"][
        "Variables"
    ]
    return {
        name: value if isinstance(value, str) else f"placeholder-{name.lower()}"
        for name, value in variables.items()
    } | {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # Outside Lambda there is no X-Ray daemon to send traces to.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def _probe(function: str, layer: Path) -> subprocess.CompletedProcess[str]:
    paths = [str(BUILD / function), str(layer)]
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            PROBE,
            json.dumps(paths),
            json.dumps(_requirement_modules()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_lambda_environment(function),
        cwd=BUILD,
        check=False,
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_build_output_handler_imports_with_only_function_and_layer(function: str) -> None:
    # Given the built function folder and layer
    assert (BUILD / function / "app.py").is_file(), f"{function} missing from the build"

    # When its handler module is imported in an isolated interpreter
    result = _probe(function, LAYER)

    # Then it imports, with everything coming from the build output
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["handler_callable"] is True
    assert Path(report["app_file"]).is_relative_to(BUILD / function)
    assert Path(report["job_alerts_file"]).is_relative_to(LAYER)
    assert report["site_imported"] is False


@pytest.mark.parametrize("missing", ["aws_lambda_powertools", "urllib3", "aws_xray_sdk"])
def test_build_output_probe_fails_when_a_dependency_is_missing(
    tmp_path: Path, missing: str
) -> None:
    # Given a copy of the built layer without one runtime dependency (symlinks keep it cheap)
    layer = tmp_path / "python"
    layer.mkdir()
    for entry in LAYER.iterdir():
        if entry.name != missing:
            (layer / entry.name).symlink_to(entry)

    # When the monitor handler is probed against it
    result = _probe("MonitorFunction", layer)

    # Then the import fails, naming the missing module
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr
    assert f"No module named '{missing}'" in result.stderr
