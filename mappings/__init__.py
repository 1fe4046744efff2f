"""The admin-editable field maps shipped as defaults (``salesforce.toml``, ``hubspot.toml``)."""

from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent


def default_mapping_path(crm: str) -> Path:
    """The shipped default mapping file for ``crm`` (``salesforce`` or ``hubspot``)."""
    return DEFAULTS_DIR / f"{crm}.toml"
