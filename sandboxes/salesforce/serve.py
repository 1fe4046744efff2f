"""``leadsync sandbox``: serve a generated org until interrupted, optionally with live traffic."""

from __future__ import annotations

import threading

import structlog

from sandboxes.salesforce.generator import generate_org
from sandboxes.salesforce.server import SalesforceSandbox
from sandboxes.salesforce.traffic import TrafficGenerator

log = structlog.get_logger(__name__)


def serve(
    host: str = "127.0.0.1",
    port: int = 8443,
    leads: int = 5000,
    seed: int = 7,
    tls: bool = True,
    live_traffic: bool = False,
    *,
    tick_seconds: float = 5.0,
    stop: threading.Event | None = None,
) -> None:
    """Generate an org and serve it, printing the URL, credentials and CA path; blocks.

    Returns when ``stop`` is set (or on Ctrl-C). With ``live_traffic`` the org changes every
    ``tick_seconds``: new leads, campaign responses, form submissions, rep tasks, recycles,
    conversions.
    """
    stop = stop or threading.Event()
    org = generate_org(leads=leads, seed=seed)
    with SalesforceSandbox(org, host=host, port=port, tls=tls) as sandbox:
        print(f"Salesforce sandbox serving {sandbox.url}")
        print(f"  instance_url / login_url = {sandbox.url}")
        print(f"  ca_bundle     = {sandbox.ca_file or '(plain HTTP)'}")
        print(f"  client_id     = {sandbox.client_id}")
        print(f"  client_secret = {sandbox.client_secret}")
        print(f"  username      = {sandbox.username}")
        print(f"  password      = {sandbox.password}")
        print(f"  refresh_token = {sandbox.refresh_token}")
        print(f"  stats  = GET {sandbox.url}/_sandbox/stats")
        print(f"  faults = POST {sandbox.url}/_sandbox/faults")
        traffic = TrafficGenerator(org, seed=seed) if live_traffic else None
        try:
            while not stop.wait(tick_seconds if traffic else 0.5):
                if traffic is not None:
                    changed = traffic.tick()
                    log.info("salesforce_sandbox.traffic", **changed)
        except KeyboardInterrupt:
            pass
