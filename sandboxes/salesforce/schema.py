"""The sandbox org's metadata: objects, fields and how describe reports them.

Field names are case-insensitive in Salesforce (SOQL and REST bodies alike), so each object
keeps a lower-cased index; records always store the canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: describe ``type`` -> SOAP type, as the real describe reports them.
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "url": "xsd:string",
    "phone": "xsd:string",
    "double": "xsd:double",
    "currency": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
}
TEXT_TYPES = frozenset({"string", "picklist", "textarea", "email", "url", "phone", "id"})
NUMBER_TYPES = frozenset({"double", "currency", "int"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field as describe reports it."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    default: Any = None

    def permissionable(self) -> bool:
        """Whether field-level security applies to it (describe's ``permissionable``): system
        fields, the name and required fields are always visible, so no grant can name them."""
        if self.name in _SYSTEM_FIELDS:
            return False
        return self.custom or self.nillable or self.type == "boolean"

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``/sobjects/{Type}/describe``."""
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "soapType": _SOAP_TYPES[self.type],
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "calculated": False,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "currency", "datetime"),
            "defaultValue": self.default,
            "defaultedOnCreate": self.default is not None or self.name in _DEFAULTED,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "permissionable": self.permissionable(),
        }


_SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "OwnerId",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "Name",
    }
)
_DEFAULTED = frozenset({"Id", "OwnerId", "CreatedDate", "LastModifiedDate", "SystemModstamp"})


@dataclass(slots=True)
class ObjectDef:
    """One sObject type: its key prefix and fields (mutable: Tooling adds custom fields)."""

    name: str
    prefix: str
    label: str
    fields: dict[str, FieldDef]
    custom: bool = False
    createable: bool = True
    _index: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {name.lower(): name for name in self.fields}

    def field(self, name: str) -> FieldDef | None:
        """The field named ``name`` in any letter case, or ``None``."""
        canonical = self._index.get(name.lower())
        return self.fields[canonical] if canonical else None

    def add(self, definition: FieldDef) -> None:
        """Add a field (Tooling CustomField create)."""
        self.fields[definition.name] = definition
        self._index[definition.name.lower()] = definition.name

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship is called ``name`` (``Account`` -> AccountId)."""
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.relationship_name and candidate.relationship_name.lower() == lowered:
                return candidate
        return None

    def describe(self, version: str) -> dict[str, Any]:
        """The body of ``/sobjects/{Type}/describe``."""
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields.values()],
            "recordTypeInfos": [],
            "childRelationships": [],
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The object's entry in the global describe."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.createable,
            "deletable": self.createable,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "urls": {
                "sobject": base,
                "describe": base + "/describe",
                "rowTemplate": base + "/{ID}",
            },
        }
