"""Issue 24 #8: with stderr piped, every line ``leadsync run`` writes there is JSON, the
lines of libraries that log through stdlib ``logging`` (APScheduler, uvicorn) included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import tomli_w

from leadsync.sandboxes import running_sandboxes
from tests.service.helpers import free_port

#: ``leadsync run`` as ``helpers.RUN`` starts it, and APScheduler's executor saying, as it does
#: when a cycle overran its interval, that a run was missed (through stdlib ``logging``).
RUN_WITH_A_MISSED_JOB = (
    "import logging, sys, threading\n"
    "from leadsync.cli import service_cmds\nfrom leadsync.cli.app import main\n"
    "missed = logging.getLogger('apscheduler.executors.default')\n"
    "threading.Timer(1.0, missed.warning, ('Run time of job %r was missed by %s', "
    "'cycle (trigger: interval[1:00:00])', '0:00:07')).start()\n"
    "sys.argv = ['leadsync', *sys.argv[1:]]\nmain()\n"
)


@pytest.mark.slow
def test_every_stderr_line_of_run_is_json(tmp_path: Path) -> None:
    with running_sandboxes(leads=20, seed=3) as world:
        data = world.config_data(f"sqlite:///{tmp_path / 'leadsync.db'}")
        port = free_port()
        data["sync"] = {"interval_seconds": 3600}
        data["service"] = {"host": "127.0.0.1", "port": port}
        config = tmp_path / "leadsync.toml"
        config.write_text(tomli_w.dumps(data))
        os.chmod(config, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_WITH_A_MISSED_JOB, "--config", str(config), "run"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                    if 'status="ok"' in metrics:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    lines = err.splitlines()
    assert lines
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a stderr line that is not JSON: {line!r}")
    missed = [e for e in events if e.get("logger") == "apscheduler.executors.default"]
    assert len(missed) == 1 and missed[0]["level"] == "warning"
    assert "was missed by 0:00:07" in missed[0]["event"]
    assert any(e.get("event") == "service.stopped" for e in events)
