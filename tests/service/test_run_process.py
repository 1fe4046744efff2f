"""``leadsync run`` as a real process against both sandboxes: cycles, /metrics, a signed
webhook that triggers a HubSpot cycle, a clean exit on SIGTERM, and the SQLite lock."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from leadsync.sandboxes import running_sandboxes
from tests.service.helpers import contact_event, free_port, hubspot_delivery, start_service


def _cycles(base: str) -> dict[tuple[str, str], float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        (s.labels["connector"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "leadsync_cycles_total"
    }


def _wait_for(predicate: Callable[[], bool], timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"leadsync run exited early: {proc.returncode}"
        try:
            if predicate():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def config(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    with running_sandboxes(leads=60, seed=7) as world:
        data = world.config_data(f"sqlite:///{tmp_path / 'leadsync.db'}")
        port = free_port()
        data["sync"] = {"interval_seconds": 3600, "overlap_seconds": 60}
        data["service"] = {"host": "127.0.0.1", "port": port, "webhook_path": "/hooks/hubspot"}
        path = tmp_path / "leadsync.toml"
        path.write_text(tomli_w.dumps(data))
        os.chmod(path, 0o600)
        yield path, f"http://127.0.0.1:{port}", world.hubspot.client_secret


def _start(config: Path, tmp_path: Path) -> subprocess.Popen[str]:
    return start_service(config, tmp_path)


@pytest.mark.slow
def test_run_syncs_serves_metrics_takes_webhooks_and_stops_on_sigterm(
    config: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, base, secret = config
    proc = _start(path, tmp_path)
    try:
        _wait_for(
            lambda: (
                _cycles(base).get(("hubspot", "ok"), 0) >= 1
                and _cycles(base).get(("salesforce", "ok"), 0) >= 1
            ),
            timeout=60,
            proc=proc,
        )
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text

        second = _start(path, tmp_path)
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 3, out
        assert "single-process" in out

        url = f"{base}/hooks/hubspot"
        bad_body, bad_headers = hubspot_delivery(url, [contact_event(1)], secret="wrong")
        refused = httpx.post(url, content=bad_body, headers=bad_headers, timeout=5)
        assert refused.status_code == 401
        body, headers = hubspot_delivery(url, [contact_event(2)], secret=secret)
        accepted = httpx.post(url, content=body, headers=headers, timeout=5)
        assert accepted.status_code == 200, accepted.text
        _wait_for(lambda: _cycles(base).get(("hubspot", "ok"), 0) >= 2, timeout=30, proc=proc)

        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert time.monotonic() - began < 30
        assert "service.stopped" in out
        assert secret not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
