"""Record writes as the API performs them: typed parsing, field validation, validation rules,
the Lead assignment rule, injected faults, and all-or-none rollback.

Two failure levels, as in the real API: :class:`ApiError` fails the whole request (a body
that cannot be deserialized, an unknown field), :class:`RecordFailure` fails one record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandboxes.salesforce import security
from sandboxes.salesforce.faults import FaultBoard
from sandboxes.salesforce.ids import to18
from sandboxes.salesforce.org import OrgState
from sandboxes.salesforce.schema import FieldDef, ObjectDef

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REQUIRED = {
    "Lead": ("LastName", "Company"),
    "Contact": ("LastName",),
    "Account": ("Name",),
    "Campaign": ("Name",),
    "CampaignMember": ("CampaignId",),
}
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


class ApiError(Exception):
    """The whole request fails: HTTP ``status`` with the API's error list as body."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        self.status = status
        self.body: list[dict[str, Any]] = [{"message": message, "errorCode": code}]
        if fields is not None:
            self.body[0]["fields"] = fields
        super().__init__(f"{code}: {message}")


class RecordFailure(Exception):
    """One record fails with the API's ``statusCode``, message and field names."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        self.code = code
        self.message = message
        self.fields = fields or []
        super().__init__(f"{code}: {message}")

    def as_error(self) -> dict[str, Any]:
        """The entry in a result's ``errors`` list."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_api_error(self, status: int = 400) -> ApiError:
        """The same failure as a single-record request reports it."""
        return ApiError(status, self.code, self.message, self.fields)


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What one API request writes with: the org, armed faults, and its headers' effect."""

    org: OrgState
    faults: FaultBoard
    #: False when the request carried ``Sforce-Auto-Assign: FALSE``.
    auto_assign: bool = True


def parse_body(definition: ObjectDef, body: Mapping[str, Any]) -> dict[str, Any]:
    """JSON field values -> typed values; unknown fields and undecodable values fail the request.

    ``attributes`` is the only non-field key allowed, as the API's deserializer requires.
    """
    values: dict[str, Any] = {}
    for key, raw in body.items():
        if key == "attributes":
            continue
        spec = definition.field(key)
        if spec is None:
            raise ApiError(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {definition.name}"
            )
        values[spec.name] = decode(spec, raw)
    return values


def decode(spec: FieldDef, raw: Any) -> Any:
    """One JSON value for ``spec``; a value of the wrong JSON type fails like the deserializer."""
    if raw is None:
        return None
    kind = spec.type
    try:
        if kind in ("double", "currency"):
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError
        if kind == "datetime":
            return parse_datetime(str(raw))
        if kind == "date":
            return date.fromisoformat(str(raw)[:10])
        if isinstance(raw, dict | list):
            raise ValueError
        return raw if isinstance(raw, str) else json_scalar_text(raw)
    except (ValueError, TypeError, OverflowError):
        word = {
            "double": "double",
            "currency": "double",
            "int": "int",
            "boolean": "boolean",
            "datetime": "Datetime",
            "date": "Date",
        }.get(kind, "String")
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {word} from {type(raw).__name__} value "
            f"{raw} or request may be missing a required field",
        ) from None


