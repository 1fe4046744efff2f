"""List views: the ``ListView`` metadata an org keeps (made and changed through the Metadata
API, :mod:`metadata`) and the REST resources that read them, ``GET /sobjects/{Type}/listviews``
and ``GET /sobjects/{Type}/listviews/{id}/results``, run as the API's running user.

A list view's columns and filters name fields the way ListView metadata does: standard Lead
fields by their list-view names (``FULL_NAME``, ``LEAD.STATUS``), custom ones by API name. As
on a Lead list view in an org, converted leads are never listed, and a column the running user
cannot read (field-level security) is left out of the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sandboxes.salesforce.ids import to18
from sandboxes.salesforce.protocol import Request, Response
from sandboxes.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef
from sandboxes.salesforce.writes import ApiError

if TYPE_CHECKING:
    from sandboxes.salesforce.app import SandboxApi
    from sandboxes.salesforce.org import OrgState

#: Standard Lead columns by their ListView metadata names -> field API names.
STANDARD_COLUMNS = {
    "Lead": {
        "FULL_NAME": "Name",
        "LEAD.FIRST_NAME": "FirstName",
        "LEAD.LAST_NAME": "LastName",
        "LEAD.COMPANY": "Company",
        "LEAD.TITLE": "Title",
        "LEAD.EMAIL": "Email",
        "LEAD.STATUS": "Status",
        "LEAD.LEAD_SOURCE": "LeadSource",
        "LEAD.INDUSTRY": "Industry",
        "LEAD.CREATED_DATE": "CreatedDate",
        "LEAD.LAST_UPDATE": "LastModifiedDate",
    }
}
FILTER_SCOPES = frozenset(
    {"Everything", "Mine", "Queue", "Delegated", "MyTerritory", "MyTeamTerritory", "Team"}
)
OPERATIONS = frozenset(
    {"equals", "notEqual", "lessThan", "greaterThan", "contains", "notContain", "startsWith"}
)
#: What the results resource sends when the request names no ``limit`` (1-2000).
DEFAULT_LIMIT = 25


@dataclass(frozen=True, slots=True)
class ListViewFilter:
    """One filter line: ``field operation value`` (a comma-separated value matches any)."""

    field: str
    operation: str
    value: str = ""


@dataclass(slots=True)
class ListView:
    """One list view as its metadata describes it, and the id the org gave it."""

    id: str
    full_name: str
    label: str
    filter_scope: str
    columns: list[str] = field(default_factory=list)
    filters: list[ListViewFilter] = field(default_factory=list)
    boolean_filter: str | None = None
    queue: str | None = None

    @property
    def object_type(self) -> str:
        return self.full_name.partition(".")[0]

    @property
    def developer_name(self) -> str:
        return self.full_name.partition(".")[2]


def column_field(definition: ObjectDef, column: str) -> FieldDef | None:
    """The field a metadata column (or filter field) names on ``definition``, or None."""
    standard = STANDARD_COLUMNS.get(definition.name, {}).get(column.upper())
    if standard is not None:
        return definition.field(standard)
    if column.endswith("__c"):
        return definition.field(column.rpartition(".")[2])
    return None


def problems(org: OrgState, view: ListView) -> list[tuple[str, str]]:
    """``(statusCode, message)`` for each way ``view`` is invalid, as a deploy reports them."""
    definition = org.full_def(view.object_type)
    found: list[tuple[str, str]] = []
    if definition is None:
        return [("INVALID_CROSS_REFERENCE_KEY", f"No such entity: {view.object_type}")]
    if not view.label:
        found.append(("REQUIRED_FIELD_MISSING", "Required field is missing: label"))
    if view.filter_scope not in FILTER_SCOPES:
        found.append(("FIELD_INTEGRITY_EXCEPTION", f"Invalid filterScope: {view.filter_scope}"))
    if view.filter_scope == "Queue" and not view.queue:
        found.append(("REQUIRED_FIELD_MISSING", "A Queue filterScope needs a queue"))
    for column in view.columns:
        if column_field(definition, column) is None:
            found.append(("INVALID_FIELD", f"Invalid column: {column} on {definition.name}"))
    for item in view.filters:
        if column_field(definition, item.field) is None:
            found.append(("INVALID_FIELD", f"Invalid filter field: {item.field}"))
        if item.operation not in OPERATIONS:
            found.append(("INVALID_FIELD", f"Invalid filter operation: {item.operation}"))
    return found


def seed(org: OrgState) -> None:
    """The list views every org has on Lead, which LeadSync must leave as they are."""
    for name, label, scope in (
        ("AllOpenLeads", "All Open Leads", "Everything"),
        ("MyUnreadLeads", "My Unread Leads", "Mine"),
    ):
        org.list_views[f"Lead.{name}"] = ListView(
            org.ids.new("00B"),
            f"Lead.{name}",
            label,
            scope,
            ["FULL_NAME", "LEAD.COMPANY", "LEAD.EMAIL", "LEAD.STATUS", "LEAD.CREATED_DATE"],
        )


# --- REST -------------------------------------------------------------------------------------


def list_views(api: SandboxApi, object_type: str, version: str) -> Response:
    """``GET /sobjects/{Type}/listviews``: every list view on the object."""
    definition = _object(api, object_type)
    base = f"/services/data/v{version}/sobjects/{definition.name}/listviews"
    with api.org.lock:
        views = [v for v in api.org.list_views.values() if v.object_type == definition.name]
    entries = [
        {
            "describeUrl": f"{base}/{v.id}/describe",
            "developerName": v.developer_name,
            "id": v.id,
            "label": v.label,
            "resultsUrl": f"{base}/{v.id}/results",
            "soqlCompatible": True,
            "url": f"{base}/{v.id}",
        }
        for v in views
    ]
    return Response.json(
        200, {"done": True, "listviews": entries, "nextRecordsUrl": None, "size": len(entries)}
    )


def results(api: SandboxApi, request: Request, object_type: str, view_id: str) -> Response:
    """``GET /sobjects/{Type}/listviews/{id}/results?limit=&offset=``: the view's query run as
    the running user, columns first and the rows' values as strings."""
    definition = _object(api, object_type)
    view = _by_id(api, definition.name, view_id)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, 2000)
    offset = _int_param(request, "offset", 0, 0, 2000)
    # The running user's view of the object: a column it cannot read is not shown.
    specs = [s for c in view.columns if (s := column_field(definition, c)) is not None]
    rows = _matching(api.org, definition, view)
    if specs:
        rows.sort(key=lambda row: _sort_key(row.get(specs[0].name)))
    page = rows[offset : offset + limit]
    shown = [*specs, definition.fields["Id"]]
    columns = [_column(spec, i, hidden=spec.name == "Id") for i, spec in enumerate(shown)]
    records = [
        {"columns": [{"fieldNameOrPath": s.name, "value": _text(row.get(s.name))} for s in shown]}
        for row in page
    ]
    body = {
        "columns": columns,
        "developerName": view.developer_name,
        "done": offset + limit >= len(rows),
        "id": view.id,
        "label": view.label,
        "records": records,
        "size": len(rows),
    }
    return Response.json(200, body)


