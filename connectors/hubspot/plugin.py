"""HubSpot as a registered CRM (the ``leadsync.connectors`` entry point).

Light on purpose: the registry loads it while the config is being defined, so the connector
itself (and everything it imports) is imported only when one is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import Capabilities, Connector, ConnectorType
from connectors.hubspot.settings import HubSpotSettings
from mappings import default_mapping_path


def build(name: str, settings: Any, config_dir: Path | None) -> Connector:
    from connectors.hubspot.connector import build_connector

    return build_connector(name, settings, config_dir)


CONNECTOR = ConnectorType(
    name="hubspot",
    settings=HubSpotSettings,
    build=build,
    #: Nurture programmes are lists (list memberships).
    capabilities=Capabilities(nurture="list"),
    default_mapping=default_mapping_path("hubspot"),
    rank=20,
)
