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
    #: Burst allowance assumed until the portal's ``X-HubSpot-RateLimit-Max`` header says otherwise
    #: (HubSpot documents 100 per 10 s for Free/Starter private apps, 190 for Pro/Enterprise).
    requests_per_10s: int = 100
    #: The CRM search endpoints' own limit, stricter than the burst limit (documented: 4 per second
    #: per token).
    search_requests_per_second: float = 4.0
    #: How many 429 answers in a row one call may wait out before giving up for this cycle.
    max_throttle_waits: int = 30

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("requests_per_10s", "max_throttle_waits")
    @classmethod
    def _positive_int(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("search_requests_per_second")
    @classmethod
    def _positive_rate(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number of requests per second")
        return value
