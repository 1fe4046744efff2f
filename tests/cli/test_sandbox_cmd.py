"""``leadsync sandbox`` serves both CRMs for ``leadsync sync`` and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]


@pytest.mark.slow
def test_sandbox_serves_a_config_that_sync_uses(tmp_path: Path) -> None:
    config = tmp_path / "sb.toml"
    server = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--leads", "120", "--live", "--tick", "0.5",
         "--write-config", str(config), "--store-url", f"sqlite:///{tmp_path / 's.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (config.exists() and config.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert config.stat().st_mode & 0o077 == 0, stat.filemode(config.stat().st_mode)
        result = subprocess.run(
            [*CLI, "--config", str(config), "sync", "--json"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["status"] == "ok", report["errors"]
        assert report["written"]["salesforce"] >= 120 and report["written"]["hubspot"] > 0
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Sandboxes stopped." in out
    # traffic and the exit summary in words: counts, never a dict or a None
    assert "Salesforce traffic: " in out and "They served " in out, out
    assert not any(raw in out for raw in ("{", "}", "None")), out
    secrets = [line.split("=", 1)[1].strip().strip('"') for line in config.read_text().splitlines()
               if line.startswith(("client_secret", "access_token"))]  # fmt: skip
    assert secrets and not any(secret in out + err for secret in secrets)
