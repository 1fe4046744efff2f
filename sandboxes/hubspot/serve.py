"""``serve()``: run the sandbox in the foreground for ``leadsync sandbox`` and manual testing."""

from __future__ import annotations

import threading

from sandboxes.hubspot.generate import generate_portal
from sandboxes.hubspot.server import HubSpotSandbox


def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    contacts: int = 3000,
    seed: int = 7,
    live_traffic: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Serve a generated portal until interrupted (or ``stop`` is set); print URL and token.

    With ``live_traffic`` a seeded generator keeps adding contacts, form submissions, email
    events, webinar participation and meetings, as a live portal would.
    """
    from sandboxes.hubspot.traffic import TrafficGenerator

    portal = generate_portal(contacts=contacts, seed=seed)
    stop = stop or threading.Event()
    with HubSpotSandbox(portal, host=host, port=port) as sandbox:
        print(f"HubSpot sandbox: {sandbox.url}")
        print(f"access_token: {sandbox.access_token}")
        print(f"client_secret: {sandbox.client_secret}")
        traffic = TrafficGenerator(portal, seed=seed) if live_traffic else None
        if traffic is not None:
            traffic.start()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if traffic is not None:
                traffic.stop()
