"""The full-stack tier's one deployment, shared by its tests: `make fullstack` builds, then this
starts the emulator, the TLS simulator and the Slack sink on free ports and deploys the stack.
Without FULLSTACK=1 (set by `make fullstack`) the tier is skipped: `make test` stays fast."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.simulator import BrightDataSimulator
from local.slack_sink import SlackSink
from tests.fullstack.harness import (
    DeployedStack,
    Emulator,
    TlsTerminator,
    deploy,
    write_self_signed_certificate,
)

TOKEN = "fullstack-token-0123456789abcdef"
# Set by `make fullstack-negative`: a comma-separated list of actions removed from the monitor's
# policy in the copy deployed; the tier must then fail.
DROP_MONITOR_ACTIONS = tuple(
    action for action in os.environ.get("FULLSTACK_DROP_MONITOR_ACTION", "").split(",") if action
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FULLSTACK") == "1":
        return
    skip = pytest.mark.skip(reason="full-stack tier: run `make fullstack`")
    for item in items:
        if "tests/fullstack/" in item.nodeid:
            item.add_marker(skip)


@dataclass
class FullStack:
    stack: DeployedStack
    emulator: Emulator
    simulator: BrightDataSimulator
    sink: SlackSink
    api_url: str  # the simulator over TLS, as the monitor reaches it
    cert: Path  # the one authority the simulator's TLS needs


@pytest.fixture(scope="session")
def fullstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullStack]:
    workdir = tmp_path_factory.mktemp("fullstack")
    (workdir / "home").mkdir()
    cert, key = write_self_signed_certificate(workdir)
    with contextlib.ExitStack() as running:
        simulator = BrightDataSimulator(token=TOKEN).start()
        running.callback(simulator.stop)
        terminator = TlsTerminator(simulator.port, cert, key).start()
        running.callback(terminator.stop)
        sink = SlackSink().start()
        running.callback(sink.stop)
        emulator = Emulator(workdir, cert)
        running.callback(emulator.stop)
        emulator.start()
        try:
            stack = deploy(
                emulator,
                workdir,
                api_url=terminator.url,
                token=TOKEN,
                slack_url=sink.url,
                drop_monitor_actions=DROP_MONITOR_ACTIONS,
            )
        except Exception:
            print(emulator.log_tail())
            raise
        yield FullStack(stack, emulator, simulator, sink, terminator.url, cert)


@pytest.fixture
def emulator_log(fullstack: FullStack) -> Iterator[None]:
    """On failure, show what the emulator and its Lambda workers said."""
    yield
    print(fullstack.emulator.log_tail(120))
