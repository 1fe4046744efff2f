"""The built image runs the service: `db upgrade` on a volume, `leadsync run` as an unprivileged
user with secrets only from the environment, its HEALTHCHECK turning healthy, cycles against
both sandboxes, and a clean exit on `docker stop`.

It needs a Docker daemon and an image built from this checkout (docs/docker.md says how);
name the image in LEADSYNC_TEST_IMAGE. Without it the test skips with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from leadsync.sandboxes import running_sandboxes
from tests.service.helpers import free_port

IMAGE = os.environ.get("LEADSYNC_TEST_IMAGE", "")
CA_IN_IMAGE = "/etc/leadsync/sandbox-ca.pem"
CONFIG_IN_IMAGE = "/etc/leadsync/leadsync.toml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not IMAGE or shutil.which("docker") is None,
        reason="needs docker and LEADSYNC_TEST_IMAGE naming an image built from this checkout",
    ),
]


def _docker(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


def _cycles_ok(base: str) -> set[str]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {
        s.labels["connector"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "leadsync_cycles_total" and s.labels["status"] == "ok" and s.value >= 1
    }


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str, container: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    raise AssertionError(f"{what} not reached in {timeout} s\n{logs.stdout}{logs.stderr}")


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    container, volume = f"leadsync-test-{tag}", f"leadsync-test-data-{tag}"
    yield container, volume
    subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)


def test_image_upgrades_the_store_runs_cycles_turns_healthy_and_stops_cleanly(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    container, volume = names
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_sandboxes(leads=60, seed=7) as world:
        data = world.config_data("sqlite:////data/leadsync.db")
        sf, hs = data["connectors"]["salesforce"], data["connectors"]["hubspot"]
        secrets = {
            "SF_CLIENT_SECRET": sf["client_secret"],
            "HUBSPOT_TOKEN": hs["access_token"],
            "HUBSPOT_CLIENT_SECRET": hs["client_secret"],
        }
        sf["client_secret"] = "${SF_CLIENT_SECRET}"
        hs["access_token"] = "${HUBSPOT_TOKEN}"
        hs["client_secret"] = "${HUBSPOT_CLIENT_SECRET}"
        sf["ca_bundle"] = CA_IN_IMAGE
        data["sync"] = {"interval_seconds": 3600, "overlap_seconds": 60}
        data["service"] = {"host": "127.0.0.1", "port": port, "webhook_path": "/hooks/hubspot"}
        config = tmp_path / "leadsync.toml"
        config.write_text(tomli_w.dumps(data))
        # No literal secret is in the file, so it may be readable by the image's user.
        config.chmod(0o644)
        ca = tmp_path / "ca.pem"
        shutil.copyfile(world.salesforce.ca_file, ca)
        ca.chmod(0o644)

        mounts = [
            *("-v", f"{config}:{CONFIG_IN_IMAGE}:ro"),
            *("-v", f"{ca}:{CA_IN_IMAGE}:ro"),
            *("-v", f"{volume}:/data"),
        ]
        env = [arg for key in secrets for arg in ("-e", key)]
        run_env = {**os.environ, **secrets}

        upgraded = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", *mounts, *env, IMAGE, "db", "upgrade"],
            capture_output=True,
            text=True,
            timeout=120,
            env=run_env,
        )
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr

        _docker(
            "run", "-d", "--name", container, "--network", "host", *mounts, *env,
            # The image's own HEALTHCHECK command, polled faster than its 30 s interval.
            "--health-interval", "2s", "--stop-timeout", "60", IMAGE,
            env=run_env,  # `-e NAME` hands the container this environment's value
        )  # fmt: skip

        def healthy() -> bool:
            state = json.loads(_docker("inspect", "-f", "{{json .State}}", container))
            assert state["Running"], state
            return bool(state.get("Health", {}).get("Status") == "healthy")

        _wait_for(healthy, 90, "HEALTHCHECK healthy", container)
        _wait_for(
            lambda: _cycles_ok(base) >= {"salesforce", "hubspot"},
            90,
            "one ok cycle each",
            container,
        )
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert _docker("exec", container, "id", "-u") == "10001"
        scored = [r for r in world.salesforce.org.records("Lead") if r.get("LeadSync_Fit__c")]
        assert scored, "the container wrote no fit to the Salesforce sandbox"

        began = time.monotonic()
        _docker("stop", container, timeout=90)
        stopped_in = time.monotonic() - began
        state = json.loads(_docker("inspect", "-f", "{{json .State}}", container))
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        out = logs.stdout + logs.stderr
        assert state["ExitCode"] == 0, out
        assert stopped_in < 30, stopped_in
        assert "service.stopped" in out
        for value in secrets.values():
            assert value not in out
