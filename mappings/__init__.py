"""The admin-editable field maps shipped as defaults (``salesforce.toml``, ``hubspot.toml``)."""

from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent

#: How a connector's check problems name the mapping file: a connector holds its mapping, not
#: where it was read from. ``leadsync check`` puts the absolute path of the file it read in its
#: place (the shipped copy inside an installed package, or the config's ``mapping =``).
MAPPING_FILE = "the mapping file"


def default_mapping_path(crm: str) -> Path:
    """The shipped default mapping file for ``crm`` (``salesforce`` or ``hubspot``)."""
    return DEFAULTS_DIR / f"{crm}.toml"


def mapping_in_use(configured: Path | None, default: Path | None) -> Path | None:
    """The absolute path of the mapping file a connector reads: the config's ``mapping =``
    (already resolved against the config's folder when the config was loaded), else the
    connector's shipped default."""
    chosen = configured or default
    return chosen.resolve() if chosen is not None else None
