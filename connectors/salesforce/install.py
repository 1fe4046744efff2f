"""``leadsync install`` / ``uninstall`` for Salesforce: permission sets and Lead list views.

Install makes, and uninstall removes:

* ``LeadSync_Integration``: read on every mapped input, edit on every output, the custom
  status fields and the Task key, Edit on Leads and Contacts (owner and status at hand-off)
  and "Edit Tasks"; assigned to the user LeadSync logs in as. A field created through the
  Tooling API is granted by no profile, so without it LeadSync can neither see nor write it.
* ``LeadSync_Sales``: read on the outputs; assigned to the reps when asked (``--sales-access``).
* Lead list views sales and marketing open, with Fit, Score, Readiness, Team and Reason as
  columns (Metadata API ``ListView``).

Permission sets and their grants and assignments are sObjects (REST and SOQL); list views and
fields are metadata (``metadata.MetadataApi``). Each plan reads the org and changes nothing;
each step's ``run`` makes its change. What LeadSync owns is known by name, so an admin's own
permission sets and views are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from connectors.base import InstallStep
from connectors.salesforce import access, soql
from connectors.salesforce.access import Grants
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.fields import Describer, resolve
from connectors.salesforce.mapping import SalesforceMapping
from connectors.salesforce.metadata import MetadataApi
from leadsync.errors import FatalSyncError

INTEGRATION_SET = "LeadSync_Integration"
SALES_SET = "LeadSync_Sales"
_OBJECT_FLAGS = ("PermissionsRead", "PermissionsCreate", "PermissionsEdit", "PermissionsDelete")
#: Object access per set: Leads and Contacts are edited at hand-off (owner, status), campaigns
#: take members at recycle and nurture enrolment; sales reads the people.
_OBJECTS: dict[str, dict[str, tuple[str, ...]]] = {
    INTEGRATION_SET: {
        "Lead": ("PermissionsRead", "PermissionsEdit"),
        "Contact": ("PermissionsRead", "PermissionsEdit"),
        "Account": ("PermissionsRead",),
        "Campaign": ("PermissionsRead", "PermissionsEdit"),
    },
    SALES_SET: {"Lead": ("PermissionsRead",), "Contact": ("PermissionsRead",)},
}
_LABELS = {INTEGRATION_SET: "LeadSync Integration", SALES_SET: "LeadSync Sales"}
_DESCRIPTIONS = {
    INTEGRATION_SET: "Made by leadsync install: what the LeadSync integration user reads and "
    "writes. Removed by leadsync uninstall.",
    SALES_SET: "Made by leadsync install: read on LeadSync's scores for sales. Removed by "
    "leadsync uninstall.",
}
_COLLECTION = 200


@dataclass(frozen=True, slots=True)
class PermissionSetSpec:
    """A permission set as LeadSync wants it."""

    name: str
    grants: Grants
    objects: Mapping[str, tuple[str, ...]]
    edit_task: bool = False

    def header(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Label": _LABELS[self.name],
            "Description": _DESCRIPTIONS[self.name],
            "PermissionsEditTask": self.edit_task,
        }


@dataclass(slots=True)
class PermissionSetState:
    """A permission set as the org has it: its row, grants, object access and assignments."""

    row: dict[str, Any]
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Assignee (15-character id) -> (the assignment's id, the assignee's id as the org
    #: gives it).
    assignees: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.row["Id"])


@dataclass(frozen=True, slots=True)
class ListViewSpec:
    """A Lead list view as LeadSync wants it."""

    full_name: str
    label: str
    scope: str
    columns: tuple[str, ...]
    filters: tuple[tuple[str, str, str], ...]


class Installer:
    """Plans install and uninstall for one org."""

    def __init__(
        self,
        client: SalesforceClient,
        mapping: SalesforceMapping,
        describe: Describer,
        metadata: MetadataApi,
    ) -> None:
        self.client = client
        self.mapping = mapping
        self.describe = describe
        self.metadata = metadata
        #: Permission set name -> id, as a step made or found it: an assignment step (one per
        #: rep) needs the id of a set an earlier step of the same run may have just made.
        self._set_ids: dict[str, str] = {}

    # -- plans ------------------------------------------------------------------------------

    def plan_install(self, sales_users: Sequence[str]) -> list[InstallStep]:
        hidden = self.hidden_fields()
        reads = list(access.inputs(self.mapping, self.describe))
        edits = list(access.outputs(self.mapping))
        specs = [
            PermissionSetSpec(
                INTEGRATION_SET,
                access.wanted_grants(reads, edits, self.describe, hidden),
                _OBJECTS[INTEGRATION_SET],
                edit_task=True,
            ),
            PermissionSetSpec(
                SALES_SET,
                access.wanted_grants(
                    list(access.score_fields(self.mapping)), [], self.describe, hidden
                ),
                _OBJECTS[SALES_SET],
            ),
        ]
        have = self._permission_sets()
        self._set_ids = {name: state.id for name, state in have.items()}
        own = self._own_user_id()
        steps: list[InstallStep] = []
        for spec in specs:
            steps.append(self._set_step(spec, have.get(spec.name)))
            users = [own] if spec.name == INTEGRATION_SET else list(dict.fromkeys(sales_users))
            for user in users:
                state = have.get(spec.name)
                assigned = state is not None and user[:15] in state.assignees
                who = "the integration user" if user == own else user
                what = f"assignment of {spec.name} to {who}"
                steps.append(
                    InstallStep(what, "unchanged")
                    if assigned
                    else InstallStep(what, "assign", "", self._assigner(spec.name, user))
                )
        # Fields hidden now are granted by the integration set's step, which runs first.
        wanted = self.list_views(hidden)
        have_views = self._read_views([v.full_name for v in wanted])
        steps += [self._view_step(view, have_views.get(view.full_name)) for view in wanted]
        return steps

    def plan_uninstall(self, remove_fields: bool) -> list[InstallStep]:
        steps: list[InstallStep] = []
        wanted = [v.full_name for v in self.list_views(every=True)]
        for name in self._read_views(wanted):
            steps.append(InstallStep(f"list view {name}", "remove", "", self._view_remover(name)))
        if remove_fields:
            steps += self._field_removals()
        have = self._permission_sets()
        own = self._own_user_id()
        for name in (SALES_SET, INTEGRATION_SET):
            state = have.get(name)
            if state is None:
                continue
            for user, (assignment, assignee) in state.assignees.items():
                who = "the integration user" if user == own[:15] else assignee
                steps.append(
                    InstallStep(
                        f"assignment of {name} to {who}",
                        "unassign",
                        "",
                        self._deleter([assignment]),
                    )
                )
            steps.append(
                InstallStep(f"permission set {name}", "remove", "", self._deleter([state.id]))
            )
        return steps

    # -- fields hidden by field-level security ------------------------------------------------

    def hidden_fields(self) -> set[str]:
        """Mapped custom fields the org has but the integration user cannot see, as
        ``Lead.Fit__c`` (the Metadata API reads them whoever may see them)."""
        refs = [*access.inputs(self.mapping, self.describe), *access.outputs(self.mapping)]
        missing = access.missing_custom(refs, self.describe)
        if not missing:
            return set()
        found = self.metadata.read("CustomField", [r.metadata_name for r in missing])
        return {r.qualified for r in missing if r.metadata_name in found}

    def _field_removals(self) -> list[InstallStep]:
        """LeadSync's own fields (labelled ``LeadSync ...`` by ``fields create``)."""
        refs = list(dict.fromkeys(access.outputs(self.mapping)))
        names = [r.metadata_name for r in refs if r.field.endswith("__c")]
        found = self.metadata.read("CustomField", names)
        steps = []
        for ref in refs:
            component = found.get(ref.metadata_name)
            if component is None or not str(component.label or "").startswith("LeadSync"):
                continue
            steps.append(
                InstallStep(
                    f"field {ref.metadata_name}",
                    "remove",
                    "and the values it holds",
                    self._field_remover(ref.metadata_name),
                )
            )
        return list({s.what: s for s in steps}.values())

    # -- permission sets ---------------------------------------------------------------------

    def _own_user_id(self) -> str:
        user_id = self.client.login_user_id()
        if not user_id:
            raise FatalSyncError(
                "neither the login nor the org's UserInfo endpoint said which user LeadSync "
                "is; give the token the openid scope, or use client_credentials or jwt auth",
                connector=self.client.name,
            )
        return user_id

    def _query(self, fields: list[str], sobject: str, where: list[soql.Condition]) -> list[Any]:
        rows: list[dict[str, Any]] = []
        for _, records in self.client.query_pages(soql.select(fields, sobject, where)):
            rows += records
        return rows

    def _permission_sets(self) -> dict[str, PermissionSetState]:
        names = [INTEGRATION_SET, SALES_SET]
        header = ["Id", "Name", "Label", "Description", "PermissionsEditTask"]
        sets = {
            str(r["Name"]): PermissionSetState(dict(r))
            for r in self._query(header, "PermissionSet", [soql.is_in("Name", names)])
        }
        by_id = {s.id[:15]: s for s in sets.values()}
        if not by_id:
            return sets
        ids = [s.id for s in sets.values()]
        for row in self._query(
            ["Id", "ParentId", "Field", "PermissionsRead", "PermissionsEdit"],
            "FieldPermissions",
            [soql.is_in("ParentId", ids)],
        ):
            by_id[str(row["ParentId"])[:15]].fields[str(row["Field"])] = dict(row)
        for row in self._query(
            ["Id", "ParentId", "SobjectType", *_OBJECT_FLAGS],
            "ObjectPermissions",
            [soql.is_in("ParentId", ids)],
        ):
            by_id[str(row["ParentId"])[:15]].objects[str(row["SobjectType"])] = dict(row)
        for row in self._query(
            ["Id", "PermissionSetId", "AssigneeId"],
            "PermissionSetAssignment",
            [soql.is_in("PermissionSetId", ids)],
        ):
            assignee = str(row["AssigneeId"])
            by_set = by_id[str(row["PermissionSetId"])[:15]]
            by_set.assignees[assignee[:15]] = (str(row["Id"]), assignee)
        return sets

    def _set_id(self, name: str) -> str:
        """The id of permission set ``name``: made or found in this run, else one query."""
        if name not in self._set_ids:
            rows = self._query(["Id"], "PermissionSet", [soql.eq("Name", name)])
            if not rows:
                raise FatalSyncError(
                    f"permission set {name} is missing; run `leadsync install` again",
                    connector=self.client.name,
                )
            self._set_ids[name] = str(rows[0]["Id"])
        return self._set_ids[name]

    def _set_step(self, spec: PermissionSetSpec, state: PermissionSetState | None) -> InstallStep:
        what = f"permission set {spec.name}"
        detail = spec.grants.detail()
        if state is None:
            return InstallStep(what, "create", detail, lambda: self._create_set(spec))
        changes = _set_changes(spec, state)
        if not any(changes.values()):
            return InstallStep(what, "unchanged", detail)
        return InstallStep(what, "update", detail, lambda: self._apply(state.id, changes))

    def _create_set(self, spec: PermissionSetSpec) -> None:
        created = self.client.rest("POST", "sobjects/PermissionSet", json=spec.header())
        set_id = self._set_ids[spec.name] = str(created["id"])
        empty = PermissionSetState({"Id": set_id, **spec.header()})
        self._apply(set_id, _set_changes(spec, empty))

    def _apply(self, set_id: str, changes: Mapping[str, list[dict[str, Any]]]) -> None:
        """Header update, then new and changed grants, then grants no longer wanted."""
        for header in changes["header"]:
            self.client.rest("PATCH", f"sobjects/PermissionSet/{set_id}", json=header)
        for record in changes["create"]:
            record["ParentId"] = set_id
        self._collection("POST", changes["create"])
        self._collection("PATCH", changes["update"])
        self._delete_ids([str(r["Id"]) for r in changes["delete"]])

    def _collection(self, method: str, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), _COLLECTION):
            part = records[start : start + _COLLECTION]
            body = {"allOrNone": True, "records": part}
            answer = self.client.rest(method, "composite/sobjects", json=body) or []
            _raise_failed(self.client.name, answer, part)

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), _COLLECTION):
            part = ids[start : start + _COLLECTION]
            answer = self.client.rest(
                "DELETE", "composite/sobjects", params={"ids": ",".join(part), "allOrNone": "true"}
            )
            _raise_failed(self.client.name, answer or [], [{"Id": i} for i in part])

    def _deleter(self, ids: list[str]) -> Callable[[], None]:
        return lambda: self._delete_ids(ids)

    def _assigner(self, name: str, user: str) -> Callable[[], None]:
        def run() -> None:
            body = {"PermissionSetId": self._set_id(name), "AssigneeId": user}
            self.client.rest("POST", "sobjects/PermissionSetAssignment", json=body)

        return run

    # -- list views --------------------------------------------------------------------------

    def list_views(
        self, hidden: AbstractSet[str] = frozenset(), *, every: bool = False
    ) -> list[ListViewSpec]:
        """The Lead list views; ``every`` lists them all by name, otherwise only those whose
        filter fields the org has (a view cannot filter on a missing field); ``hidden``
        fields exist too (field-level security hides them)."""
        lead = self.mapping.objects.get("Lead")
        outputs = dict(lead.outputs) if lead else {}
        values = self.mapping.values
        columns = ["FULL_NAME", "LEAD.COMPANY"]
        columns += [
            outputs[o] for o in ("fit", "score", "readiness", "team", "reason") if o in outputs
        ]
        columns.append("LEAD.STATUS")

        def equals(output: str, canonical: str) -> tuple[str, str, str] | None:
            field_name = outputs.get(output)
            value = values.get(output, {}).get(canonical)
            return (field_name, "equals", value) if field_name and value else None

        recycled = (
            (outputs["recycle_count"], "greaterThan", "0")
            if "recycle_count" in outputs
            else equals("team", "marketing")
        )
        wanted = [
            (
                "Lead.LeadSync_Hand_raisers",
                "LeadSync: hand-raisers to call",
                "Mine",
                [equals("team", "sales"), equals("readiness", "hand_raiser")],
            ),
            (
                "Lead.LeadSync_Sales_ready",
                "LeadSync: sales-ready",
                "Everything",
                [equals("team", "sales"), equals("readiness", "sales_ready")],
            ),
            ("Lead.LeadSync_Recycled", "LeadSync: recycled to nurture", "Everything", [recycled]),
        ]
        views = []
        for full_name, label, scope, filters in wanted:
            usable = all(f is not None and self._exists(f[0], hidden) for f in filters)
            shown = tuple(c for c in columns if not c.endswith("__c") or self._exists(c, hidden))
            if every or usable:
                kept = tuple(f for f in filters if f is not None)
                views.append(ListViewSpec(full_name, label, scope, shown, kept))
        return views

    def _exists(self, field_name: str, hidden: AbstractSet[str]) -> bool:
        visible = resolve(self.describe, "Lead", field_name) is not None
        return visible or f"Lead.{field_name}" in hidden

    def _read_views(self, names: list[str]) -> dict[str, Any]:
        return self.metadata.read("ListView", names) if names else {}

    def _view_step(self, view: ListViewSpec, have: Any) -> InstallStep:
        what = f"list view {view.full_name}"
        signs = {"equals": "=", "notEqual": "!=", "greaterThan": ">", "lessThan": "<"}
        where = ", ".join(f"{f} {signs.get(op, op)} {v}" for f, op, v in view.filters)
        scope = "my leads" if view.scope == "Mine" else "all leads"
        detail = f"'{view.label}': {scope}, {where}; {len(view.columns)} columns"
        if have is None:
            return InstallStep(what, "create", detail, lambda: self._save_view(view, True))
        if _view_shape(have) == (view.label, view.scope, view.columns, view.filters):
            return InstallStep(what, "unchanged", detail)
        return InstallStep(what, "update", detail, lambda: self._save_view(view, False))

    def _save_view(self, view: ListViewSpec, create: bool) -> None:
        component = self.metadata.build(
            "ListView",
            fullName=view.full_name,
            label=view.label,
            filterScope=view.scope,
            columns=list(view.columns),
            filters=[
                self.metadata.build("ListViewFilter", field=f, operation=op, value=v)
                for f, op, v in view.filters
            ],
        )
        if create:
            self.metadata.create("ListView", [component])
        else:
            self.metadata.update("ListView", [component])

    def _view_remover(self, name: str) -> Callable[[], None]:
        return lambda: self.metadata.delete("ListView", [name])

    def _field_remover(self, name: str) -> Callable[[], None]:
        return lambda: self.metadata.delete("CustomField", [name])


