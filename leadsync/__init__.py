"""LeadSync: qualify B2B leads in Salesforce and HubSpot and run the hand-off to sales."""

__version__ = "0.1.0"
