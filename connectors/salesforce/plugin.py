"""Salesforce as a registered CRM (the ``leadsync.connectors`` entry point).

Light on purpose: the registry loads it while the config is being defined, so the connector
itself (and everything it imports) is imported only when one is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import Capabilities, Connector, ConnectorType
from connectors.salesforce.settings import SalesforceSettings
from mappings import default_mapping_path


def build(name: str, settings: Any, config_dir: Path | None) -> Connector:
    from connectors.salesforce.connector import build_connector

    return build_connector(name, settings, config_dir)


CONNECTOR = ConnectorType(
    name="salesforce",
    settings=SalesforceSettings,
    build=build,
    #: Nurture programmes are campaigns (CampaignMembers); sObject Collections take an owner
    #: change in the same record as the field values, any object mixed in one call;
    #: ``LastModifiedById`` tells LeadSync's own writes from everyone else's.
    capabilities=Capabilities(nurture="campaign", owner_in_write=True, skips_own_writes=True),
    default_mapping=default_mapping_path("salesforce"),
    rank=10,
)
