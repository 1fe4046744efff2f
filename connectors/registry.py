"""The CRMs LeadSync can connect to: every ``ConnectorType`` registered in the entry-point group
``leadsync.connectors`` (this package registers Salesforce and HubSpot in ``pyproject.toml``; a
third CRM is a package that registers its own). The core finds connectors here and nowhere else.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from connectors.base import ConnectorType

GROUP = "leadsync.connectors"


@cache
def connector_types() -> dict[str, ConnectorType]:
    """Every registered CRM by its config name, in rank order (then by name)."""
    found: dict[str, ConnectorType] = {}
    for point in entry_points(group=GROUP):
        kind = point.load()
        if not isinstance(kind, ConnectorType):
            raise TypeError(f"entry point {point.name} = {point.value} is not a ConnectorType")
        if kind.name != point.name:
            raise TypeError(f"entry point {point.name} registers a connector named {kind.name}")
        found[kind.name] = kind
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def connector_type(name: str) -> ConnectorType:
    """The registered CRM called ``name``; ``KeyError`` naming the registered ones."""
    types = connector_types()
    if name not in types:
        raise KeyError(f"no connector type {name!r}; registered: {', '.join(types) or 'none'}")
    return types[name]
