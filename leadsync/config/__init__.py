"""Configuration: the admin's TOML file and mappings, validated into frozen settings."""

from leadsync.config.settings import (
    CONFIG_ENV,
    ConnectorsSettings,
    Settings,
    literal_secrets,
    load_settings,
    resolve_config_path,
    settings_from_dict,
)

__all__ = [
    "CONFIG_ENV",
    "ConnectorsSettings",
    "Settings",
    "literal_secrets",
    "load_settings",
    "resolve_config_path",
    "settings_from_dict",
]
