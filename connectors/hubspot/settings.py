"""Connection settings for one HubSpot portal (``[connectors.hubspot]`` in the config)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator

from connectors.settings_base import ConnectorSettingsBase


class HubSpotSettings(ConnectorSettingsBase):
    type: Literal["hubspot"] = "hubspot"
    base_url: str = "https://api.hubapi.com"
    #: Private-app access token.
    access_token: SecretStr
    #: The app's client secret, used to verify v3 webhook signatures.
    client_secret: SecretStr | None = None
    #: Daily API calls kept in reserve for the portal's other integrations.
    api_reserve: int = 1_000

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")
