"""HubSpot: CRM v3 client, connector, and the sandbox that emulates the API.

``plugin.CONNECTOR`` registers it (``leadsync.connectors`` entry points).
"""
