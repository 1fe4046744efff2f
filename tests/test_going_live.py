"""README's "Going live" steps, walked as written against the sandboxes: each exits 0.

The commands are read from the section's fenced blocks, so a step the README adds, renames or
reorders is walked too. The section says how to try them without a real org (``leadsync
sandbox --live`` and ``LEADSYNC_CONFIG``); the walk does exactly that, with two substitutions a
shared test machine needs: free ports and a small org.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

README = Path(__file__).resolve().parents[1] / "README.md"
CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]
#: The config `leadsync sandbox` writes, which the section exports as LEADSYNC_CONFIG.
SANDBOX_CONFIG = "leadsync.sandbox.toml"


def going_live_section(readme: str) -> str:
    """The text of the "Going live" section, up to the next second-level heading."""
    start = readme.index("\n## Going live\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def going_live_commands(section: str) -> list[list[str]]:
    """Each command line of the section's fenced shell blocks, split as a shell would."""
    blocks = re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", section, re.DOTALL)
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def sandbox_command(section: str) -> list[str]:
    """The ``leadsync sandbox ...`` command the section says to try the steps with."""
    found = re.search(r"`(leadsync sandbox[^`]*)`", section)
    assert found, "the Going live section no longer says how to try it on the sandboxes"
    return shlex.split(found.group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(args: list[str]) -> list[str]:
    """``args`` (a README command) as the installed ``leadsync`` runs it."""
    assert args[0] == "leadsync", f"not a leadsync command: {shlex.join(args)}"
    return [*CLI, *args[1:]]


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The sandboxes served as the section says, and the environment it says to export."""
    section = going_live_section(README.read_text())
    assert f"LEADSYNC_CONFIG={SANDBOX_CONFIG}" in section
    config = tmp_path / SANDBOX_CONFIG
    # Substituted: free ports instead of 8443/8444 and 200 leads instead of 5,000 (speed).
    command = [*cli(sandbox_command(section)), "--port", "0", "--leads", "200"]
    server = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (config.exists() and config.stat().st_size) and time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()
            time.sleep(0.2)
        data = tomllib.loads(config.read_text())
        # `leadsync run` serves on [service] port (8080 by default): a free one here.
        data["service"] = {**data.get("service", {}), "port": free_port()}
        config.write_text(tomli_w.dumps(data))
        yield {**os.environ, "LEADSYNC_CONFIG": SANDBOX_CONFIG}
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err


def test_the_section_lists_every_step_in_order() -> None:
    steps = [shlex.join(c[:3]) for c in going_live_commands(going_live_section(README.read_text()))]
    wanted = ["leadsync fields create", "leadsync install", "leadsync check"]
    wanted += ["leadsync sync --dry-run"]
    wanted += ["leadsync backfill --no-actions", "leadsync sync", "leadsync status"]
    assert [s for s in steps if s in wanted] == wanted, steps


@pytest.mark.slow
def test_each_going_live_step_exits_0_against_the_sandboxes(
    tmp_path: Path, sandboxes: dict[str, str]
) -> None:
    commands = going_live_commands(going_live_section(README.read_text()))
    assert commands, "the Going live section has no fenced commands to walk"
    walked: list[tuple[str, int]] = []
    for args in commands:
        if args[:2] == ["leadsync", "run"]:
            walked.append((shlex.join(args), serve_then_stop(args, tmp_path, sandboxes)))
            continue
        done = subprocess.run(
            cli(args),
            cwd=tmp_path,
            env=sandboxes,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{shlex.join(args)}:\n{done.stdout}\n{done.stderr}"
        walked.append((shlex.join(args), done.returncode))
    assert [code for _, code in walked] == [0] * len(commands), walked


def serve_then_stop(args: list[str], cwd: Path, env: dict[str, str]) -> int:
    """``leadsync run`` until it answers ``/healthz``, then SIGTERM: its exit code."""
    port = tomllib.loads((cwd / SANDBOX_CONFIG).read_text())["service"]["port"]
    service = subprocess.Popen(
        cli(args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert service.poll() is None, service.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("leadsync run never answered /healthz")
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=60)
    assert service.returncode == 0, f"{out}\n{err}"
    return service.returncode
