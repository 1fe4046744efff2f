"""HubSpot: CRM v3 client, connector, and the sandbox that emulates the API."""
