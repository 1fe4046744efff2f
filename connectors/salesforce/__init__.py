"""Salesforce: REST/Bulk 2.0 client, connector, and the HTTPS sandbox that emulates the API."""

from connectors.salesforce.connector import SalesforceConnector, build_connector
from connectors.salesforce.mapping import SalesforceMapping, load_mapping
from connectors.salesforce.settings import SalesforceSettings

__all__ = [
    "SalesforceConnector",
    "SalesforceMapping",
    "SalesforceSettings",
    "build_connector",
    "load_mapping",
]
