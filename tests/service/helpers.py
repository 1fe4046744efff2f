"""Building the service app over a real SQLite store with fake connectors and clocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from connectors.hubspot.webhooks import signature_v3
from leadsync.records import ApiUsage
from leadsync.service.app import ServiceParts, build_app
from leadsync.service.metrics import ServiceMetrics
from leadsync.service.names import LOOPBACK_HOSTS
from leadsync.service.server import http_config
from leadsync.service.state import CycleLog
from leadsync.service.webhook import HubSpotWebhook
from leadsync.store import Store

SECRET = "hubspot-client-secret-for-tests"
#: starlette's TestClient calls the app as http://testserver.
TEST_HOSTS = ("testserver", *LOOPBACK_HOSTS)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeUsage:
    calls: int = 0
    remaining: int | None = None
    limit: int | None = None

    def usage(self) -> ApiUsage:
        return ApiUsage(calls=self.calls, remaining=self.remaining, limit=self.limit)


@dataclass
class Harness:
    store: Store
    now: list[datetime] = field(default_factory=lambda: [START])
    triggered: list[int] = field(default_factory=list)
    usage: dict[str, FakeUsage] = field(
        default_factory=lambda: {"salesforce": FakeUsage(), "hubspot": FakeUsage()}
    )

    role: str = "leader"
    #: What the dashboard asked the scheduler to run now (connectors and jobs).
    triggered_jobs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cycles = CycleLog(started_at=START)
        self.metrics = ServiceMetrics(self.usage)

    @property
    def since(self) -> datetime:
        return START

    def trigger(self, name: str) -> bool:
        self.triggered_jobs.append(name)
        return True

    def clock(self) -> datetime:
        return self.now[0]

    def app(
        self,
        token: str | None = None,
        max_body: int = 1024 * 1024,
        allowed_hosts: Sequence[str] | None = TEST_HOSTS,
    ) -> Any:
        def on_delivery(events: list[Any]) -> bool:
            self.triggered.append(len(events))
            return len(self.triggered) == 1

        webhook = HubSpotWebhook(
            SECRET, on_delivery, self.metrics, max_body=max_body, clock=lambda: datetime.now(UTC)
        )
        return build_app(
            ServiceParts(
                store=self.store,
                connectors=list(self.usage),
                interval=timedelta(minutes=5),
                cycles=self.cycles,
                metrics=self.metrics,
                webhook=webhook,
                webhook_path="/hooks/hubspot",
                access_token=token,
                clock=self.clock,
                leadership=self,
                usage=self.usage,
                trigger=self.trigger,
                allowed_hosts=allowed_hosts,
            )
        )


def open_test_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'leadsync.db'}")


def hubspot_delivery(
    url: str, events: list[dict[str, Any]], secret: str = SECRET, at_ms: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A delivery body and the headers HubSpot would sign it with."""
    body = json.dumps(events).encode()
    timestamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, timestamp),
    }
    return body, headers


def contact_event(event_id: int, object_id: int = 101) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "propertyName": "lifecyclestage",
        "propertyValue": "lead",
        "changeSource": "FORM",
    }


#: ``leadsync run`` in a child process, from this checkout (``-c`` so no install is needed).
RUN = (
    "import sys\nfrom leadsync.cli import service_cmds\nfrom leadsync.cli.app import main\n"
    "sys.argv = ['leadsync', *sys.argv[1:]]\nmain()\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(config: Path, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    """``leadsync --config CONFIG run --grace 20 EXTRA...`` with its output captured."""
    return subprocess.Popen(
        [sys.executable, "-c", RUN, "--config", str(config), "run", "--grace", "20", *extra],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` over real HTTP on a free loopback port (uvicorn in a thread); yields its URL."""
    port = free_port()
    server = uvicorn.Server(http_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
