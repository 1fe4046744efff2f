"""Connection settings for one Salesforce org (``[connectors.salesforce]`` in the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.settings_base import ConnectorSettingsBase

AuthMethod = Literal[
    "client_credentials", "jwt_bearer", "refresh_token", "password", "access_token"
]

_NEEDS: dict[str, tuple[str, ...]] = {
    "client_credentials": ("client_id", "client_secret"),
    "jwt_bearer": ("client_id", "username", "private_key_file"),
    "refresh_token": ("client_id", "refresh_token"),
    "password": ("client_id", "client_secret", "username", "password"),
    "access_token": ("access_token", "instance_url"),
}


def _given(value: object) -> bool:
    """Whether a key counts as set: blank text is not (secrets are refused blank earlier)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


class SalesforceSettings(ConnectorSettingsBase):
    type: Literal["salesforce"] = "salesforce"
    #: The org's My Domain URL. With ``access_token`` auth it is required; otherwise the token
    #: endpoint's answer supplies it and this, when set, must agree.
    instance_url: str | None = None
    #: Base of the OAuth token endpoint (``{login_url}/services/oauth2/token``).
    login_url: str = "https://login.salesforce.com"
    api_version: str = "62.0"
    auth: AuthMethod = "client_credentials"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    private_key_file: Path | None = None
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None
    #: Above this many records in one write, use Bulk API 2.0 ingest instead of Collections.
    bulk_write_threshold: int = 10_000
    #: Daily API calls kept in reserve for the org's other integrations; writes stop there.
    api_reserve: int = 1_000
    #: A pull whose first REST page reports more rows than this switches to a Bulk API 2.0
    #: query job (REST pages hold 2,000 rows; a Bulk job costs a handful of calls).
    bulk_query_threshold: int = 10_000
    #: Rows per Bulk API 2.0 query result page (``maxRecords``). Pages bound our memory, and
    #: a backfill killed midway resumes from the last page the store committed.
    bulk_page_size: int = Field(default=50_000, ge=1, le=1_000_000)
    #: A cycle's pull leaves out Leads and Contacts whose last change was LeadSync's own write
    #: (``LastModifiedById`` is LeadSync's user): it does not read back what it wrote. Set
    #: true when another tool writes as the same user, or a Flow that LeadSync's writes start
    #: changes a field LeadSync reads (it runs as LeadSync's user): then every cycle reads them.
    reread_own_writes: bool = False

    # -- On the wire: timeouts and the quick retries of an unreachable host ------------------
    # ``timeout_seconds`` is the read timeout: the longest silence while waiting for an answer.
    #: Seconds to open the TCP connection and finish the TLS handshake. A host that refuses,
    #: drops packets or never answers costs this once per call: timeouts are not retried.
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Read timeout of Bulk API 2.0 result downloads and CSV uploads: Salesforce assembles a
    #: result page (up to ``bulk_page_size`` rows) or stores an upload (up to 100 MB) before
    #: it sends the first byte, which can take longer than an ordinary call's answer.
    bulk_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    #: Quick retries, within one call, of a refused connection, a failed DNS lookup or a
    #: reset connection (a host restarting); then the call fails and the next cycle retries.
    connect_retries: int = Field(default=2, ge=0, le=5)

    @field_validator("bulk_write_threshold", "bulk_query_threshold", "api_reserve")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be zero or a positive number")
        return value

    @field_validator("api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        major, _, minor = value.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError("must look like '62.0'")
        return value

    @field_validator("instance_url", "login_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Salesforce speaks only HTTPS)")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _auth_has_its_keys(self) -> SalesforceSettings:
        missing = [key for key in _NEEDS[self.auth] if not _given(getattr(self, key))]
        if missing:
            raise ValueError(f"auth = '{self.auth}' needs {', '.join(missing)}")
        return self
