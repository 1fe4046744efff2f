"""Tooling API ``POST /tooling/sobjects/CustomField``: create a custom field from Metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandboxes.salesforce.protocol import Request, Response
from sandboxes.salesforce.schema import FieldDef
from sandboxes.salesforce.writes import ApiError

if TYPE_CHECKING:
    from sandboxes.salesforce.app import SandboxApi

#: Metadata type -> describe type.
_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Number": "double",
    "Currency": "currency",
    "Percent": "double",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
    "Picklist": "picklist",
}


def create_custom_field(api: SandboxApi, request: Request) -> Response:
    """Validate the Metadata like the Tooling API and add the field to the live schema."""
    try:
        body = request.json()
    except ValueError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Body must be a JSON object")
    full_name = body.get("FullName")
    metadata = body.get("Metadata")
    if not isinstance(full_name, str) or "." not in full_name or not isinstance(metadata, dict):
        raise ApiError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName, Metadata]", []
        )
    object_name, _, field_name = full_name.partition(".")
    if object_name.lower() in ("task", "event"):
        # Custom activity fields live on Activity and appear on both Task and Event.
        raise ApiError(
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            f"Cannot create a custom field on {object_name}: create it on Activity "
            f"(FullName 'Activity.{field_name}')",
            ["FullName"],
        )
    if object_name.lower() == "activity":
        return _create_activity_field(api, field_name, metadata)
    # Setup sees every field: one hidden from the API user is still a duplicate name.
    definition = api.org.full_def(object_name)
    if definition is None:
        raise ApiError(
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            f"Cannot find the entity definition for {object_name}",
            ["FullName"],
        )
    developer = _check_developer_name(field_name)
    if definition.field(field_name) is not None:
        raise ApiError(
            400,
            "DUPLICATE_DEVELOPER_NAME",
            f"There is already a field named {developer} on {definition.name}.",
            ["FullName"],
        )
    spec = _field_from_metadata(field_name, metadata)
    api.org.add_field(definition.name, spec, secured=True)
    new_id = api.org.ids.new("00N")
    return Response.json(
        201, {"id": new_id, "success": True, "errors": [], "warnings": [], "infos": []}
    )


def _check_developer_name(field_name: str) -> str:
    """The developer name of a custom field API name, or the documented refusal."""
    developer = field_name[:-3]
    if (
        not field_name.endswith("__c")
        or not developer
        or not developer.replace("_", "a").isalnum()
        or not developer[0].isalpha()
        or "__" in developer
        or developer.endswith("_")
    ):
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"The API name {field_name} must end with __c, begin with a letter and use "
            "only letters, digits and single underscores.",
            ["FullName"],
        )
    return developer


def _create_activity_field(api: SandboxApi, field_name: str, metadata: dict[str, Any]) -> Response:
    task, event = api.org.full_def("Task"), api.org.full_def("Event")
    assert task is not None and event is not None
    _check_developer_name(field_name)
    if task.field(field_name) is not None:
        raise ApiError(
            400,
            "DUPLICATE_DEVELOPER_NAME",
            f"There is already a field named {field_name[:-3]} on Activity.",
            ["FullName"],
        )
    spec = _field_from_metadata(field_name, metadata)
    api.org.add_field("Task", spec, secured=True)
    api.org.add_field("Event", spec, secured=True)
    return Response.json(
        201,
        {"id": api.org.ids.new("00N"), "success": True, "errors": [], "warnings": [], "infos": []},
    )


def _field_from_metadata(name: str, metadata: dict[str, Any]) -> FieldDef:
    label = metadata.get("label")
    meta_type = metadata.get("type")
    if not label:
        raise ApiError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [label]", ["label"]
        )
    if meta_type not in _TYPES:
        raise ApiError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"Invalid field type {meta_type!r}; use one of {sorted(_TYPES)}",
            ["type"],
        )
    kind = _TYPES[meta_type]
    kw: dict[str, Any] = {
        "custom": True,
        "external_id": bool(metadata.get("externalId")),
        "unique": bool(metadata.get("unique")),
    }
    if meta_type in ("Text", "TextArea", "LongTextArea"):
        length = metadata.get("length", 255 if meta_type == "TextArea" else None)
        limit = 255 if meta_type != "LongTextArea" else 131072
        if not isinstance(length, int) or not 1 <= length <= limit:
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Length must be between 1 and {limit}",
                ["length"],
            )
        kw["length"] = length
    elif meta_type in ("Number", "Currency", "Percent"):
        precision = metadata.get("precision", 18)
        scale = metadata.get("scale", 0)
        if not (
            isinstance(precision, int)
            and isinstance(scale, int)
            and 1 <= precision <= 18
            and 0 <= scale <= precision
        ):
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Precision must be 1-18 and scale between 0 and the precision",
                ["precision"],
            )
        kw.update(precision=precision, scale=scale)
    elif meta_type == "Checkbox":
        default = str(metadata.get("defaultValue", "")).lower()
        if default not in ("true", "false"):
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Checkbox fields require a defaultValue of true or false",
                ["defaultValue"],
            )
        kw.update(default=default == "true", nillable=False)
    elif meta_type == "Picklist":
        value_set = metadata.get("valueSet") or {}
        definition = value_set.get("valueSetDefinition") or {}
        values = definition.get("value") or []
        names = [v.get("fullName") for v in values if isinstance(v, dict)]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "A picklist needs valueSet.valueSetDefinition.value entries with a fullName",
                ["valueSet"],
            )
        kw.update(picklist=tuple(names), restricted=bool(value_set.get("restricted")), length=255)
    elif kind in ("email", "url", "phone"):
        kw["length"] = {"email": 80, "url": 255, "phone": 40}[kind]
    return FieldDef(name, kind, str(label), **kw)


def _valid_developer_name(field_name: str) -> bool:
    developer = field_name[:-3]
    return (
        field_name.endswith("__c")
        and bool(developer)
        and developer.replace("_", "a").isalnum()
        and developer[0].isalpha()
        and "__" not in developer
        and not developer.endswith("_")
    )
