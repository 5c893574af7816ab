"""A local port another program holds: moto server's start and `make demo` say which port in one
line (the demo exits 2) instead of a traceback or a wait that never ends (issue 14)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import stack
from local.stack import MotoServer, PortUnavailableError

REPO = Path(__file__).resolve().parents[2]
# Failing on a taken port takes a fraction of a second; a hang would take the test's timeout.
QUICKLY_SECONDS = 5.0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.integration
def test_moto_server_start_on_a_taken_port_names_the_port(taken_port: int) -> None:
    # Given moto server meant for a port another program holds
    server = MotoServer(port=taken_port)

    # When it starts
    started = time.monotonic()
    with pytest.raises(PortUnavailableError) as raised:
        server.start()

    # Then it fails at once, naming the server and the port
    assert time.monotonic() - started < QUICKLY_SECONDS
    assert str(raised.value) == (
        f"moto server cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    )
    assert raised.value.port == taken_port


@pytest.mark.integration
# moto's server thread ends on the taken port (werkzeug exits it): the failure this test provokes.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_moto_server_start_is_bounded_when_the_server_never_comes_up(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the port check passes (the port was taken just after it, say), so moto's own thread
    # is the one that fails to bind and its start would wait forever
    monkeypatch.setattr(stack, "check_port_free", lambda server, port: None)
    server = MotoServer(port=taken_port)
    server.START_TIMEOUT_SECONDS = 0.5

    # When it starts
    started = time.monotonic()
    with pytest.raises(PortUnavailableError) as raised:
        server.start()

    # Then it gives up after its bound, naming the port
    assert time.monotonic() - started < QUICKLY_SECONDS
    assert f"127.0.0.1:{taken_port}: the server did not come up within 0.5 s" in str(raised.value)


@pytest.mark.e2e
def test_demo_with_its_moto_port_taken_says_so_in_one_line_and_exits_2(taken_port: int) -> None:
    # Given the demo will start moto server on a port another program holds (the free port it
    # picks is the taken one, as when another program grabs it first)
    script = textwrap.dedent(
        f"""
        import sys
        import local.stack
        local.stack.free_port = lambda: {taken_port}
        from local.demo import main
        sys.exit(main([]))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "layers/common")])}

    # When the demo runs
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it stops at once with exit status 2 and one line that names the port, no traceback
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"demo: moto server cannot listen on 127.0.0.1:{taken_port}: Address already in use; "
        "free that port or run the demo again"
    ]
    assert "Traceback" not in done.stdout + done.stderr
