"""Salesforce: REST/Bulk 2.0 client, connector, and the HTTPS sandbox that emulates the API.

``plugin.CONNECTOR`` registers it (``leadsync.connectors`` entry points).
"""
