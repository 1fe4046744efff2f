"""Configuration: the admin's TOML file and mappings, validated into frozen settings."""
