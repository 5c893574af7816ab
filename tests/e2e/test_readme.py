"""The README is the product's front door: its quick start has exactly two commands, every `make`
target it names exists, and every local `job-alerts` command it shows runs as written (against
the simulator and moto server, with a CloudFormation stack in moto for `--stack`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Commands that need a real AWS account or Docker: checked elsewhere (sam-checks) or not at all.
REMOTE_PREFIXES = ("aws ", "sam ", "export ")


def bash_blocks(text: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    commands = []
    for block in blocks:
        lines = []
        for raw in block.splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line:
                lines.append(line)
        commands.append(lines)
    return commands


def quick_start_block() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    [block] = bash_blocks(section)
    return block


def test_readme_quick_start_is_exactly_two_commands() -> None:
    assert quick_start_block() == ["make demo", "make test"]


def all_commands() -> list[str]:
    return [line for block in bash_blocks(README) for line in block]


@pytest.mark.parametrize(
    "target",
    sorted({c.split()[1] for c in all_commands() if c.startswith("make ")}),
)
def test_readme_make_targets_exist(target: str) -> None:
    done = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


LOCAL_COMMANDS = [c for c in all_commands() if c.startswith("job-alerts ")]


def test_readme_shows_local_commands() -> None:
    assert LOCAL_COMMANDS, "the README should show the operator commands"
    assert all(not c.startswith(REMOTE_PREFIXES) for c in LOCAL_COMMANDS)


@pytest.mark.parametrize("command", LOCAL_COMMANDS)
def test_readme_job_alerts_command_runs_as_shown(
    command: str, stack: LocalStack, simulator: BrightDataSimulator
) -> None:
    # Given every job and collector id the README names exists in the simulator,
    for job_id in set(re.findall(r"\bj_[A-Za-z0-9_]+", README)):
        simulator.add_job(
            job_id, "c_m9im5n7v82p2y35la", "done", inputs=1, success=1, fails=0, lines=60
        )
    # and every stack name it uses exists (in moto) with the outputs the CLI reads,
    cloudformation = stack.client("cloudformation")
    stack_names = set(re.findall(r"--stack ([\w-]+)", command))
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateTableName": {"Value": stack.table_name},
            "AlertTopicArn": {"Value": stack.topic_arn},
        },
    }
    for name in stack_names:
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    env = {
        **os.environ,
        **stack.env(),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        "BRIGHTDATA_API_URL": simulator.url,
        "BRIGHTDATA_API_TOKEN": SIM_TOKEN,
    }
    if stack_names:
        # With --stack the table and topic must come from the stack's outputs alone.
        del env["TABLE_NAME"], env["TOPIC_ARN"]
    # When the command runs exactly as written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "job_alerts", *shlex.split(command)[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        for name in stack_names:
            cloudformation.delete_stack(StackName=name)
    # Then it succeeds, and never prints the token
    assert done.returncode == 0, done.stdout + done.stderr
    assert SIM_TOKEN not in done.stdout + done.stderr
