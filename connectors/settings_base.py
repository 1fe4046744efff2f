"""Shared base for connector connection settings: strict keys, frozen, secrets never printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator


class ConnectorSettingsBase(BaseModel):
    """Keys common to every CRM connection. Secrets are ``SecretStr`` so no repr shows them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Path of the admin-editable field mapping; relative paths resolve against the config file.
    mapping: Path | None = None
    #: PEM bundle to trust for a private CA (the sandboxes' generated certificate, a proxy).
    ca_bundle: Path | None = None
    timeout_seconds: float = 30.0
    #: How many times a transient failure (429, 5xx, network) is retried inside one call.
    max_retries: int = 5

    @field_validator("mapping", "ca_bundle", "private_key_file", mode="before", check_fields=False)
    @classmethod
    def _path_not_blank(cls, value: Any) -> Any:
        # An empty path would be read as the current folder ("" is Path(".")).
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give a file path, or remove the key")
        return value

    @field_validator("*")
    @classmethod
    def _secret_not_blank(cls, value: Any) -> Any:
        # An empty secret is not a set one: ``${VAR}`` with VAR="" would otherwise pass as a
        # credential and fail later, far from the config (or, for a verifying key, not at all).
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            raise ValueError("is empty; give the secret's value, or remove the key")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("max_retries")
    @classmethod
    def _retries_in_range(cls, value: int) -> int:
        if not 0 <= value <= 20:
            raise ValueError("must be between 0 and 20")
        return value
