"""Connection settings for one HubSpot portal (``[connectors.hubspot]`` in the config)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from connectors.settings_base import ConnectorSettingsBase

_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
#: Shortest client secret accepted: it is the only key webhook signatures are checked with.
MIN_CLIENT_SECRET = 32


class HubSpotSettings(ConnectorSettingsBase):
    type: Literal["hubspot"] = "hubspot"
    base_url: str = "https://api.hubapi.com"
    #: Private-app access token.
    access_token: SecretStr
    #: The app's client secret, used to verify v3 webhook signatures (HubSpot issues a
    #: 36-character UUID; anything shorter than ``MIN_CLIENT_SECRET`` is a placeholder).
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

    # -- On the wire: timeouts and the quick retries of an unreachable host ------------------
    # ``timeout_seconds`` is the read timeout: the longest silence while waiting for an answer.
    #: Seconds to open the TCP connection and finish the TLS handshake. A host that refuses,
    #: drops packets or never answers costs this once per call: timeouts are not retried.
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Quick retries, within one call, of a refused connection, a failed DNS lookup or a
    #: reset connection (a host restarting); then the call fails and the next cycle retries.
    connect_retries: int = Field(default=2, ge=0, le=5)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("client_secret")
    @classmethod
    def _real_client_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or _REFERENCE.fullmatch(value.get_secret_value()):
            return value  # checked once ``${VAR}`` is expanded (``leadsync.config.loading``)
        given = len(value.get_secret_value())
        if given < MIN_CLIENT_SECRET:
            raise ValueError(
                f"is {given} characters; it must be at least {MIN_CLIENT_SECRET} characters "
                "(HubSpot issues a 36-character client secret: copy it from the app's Auth "
                "tab), or remove the key to turn webhooks off"
            )
        return value

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
