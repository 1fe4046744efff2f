"""A taken port ends ``run`` and ``sandbox`` at once: one line, exit 6, no CRM call."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from leadsync.sandboxes import Sandboxes, running_sandboxes
from tests.cli.terminal import on_terminal

CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]

EXIT_ADDRESS_IN_USE = 6


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another process listens on (as a second service would), whose port
    below is free. Both lie under Linux's ephemeral range (32768-60999): a port the kernel
    hands out (bind to 0) can have its neighbour taken at any moment by another test's
    outgoing connection, which made the HubSpot-port case name the wrong port once in CI."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_001, 30_000)
        with socket.socket() as below:
            try:
                below.bind(("127.0.0.1", port - 1))
            except OSError:
                continue
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", port))
        except OSError:
            holder.close()
            continue
        with holder:
            holder.listen()
            yield port
        return
    pytest.fail("no free pair of loopback ports between 20000 and 30000")


@pytest.fixture(scope="module")
def world() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=120, seed=5) as sandboxes:
        yield sandboxes


@pytest.mark.slow
def test_run_with_its_port_taken_fails_before_any_crm_call(
    world: Sandboxes, taken: int, tmp_path: Path
) -> None:
    config = service_config(world, taken, tmp_path)
    world.salesforce.reset_stats()
    world.hubspot.reset_stats()
    result = subprocess.run(
        [*CLI, "--config", str(config), "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == EXIT_ADDRESS_IN_USE, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert f"127.0.0.1:{taken}" in line and "[service] port" in line and str(config) in line
    assert "service.started" not in result.stderr
    assert world.salesforce.stats()["total"] == 0
    assert world.hubspot.stats()["total"] == 0


def service_config(world: Sandboxes, port: int, tmp_path: Path) -> Path:
    data = world.config_data(f"sqlite:///{tmp_path / 'state.db'}")
    data["service"] = {"host": "127.0.0.1", "port": port}
    config = tmp_path / "leadsync.toml"
    config.write_text(tomli_w.dumps(data))
    config.chmod(0o600)
    return config


@pytest.mark.slow
def test_run_on_a_terminal_says_where_it_serves(world: Sandboxes, tmp_path: Path) -> None:
    # A terminal shows warnings only, so the start is said in a line of its own.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = service_config(world, port, tmp_path)
    seen = on_terminal(["--config", str(config), "run"], cwd=tmp_path, stop_at=b"Ctrl-C stops")
    # (A SIGTERM that lands before the service installs its handlers ends it at once.)
    assert seen.exit_code in (0, -signal.SIGTERM), "\n".join(seen.lines)
    assert seen.lines[0] == (
        f"Serving http://127.0.0.1:{port} (dashboard, /healthz, /metrics); Ctrl-C stops."
    )


@pytest.mark.parametrize("which", [0, 1], ids=["salesforce port", "hubspot port"])
def test_sandbox_with_a_port_taken_says_so_in_one_line(
    taken: int, which: int, tmp_path: Path
) -> None:
    # The sandbox takes --port for Salesforce and the next one for HubSpot.
    port = taken - which
    result = subprocess.run(
        [*CLI, "sandbox", "--live", "--port", str(port), "--write-config",
         str(tmp_path / "sb.toml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == EXIT_ADDRESS_IN_USE, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert f"127.0.0.1:{taken}" in line and "--port" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "sb.toml").exists()
