"""No configured secret appears in any output of a full run: every command's stdout and stderr
(logs included), the service's HTTP answers, and the store itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from leadsync.sandboxes import running_sandboxes

CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]
SERVICE_TOKEN = "svc-token-7d1e0c54a9b2f3e8-5c0a9e14b7d2f6a3"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_full_run_never_shows_a_secret(tmp_path: Path) -> None:
    outputs: list[str] = []
    with running_sandboxes(150, seed=19) as world:
        secrets = {
            "SF_SECRET": world.salesforce.client_secret,
            "HS_TOKEN": world.hubspot.access_token,
            "HS_APP_SECRET": world.hubspot.client_secret,
            "LS_TOKEN": SERVICE_TOKEN,
        }
        data: dict[str, Any] = world.config_data(f"sqlite:///{tmp_path / 'state.db'}")
        data["connectors"]["salesforce"]["client_secret"] = "${SF_SECRET}"
        data["connectors"]["hubspot"]["access_token"] = "${HS_TOKEN}"
        data["connectors"]["hubspot"]["client_secret"] = "${HS_APP_SECRET}"
        port = _free_port()
        data["service"] = {"host": "127.0.0.1", "port": port, "access_token": "${LS_TOKEN}"}
        data["sync"] = {"interval_seconds": 10, "overlap_seconds": 30}
        config = tmp_path / "leadsync.toml"
        config.write_text(tomli_w.dumps(data))
        config.chmod(0o600)
        env = {**os.environ, **secrets}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [*CLI, "--config", str(config), *args],
                capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
            )  # fmt: skip
            outputs.extend((done.stdout, done.stderr))
            return done

        email = world.shared_emails[0]
        assert run("check").returncode in (0, 1)
        assert run("sync", "--json").returncode == 0
        for args in (
            ("sync", "--dry-run", "--json"),
            ("explain", email),
            ("explain", email, "--json"),
            ("backfill", "--dry-run", "--json"),
            ("sync", "--retry-failed"),
        ):
            assert run(*args).returncode == 0, outputs[-1]
        # status exits 1 when a connector is unhealthy (a 10 s interval goes stale quickly on a
        # loaded machine): either way it prints, and that output is checked for secrets too.
        for args in (("status",), ("status", "--json")):
            assert run(*args).returncode in (0, 1), outputs[-1]
        bad = run("sync", "--connector", "nope")  # an error path prints too
        assert bad.returncode != 0

        service = subprocess.Popen(
            [*CLI, "--config", str(config), "run", "--grace", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            metrics = ""
            while time.monotonic() < deadline:
                try:
                    answer = httpx.get(
                        f"{base}/metrics", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
                    )
                    if answer.status_code == 200 and "leadsync_cycles_total" in answer.text:
                        metrics = answer.text
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            assert metrics, "the service never served /metrics"
            outputs.append(metrics)
            for path in ("/healthz", "/readyz", "/", "/metrics"):
                outputs.append(httpx.get(base + path).text)  # without the token
            refused = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401
            outputs.append(refused.text)
        finally:
            service.send_signal(signal.SIGTERM)
            out, err = service.communicate(timeout=60)
            outputs.extend((out, err))
        assert run("forget", email).returncode == 0

    everything = "\n".join(outputs)
    assert "sync.phase" in everything or "leadsync_cycles" in everything  # we saw real output
    stored = (tmp_path / "state.db").read_bytes()
    for name, secret in secrets.items():
        assert secret not in everything, f"{name} leaked into the output"
        assert secret.encode() not in stored, f"{name} leaked into the store"
