"""An emulator of the HubSpot API subset LeadSync uses, served over real HTTP(S).

Strict where HubSpot is strict (paging and batch limits, property validation, error bodies,
rate limits), so the official ``hubspot-api-client`` runs against it end to end::

    portal = generate_portal(contacts=3000, seed=7)
    with HubSpotSandbox(portal) as sb:
        client = hubspot.HubSpot(access_token=sb.access_token, host=sb.url)
"""

from sandboxes.hubspot.generate import generate_portal
from sandboxes.hubspot.portal import PortalState
from sandboxes.hubspot.serve import serve
from sandboxes.hubspot.server import HubSpotSandbox

__all__ = ["HubSpotSandbox", "PortalState", "generate_portal", "serve"]