def json_scalar_text(raw: Any) -> str:
    """Numbers and booleans sent for text fields are stored as their text, as Salesforce does."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date-time as the API accepts it (Z, +00:00 or +0000 offsets)."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_record(
    ctx: WriteContext, definition: ObjectDef, old: Mapping[str, Any] | None, values: dict[str, Any]
) -> dict[str, Any]:
    """Validate one record's values; return them with the assignment rule applied.

    ``old`` is the stored record for an update, ``None`` for a create.
    """
    org = ctx.org
    name = definition.name
    record_id = old.get("Id") if old else None
    if old is not None:
        if ctx.faults.take("lock_rows"):
            raise RecordFailure(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 200 records",
            )
        if old.get("IsDeleted"):
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted", [])
        if name == "Lead" and old.get("IsConverted"):
            raise RecordFailure("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    rejection = ctx.faults.take("reject", name, record_id)
    if rejection:
        raise RecordFailure(rejection.code, rejection.message, list(rejection.fields))
    updating = old is not None
    bad_access = [k for k in values if not _writable(definition.fields[k], updating) and k != "Id"]
    if bad_access:
        raise RecordFailure(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(bad_access)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            bad_access,
        )
    for key, value in values.items():
        _check_value(org, definition, definition.fields[key], value)
    _check_unique(org, definition, record_id, values)
    merged = {**(old or {}), **values}
    if old is None:
        missing = [f for f in _REQUIRED.get(name, ()) if merged.get(f) in (None, "")]
        if missing:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
    else:
        blanked = [
            k
            for k, v in values.items()
            if v in (None, "")
            and not definition.fields[k].nillable
            and definition.fields[k].type != "boolean"
        ]
        if blanked:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(blanked)}]",
                blanked,
            )
    refusal = security.refuse(org, name, old, merged)
    if refusal is not None:
        raise RecordFailure(*refusal)
    for rule in org.validation_rules:
        if rule.object_type == name and rule.applies(old, merged):
            raise RecordFailure(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                rule.message,
                [rule.field] if rule.field else [],
            )
    result = dict(values)
    if name == "CampaignMember" and old is None:
        result.update(_new_campaign_member(org, merged))
    if name == "Lead" and ctx.auto_assign and org.assignment_queue_id:
        # The org's active Lead assignment rule: every API save of a Lead re-runs it unless
        # the request says Sforce-Auto-Assign: FALSE, and it routes to the Sales Queue.
        result["OwnerId"] = org.assignment_queue_id
    return result


def _check_unique(
    org: OrgState, definition: ObjectDef, record_id: Any, values: Mapping[str, Any]
) -> None:
    """A Unique field's value may belong to one live record only (case-insensitive)."""
    for key, value in values.items():
        spec = definition.fields[key]
        if not spec.unique or value in (None, ""):
            continue
        holder = org.find_unique(definition.name, spec.name, str(value))
        if holder is not None and holder != record_id:
            raise RecordFailure(
                "DUPLICATE_VALUE",
                f"duplicate value found: {spec.name} duplicates value on record with id: {holder}",
            )


def _new_campaign_member(org: OrgState, values: Mapping[str, Any]) -> dict[str, Any]:
    """A new member names exactly one person not yet in the campaign; with no Status it gets
    the campaign's default member status (what the org does on insert)."""
    person = values.get("LeadId") or values.get("ContactId")
    if not person:
        raise RecordFailure(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LeadId, ContactId]",
            ["LeadId", "ContactId"],
        )
    campaign = str(values["CampaignId"])
    if org.campaign_member(campaign, str(person)) is not None:
        raise RecordFailure("DUPLICATE_VALUE", "Already a campaign member.")
    if values.get("Status"):
        return {}
    return {"Status": org.default_member_status(campaign)}


def _writable(spec: FieldDef, updating: bool) -> bool:
    return spec.updateable if updating else spec.createable


def _check_value(org: OrgState, definition: ObjectDef, spec: FieldDef, value: Any) -> None:
    label = spec.label or spec.name
    if value is None:
        return
    if spec.type in ("string", "textarea", "email", "url", "phone", "picklist"):
        text = str(value)
        if spec.type == "picklist" and spec.restricted and text not in spec.picklist:
            raise RecordFailure(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {text}",
                [spec.name],
            )
        if spec.length and len(text) > spec.length:
            raise RecordFailure(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {text[:80]} (max length={spec.length})",
                [spec.name],
            )
        if spec.type == "email" and text and not _EMAIL.match(text):
            raise RecordFailure(
                "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {text}", [spec.name]
            )
    elif spec.type in ("double", "currency", "int") and spec.precision:
        whole_digits = spec.precision - spec.scale
        if abs(float(value)) >= 10**whole_digits:
            raise RecordFailure(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{label}: value outside of valid range on numeric field: {value}",
                [spec.name],
            )
    elif spec.type == "reference":
        _check_reference(org, definition, spec, str(value))


