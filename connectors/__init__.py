"""CRM connectors: one folder per CRM holding its client, connector and sandbox side by side."""