def _object(api: SandboxApi, name: str) -> ObjectDef:
    definition = api.org.object_def(name)
    if definition is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return definition


def _by_id(api: SandboxApi, object_type: str, view_id: str) -> ListView:
    wanted = to18(view_id)
    with api.org.lock:
        for view in api.org.list_views.values():
            if view.object_type == object_type and view.id == wanted:
                return view
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400, "INVALID_QUERY_FILTER_OPERATOR", f"{name} must be between {low} and {high}"
        )
    return int(raw)


def _matching(org: OrgState, definition: ObjectDef, view: ListView) -> list[dict[str, Any]]:
    user = to18(org.integration_user_id) if org.integration_user_id else None
    full = org.full_def(definition.name)
    assert full is not None
    tests = [(column_field(full, f.field), f) for f in view.filters]
    rows = []
    for row in org.rows(definition.name):
        if row.get("IsDeleted") or row.get("IsConverted"):
            continue
        if view.filter_scope == "Mine" and to18(str(row.get("OwnerId") or "")) != user:
            continue
        if all(spec is not None and _passes(row.get(spec.name), f) for spec, f in tests):
            rows.append(dict(row))
    return rows


def _passes(value: Any, item: ListViewFilter) -> bool:
    """One filter line; a comma-separated value matches when any of its parts does."""
    wanted = [part.strip() for part in item.value.split(",")] if item.value else [""]
    text = "" if value is None else str(value)
    op = item.operation
    if op == "equals":
        return any(text.lower() == w.lower() for w in wanted)
    if op == "notEqual":
        return all(text.lower() != w.lower() for w in wanted)
    if op == "contains":
        return any(w.lower() in text.lower() for w in wanted)
    if op == "notContain":
        return all(w.lower() not in text.lower() for w in wanted)
    if op == "startsWith":
        return any(text.lower().startswith(w.lower()) for w in wanted)
    if value is None:
        return False
    number = isinstance(value, int | float)
    first = float(wanted[0]) if number else wanted[0]
    return value < first if op == "lessThan" else value > first


def _sort_key(value: Any) -> tuple[int, str]:
    if value is None:
        return (1, "")
    if isinstance(value, int | float):
        return (0, f"{value:020.4f}")
    return (0, str(value).lower())


def _column(spec: FieldDef, index: int, *, hidden: bool) -> dict[str, Any]:
    if spec.type in NUMBER_TYPES:
        ascending, descending = "9-0", "0-9"
    elif spec.type in ("date", "datetime"):
        ascending, descending = "New to Old", "Old to New"
    else:
        ascending, descending = "Z-A", "A-Z"
    return {
        "ascendingLabel": ascending,
        "descendingLabel": descending,
        "fieldNameOrPath": spec.name,
        "hidden": hidden,
        "label": spec.label or spec.name,
        "selectListItem": spec.name,
        "sortDirection": "ascending" if index == 0 else None,
        "sortIndex": 0 if index == 0 else None,
        "sortable": spec.type != "textarea",
        "type": spec.type,
    }


def _text(value: Any) -> str | None:
    """A cell as the resource gives it: text, or null when the field is empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