def _view_shape(component: Any) -> tuple[Any, ...]:
    filters = tuple(
        (str(f.field), str(f.operation), str(f.value or "")) for f in component.filters or []
    )
    return (
        component.label,
        component.filterScope,
        tuple(component.columns or ()),
        filters,
    )


def _set_changes(
    spec: PermissionSetSpec, state: PermissionSetState
) -> dict[str, list[dict[str, Any]]]:
    """What makes ``state`` into ``spec``: header, grants to create, update and delete."""
    header = {k: v for k, v in spec.header().items() if k != "Name"}
    stale = {k: v for k, v in header.items() if state.row.get(k) != v}
    create: list[dict[str, Any]] = []
    update: list[dict[str, Any]] = []
    for qualified, edit in spec.grants.fields.items():
        row = state.fields.get(qualified)
        wanted = {"PermissionsRead": True, "PermissionsEdit": edit}
        if row is None:
            sobject = qualified.partition(".")[0]
            create.append(
                {
                    "attributes": {"type": "FieldPermissions"},
                    "SobjectType": sobject,
                    "Field": qualified,
                    **wanted,
                }
            )
        elif any(bool(row.get(k)) != v for k, v in wanted.items()):
            update.append({"attributes": {"type": "FieldPermissions"}, "Id": row["Id"], **wanted})
    for sobject, flags in spec.objects.items():
        wanted = {flag: flag in flags for flag in _OBJECT_FLAGS}
        row = state.objects.get(sobject)
        if row is None:
            create.append(
                {"attributes": {"type": "ObjectPermissions"}, "SobjectType": sobject, **wanted}
            )
        elif any(bool(row.get(k)) != v for k, v in wanted.items()):
            update.append({"attributes": {"type": "ObjectPermissions"}, "Id": row["Id"], **wanted})
    delete = [r for q, r in state.fields.items() if q not in spec.grants.fields]
    delete += [r for s, r in state.objects.items() if s not in spec.objects]
    return {
        "header": [stale] if stale else [],
        "create": create,
        "update": update,
        "delete": delete,
    }


def _raise_failed(connector: str, answer: Sequence[Any], records: Sequence[Any]) -> None:
    failed = [
        f"{_label(record)}: "
        + "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
        for result, record in zip(answer, records, strict=False)
        if not result.get("success")
    ]
    if failed:
        raise FatalSyncError(f"Salesforce refused {'; '.join(failed[:5])}", connector=connector)


def _label(record: Mapping[str, Any]) -> str:
    return str(record.get("Field") or record.get("SobjectType") or record.get("Id") or "a record")