def _check_reference(org: OrgState, definition: ObjectDef, spec: FieldDef, value: str) -> None:
    full = to18(value)
    target_type = org.type_of_id(full) if full else None
    if full is None or target_type not in spec.reference_to:
        raise RecordFailure(
            "MALFORMED_ID", f"{spec.label}: id value of incorrect type: {value}", [spec.name]
        )
    target = org.raw(target_type, full)
    if target is None:
        raise RecordFailure(
            "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name]
        )
    if target.get("IsDeleted"):
        raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted", [spec.name])
    if spec.name == "OwnerId" and target_type == "User" and not target.get("IsActive"):
        raise RecordFailure(
            "INACTIVE_OWNER_OR_USER",
            f"operation performed with inactive user [{full}] as owner of "
            f"{definition.name.lower()}",
            [spec.name],
        )
    if spec.name == "OwnerId" and target_type == "Group" and target.get("Type") != "Queue":
        raise RecordFailure(
            "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name]
        )


def create(ctx: WriteContext, definition: ObjectDef, values: dict[str, Any]) -> str:
    """Validate and insert one record; returns its id or raises :class:`RecordFailure`."""
    checked = check_record(ctx, definition, None, values)
    if "OwnerId" in definition.fields and "OwnerId" not in checked:
        checked["OwnerId"] = ctx.org.integration_user_id
    return ctx.org.insert(definition.name, checked, by=ctx.org.integration_user_id)


def update(ctx: WriteContext, definition: ObjectDef, record_id: str, values: dict[str, Any]) -> str:
    """Validate and update one record by id; returns the 18-character id."""
    full = to18(record_id)
    if full is None or ctx.org.type_of_id(full) != definition.name:
        raise RecordFailure(
            "MALFORMED_ID",
            f"{definition.label} ID: id value of incorrect type: {record_id}",
            ["Id"],
        )
    with ctx.org.lock:
        old = ctx.org.raw(definition.name, full)
        if old is None:
            raise RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        values = {k: v for k, v in values.items() if k != "Id"}
        checked = check_record(ctx, definition, old, values)
        ctx.org.update(definition.name, full, checked, by=ctx.org.integration_user_id)
    return full


def delete(ctx: WriteContext, record_id: str) -> str:
    """Delete one record by id (to the recycle bin); returns the 18-character id."""
    full = to18(record_id)
    object_type = ctx.org.type_of_id(full) if full else None
    if full is None or object_type is None:
        raise RecordFailure("MALFORMED_ID", f"malformed id {record_id}")
    with ctx.org.lock:
        old = ctx.org.raw(object_type, full)
        if old is None:
            raise RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if old.get("IsDeleted"):
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted")
        if ctx.faults.take("lock_rows"):
            raise RecordFailure(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 200 records",
            )
        refusal = security.refuse_delete(ctx.org, object_type, full)
        if refusal is not None:
            raise RecordFailure(*refusal)
        ctx.org.delete(object_type, full, by=ctx.org.integration_user_id)
        security.cascade(ctx.org, object_type, full)
    return full


def upsert(
    ctx: WriteContext, definition: ObjectDef, key_field: FieldDef, key: str, values: dict[str, Any]
) -> tuple[str, bool]:
    """Create or update by external id; returns ``(id, created)``."""
    if key_field.name in values and str(values[key_field.name]) != key:
        raise RecordFailure(
            "INVALID_FIELD", f"The value of {key_field.name} in the body does not match the URL"
        )
    if key_field.name == "Id":
        return update(ctx, definition, key, values), False
    with ctx.org.lock:
        existing = ctx.org.find_unique(definition.name, key_field.name, key)
        if existing is None:
            return create(ctx, definition, {**values, key_field.name: key}), True
        return update(ctx, definition, existing, values), False


def external_id_field(definition: ObjectDef, name: str) -> FieldDef:
    """The field an upsert matches on; it must be Id or an External ID field."""
    spec = definition.field(name)
    if spec is None:
        raise ApiError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {name}",
        )
    if not (spec.external_id or spec.type == "id"):
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"Field {spec.name} is not an External ID or indexed field for {definition.name}",
        )
    return spec
