"""Field-level security: what the API's running user may read and edit, as a real org decides.

Fields the org had when it was generated (standard fields and its own custom ones) are granted
by the integration user's profile. A field created later through the Tooling API is granted by
no profile: until a ``FieldPermissions`` row of a ``PermissionSet`` assigned to the user grants
it, describe leaves it out, SOQL and REST answer "No such column", and a user who may read but
not edit it is refused with INVALID_FIELD_FOR_INSERT_UPDATE (``writes.check_record``).

``PermissionSet``, ``ObjectPermissions``, ``FieldPermissions`` and ``PermissionSetAssignment``
are ordinary sObjects (REST create, SOQL query, delete), validated here as the API validates
them. Object permissions are recorded and validated; the profile grants every object, so they
change no access in the sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sandboxes.salesforce.ids import to18
from sandboxes.salesforce.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from sandboxes.salesforce.org import OrgState

#: The sObjects that decide access; a write to any of them changes what the user sees.
SECURITY_OBJECTS = frozenset(
    {"PermissionSet", "ObjectPermissions", "FieldPermissions", "PermissionSetAssignment"}
)
#: A permission and those it depends on, as the API enforces on ObjectPermissions.
_OBJECT_DEPENDS = {
    "PermissionsCreate": ("PermissionsRead",),
    "PermissionsEdit": ("PermissionsRead",),
    "PermissionsDelete": ("PermissionsRead", "PermissionsEdit"),
    "PermissionsViewAllRecords": ("PermissionsRead",),
    "PermissionsModifyAllRecords": (
        "PermissionsRead",
        "PermissionsEdit",
        "PermissionsDelete",
        "PermissionsViewAllRecords",
    ),
}

#: A refusal as ``(code, message, fields)``; ``writes`` raises it as a RecordFailure.
Refusal = tuple[str, str, list[str]]


def _field(name: str, kind: str, label: str, **kw: Any) -> FieldDef:
    if kind in ("string", "picklist") and "length" not in kw:
        kw["length"] = 255
    if kind in ("id", "reference"):
        kw.setdefault("length", 18)
    return FieldDef(name, kind, label, **kw)


def _setup_system() -> list[FieldDef]:
    """System fields of a setup object: no owner, nothing writable."""
    ro = {"createable": False, "updateable": False, "nillable": False}
    return [
        _field("Id", "id", "Record ID", **ro),
        _field("IsDeleted", "boolean", "Deleted", **ro),
        _field("CreatedDate", "datetime", "Created Date", **ro),
        _field(
            "CreatedById",
            "reference",
            "Created By ID",
            reference_to=("User",),
            relationship_name="CreatedBy",
            **ro,
        ),
        _field("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        _field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            **ro,
        ),
        _field("SystemModstamp", "datetime", "System Modstamp", **ro),
    ]


def _parent() -> FieldDef:
    return _field(
        "ParentId",
        "reference",
        "Parent ID",
        nillable=False,
        updateable=False,
        reference_to=("PermissionSet",),
        relationship_name="Parent",
    )


def security_objects() -> list[ObjectDef]:
    """The object definitions of the four security sObjects."""
    created_only = {"nillable": False, "updateable": False}
    flag = {"nillable": False, "default": False}
    permission_set = [
        *_setup_system(),
        _field("Name", "string", "Name", length=80, nillable=False, unique=True),
        _field("Label", "string", "Label", length=80, nillable=False),
        _field("Description", "string", "Description", length=255),
        _field(
            "IsOwnedByProfile",
            "boolean",
            "Is Owned By Profile",
            createable=False,
            updateable=False,
            nillable=False,
        ),
        _field("NamespacePrefix", "string", "Namespace Prefix", createable=False, updateable=False),
        # The user permission "Edit Tasks": Task and Event have no ObjectPermissions.
        _field("PermissionsEditTask", "boolean", "Edit Tasks", **flag),
    ]
    object_permissions = [
        *_setup_system(),
        _parent(),
        _field("SobjectType", "picklist", "Sobject Type Name", length=40, **created_only),
        *(_field(p, "boolean", p.removeprefix("Permissions"), **flag) for p in _OBJECT_FLAGS),
    ]
    field_permissions = [
        *_setup_system(),
        _parent(),
        _field("SobjectType", "picklist", "Sobject Type Name", length=40, **created_only),
        _field("Field", "picklist", "Field Name", **created_only),
        _field("PermissionsRead", "boolean", "Read Access", **flag),
        _field("PermissionsEdit", "boolean", "Edit Access", **flag),
    ]
    assignment = [
        *_setup_system(),
        _field(
            "PermissionSetId",
            "reference",
            "Permission Set ID",
            reference_to=("PermissionSet",),
            relationship_name="PermissionSet",
            **created_only,
        ),
        _field(
            "AssigneeId",
            "reference",
            "Assignee ID",
            reference_to=("User",),
            relationship_name="Assignee",
            **created_only,
        ),
    ]
    return [
        ObjectDef("PermissionSet", "0PS", "Permission Set", {f.name: f for f in permission_set}),
        ObjectDef(
            "ObjectPermissions",
            "110",
            "Object Permissions",
            {f.name: f for f in object_permissions},
        ),
        ObjectDef(
            "FieldPermissions", "01k", "Field Permissions", {f.name: f for f in field_permissions}
        ),
        ObjectDef(
            "PermissionSetAssignment",
            "0Pa",
            "Permission Set Assignment",
            {f.name: f for f in assignment},
        ),
    ]


#: Objects whose access is not an ObjectPermissions row: activities follow "Edit Tasks",
#: members their campaign, and setup objects the user's permissions.
_NO_OBJECT_PERMISSIONS = frozenset(
    {"Task", "Event", "CampaignMember", "CampaignMemberStatus", "Group", "QueueSobject", "User"}
    | SECURITY_OBJECTS
)
_OBJECT_FLAGS = (
    "PermissionsRead",
    "PermissionsCreate",
    "PermissionsEdit",
    "PermissionsDelete",
    "PermissionsViewAllRecords",
    "PermissionsModifyAllRecords",
)


class FieldSecurity:
    """Which fields the running user reads and edits, and the views of objects it sees."""

    def __init__(self) -> None:
        #: ``(object, field)`` of fields no profile grants (created through the Tooling API).
        self.secured: set[tuple[str, str]] = set()
        self.version = 0
        self._views: dict[str, tuple[int, ObjectDef]] = {}
        self._lock = threading.Lock()

    def secure(self, object_type: str, field: str) -> None:
        """A new field: only permission sets grant it."""
        with self._lock:
            self.secured.add((object_type, field))
            self.version += 1

    def forget(self, object_type: str, field: str) -> None:
        """A deleted field."""
        with self._lock:
            self.secured.discard((object_type, field))
            self.version += 1

    def changed(self) -> None:
        """A security sObject was written: views are stale."""
        with self._lock:
            self.version += 1

    def view(self, org: OrgState, definition: ObjectDef) -> ObjectDef:
        """``definition`` as the running user sees it: unreadable secured fields left out,
        read-only ones neither createable nor updateable."""
        name = definition.name
        with self._lock:
            secured = [f for (o, f) in self.secured if o == name]
            if not secured:
                return definition
            cached = self._views.get(name)
            version = self.version
        if cached is not None and cached[0] == version:
            return cached[1]
        grants = self.grants(org)
        fields: dict[str, FieldDef] = {}
        for field_name, spec in definition.fields.items():
            if field_name not in secured:
                fields[field_name] = spec
                continue
            read, edit = grants.get(_grant_key(name, field_name), (False, False))
            if not read:
                continue
            if not edit:
                spec = replace(spec, createable=False, updateable=False)
            fields[field_name] = spec
        view = ObjectDef(
            name,
            definition.prefix,
            definition.label,
            fields,
            custom=definition.custom,
            createable=definition.createable,
        )
        with self._lock:
            self._views[name] = (version, view)
        return view

    def grants(self, org: OrgState) -> dict[tuple[str, str], tuple[bool, bool]]:
        """``(object, field)`` -> ``(read, edit)`` from the permission sets assigned to the
        running user (keys lower-cased)."""
        user = to18(org.integration_user_id) if org.integration_user_id else None
        assigned = {
            to18(str(row["PermissionSetId"]))
            for row in org.rows("PermissionSetAssignment")
            if not row.get("IsDeleted") and to18(str(row.get("AssigneeId") or "")) == user
        }
        found: dict[tuple[str, str], tuple[bool, bool]] = {}
        for row in org.rows("FieldPermissions"):
            if row.get("IsDeleted") or to18(str(row.get("ParentId") or "")) not in assigned:
                continue
            sobject, _, field = str(row.get("Field") or "").partition(".")
            key = _grant_key(sobject, field)
            read, edit = found.get(key, (False, False))
            found[key] = (
                read or bool(row.get("PermissionsRead")),
                edit or bool(row.get("PermissionsEdit")),
            )
        return found


def _grant_key(sobject: str, field: str) -> tuple[str, str]:
    """Custom activity fields are one field shown on Task and Event: one grant covers both."""
    kind = "task" if sobject.lower() in ("task", "event") else sobject.lower()
    return kind, field.lower()


# --- validation of the security sObjects -----------------------------------------------------


def refuse(
    org: OrgState, name: str, old: Mapping[str, Any] | None, merged: Mapping[str, Any]
) -> Refusal | None:
    """Why the API refuses this write of a security sObject, or None."""
    if name == "FieldPermissions":
        return _field_permission(org, old, merged)
    if name == "ObjectPermissions":
        return _object_permission(org, old, merged)
    if name == "PermissionSetAssignment":
        return _duplicate(org, name, old, merged, ("AssigneeId", "PermissionSetId"))
    if name == "PermissionSet":
        return _permission_set(merged)
    return None


def _permission_set(merged: Mapping[str, Any]) -> Refusal | None:
    api_name = str(merged.get("Name") or "")
    valid = (
        api_name[:1].isalpha()
        and api_name.replace("_", "a").isalnum()
        and "__" not in api_name
        and not api_name.endswith("_")
    )
    if not valid:
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            "The API Name can only contain underscores and alphanumeric characters. It must "
            "be unique, begin with a letter, not include spaces, not end with an underscore, "
            "and not contain two consecutive underscores.",
            ["Name"],
        )
    return None


def _field_permission(
    org: OrgState, old: Mapping[str, Any] | None, merged: Mapping[str, Any]
) -> Refusal | None:
    field_path = str(merged.get("Field") or "")
    sobject = str(merged.get("SobjectType") or "")
    object_name, _, field_name = field_path.partition(".")
    definition = org.schema.get(object_name)
    spec = definition.field(field_name) if definition is not None else None
    if object_name != sobject or spec is None or not spec.permissionable():
        # Field is a restricted picklist of the permissionable fields of SobjectType.
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            f"Field Name: bad value for restricted picklist field: {field_path}",
            ["Field"],
        )
    if merged.get("PermissionsEdit") and not merged.get("PermissionsRead"):
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            "Permission Edit depends on permission(s): Read",
            ["PermissionsEdit"],
        )
    if merged.get("PermissionsEdit") and not (spec.createable or spec.updateable):
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            f"{field_path} is read-only: PermissionsEdit cannot be granted on it",
            ["PermissionsEdit"],
        )
    return _duplicate(org, "FieldPermissions", old, merged, ("ParentId", "Field"))


def _object_permission(
    org: OrgState, old: Mapping[str, Any] | None, merged: Mapping[str, Any]
) -> Refusal | None:
    sobject = str(merged.get("SobjectType") or "")
    if sobject not in org.schema or sobject in _NO_OBJECT_PERMISSIONS:
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            f"Sobject Type Name: bad value for restricted picklist field: {sobject}",
            ["SobjectType"],
        )
    for permission, needs in _OBJECT_DEPENDS.items():
        missing = [n for n in needs if not merged.get(n)]
        if merged.get(permission) and missing:
            words = ", ".join(n.removeprefix("Permissions") for n in needs)
            return (
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission {permission.removeprefix('Permissions')} depends on "
                f"permission(s): {words}",
                [permission],
            )
    return _duplicate(org, "ObjectPermissions", old, merged, ("ParentId", "SobjectType"))


def _duplicate(
    org: OrgState,
    name: str,
    old: Mapping[str, Any] | None,
    merged: Mapping[str, Any],
    key: tuple[str, ...],
) -> Refusal | None:
    """One row per key (a permission set's grant on a field, a user's assignment)."""
    if old is not None:
        return None  # the key fields are not updateable
    wanted = tuple(_norm(merged.get(k)) for k in key)
    for row in org.rows(name):
        if not row.get("IsDeleted") and tuple(_norm(row.get(k)) for k in key) == wanted:
            return (
                "DUPLICATE_VALUE",
                f"duplicate value found: <unknown> duplicates value on record with id: {row['Id']}",
                [],
            )
    return None


def _norm(value: Any) -> str:
    text = str(value or "")
    return (to18(text) or text) if len(text) in (15, 18) else text.lower()


def refuse_delete(org: OrgState, object_type: str, record_id: str) -> Refusal | None:
    """A permission set still assigned to users cannot be deleted."""
    if object_type != "PermissionSet":
        return None
    assigned = [
        row
        for row in org.rows("PermissionSetAssignment")
        if not row.get("IsDeleted") and to18(str(row.get("PermissionSetId"))) == record_id
    ]
    if assigned:
        return (
            "DELETE_FAILED",
            f"This permission set is assigned to {len(assigned)} user(s). Remove the "
            "assignments before deleting it.",
            [],
        )
    return None


def cascade(org: OrgState, object_type: str, record_id: str) -> None:
    """Deleting a permission set deletes its object and field permissions."""
    if object_type != "PermissionSet":
        return
    for child in ("ObjectPermissions", "FieldPermissions"):
        for row in org.rows(child):
            if not row.get("IsDeleted") and to18(str(row.get("ParentId"))) == record_id:
                org.delete(child, str(row["Id"]))


def seed(org: OrgState, user_id: str, profile: str) -> None:
    """What every org has: the permission set its profile owns, assigned to its users (here
    the integration user), and an admin's own permission set LeadSync must leave alone."""
    owned = org.insert(
        "PermissionSet",
        {"Name": "X00e5g000001IntgAAA", "Label": profile, "IsOwnedByProfile": True},
    )
    org.insert("PermissionSetAssignment", {"PermissionSetId": owned, "AssigneeId": user_id})
    org.insert(
        "PermissionSet",
        {
            "Name": "Sales_Console_User",
            "Label": "Sales Console User",
            "Description": "Created by the org's admin.",
        },
    )
