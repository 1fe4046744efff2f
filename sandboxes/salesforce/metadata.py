"""The Metadata API's SOAP endpoint, ``POST /services/Soap/m/{version}``, for ``ListView``.

Serves the CRUD-based calls (createMetadata, readMetadata, updateMetadata, upsertMetadata,
deleteMetadata) for ListView, and readMetadata and deleteMetadata for CustomField, as the
WSDL simple-salesforce ships defines them: the session id rides in the
``SessionHeader``, each component answers a SaveResult / UpsertResult / DeleteResult of its
own (``success`` and ``errors``), and a request the API cannot take at all answers a SOAP
fault (HTTP 500, ``sf:`` fault code). readMetadata answers a record without a ``fullName`` for
a name the org does not have, as the API does. Other metadata types are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sandboxes.salesforce.listviews import ListView, ListViewFilter, problems
from sandboxes.salesforce.protocol import Request, Response
from sandboxes.salesforce.schema import FieldDef

if TYPE_CHECKING:
    from sandboxes.salesforce.app import SandboxApi

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: "Limit: 10" components a call, for every type but CustomMetadata and CustomApplication.
MAX_COMPONENTS = 10
_RESULT_TAGS = {
    "createMetadata": "createMetadataResponse",
    "readMetadata": "readMetadataResponse",
    "updateMetadata": "updateMetadataResponse",
    "upsertMetadata": "upsertMetadataResponse",
    "deleteMetadata": "deleteMetadataResponse",
}


class Fault(Exception):
    """A SOAP fault: the whole call is refused."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def handle(api: SandboxApi, request: Request) -> Response:
    """One Metadata API call; faults are answered as HTTP 500 like the real endpoint."""
    try:
        operation, body, session = _envelope(request.body)
        if session is None or not api.sessions.valid(session):
            raise Fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        if operation not in _RESULT_TAGS:
            raise Fault("INVALID_OPERATION", f"No operation available for request {operation}")
        with api.org.lock:
            results = _OPERATIONS[operation](api, body)
        tag = _RESULT_TAGS[operation]
        return _xml(200, f"<{tag}>{''.join(results)}</{tag}>")
    except Fault as refused:
        return fault(refused.code, refused.message)


def fault(code: str, message: str) -> Response:
    """A SOAP fault answer (HTTP 500), ``sf:``-qualified code and the message."""
    return _xml(
        500,
        f'<soapenv:Fault xmlns:sf="{MD}">'
        f"<faultcode>sf:{code}</faultcode>"
        f"<faultstring>{escape(f'{code}: {message}')}</faultstring>"
        "</soapenv:Fault>",
    )


def _envelope(raw: bytes) -> tuple[str, ET.Element, str | None]:
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise Fault("INVALID_XML", f"The request is not well-formed XML: {exc}") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise Fault("INVALID_XML", "The envelope has no Body")
    call = body[0]
    session = root.find(f"{{{SOAP_ENV}}}Header/{{{MD}}}SessionHeader/{{{MD}}}sessionId")
    return _local(call.tag), call, session.text if session is not None else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: ET.Element, name: str) -> str | None:
    found = element.find(f"{{{MD}}}{name}")
    return found.text if found is not None and found.text is not None else None


def _texts(element: ET.Element, name: str) -> list[str]:
    return [e.text or "" for e in element.findall(f"{{{MD}}}{name}")]


def _type_name(element: ET.Element) -> str:
    return (element.get(f"{{{XSI}}}type") or "").rpartition(":")[2]


def _components(body: ET.Element) -> list[ET.Element]:
    items = body.findall(f"{{{MD}}}metadata")
    if len(items) > MAX_COMPONENTS:
        raise Fault("LIMIT_EXCEEDED", f"Too many components: {len(items)} (the limit is 10)")
    kinds = {_type_name(item) for item in items}
    if len(kinds) > 1:
        raise Fault("INVALID_TYPE", "All components in a call must be of one type")
    if kinds and kinds != {"ListView"}:
        raise Fault("INVALID_TYPE", f"This sandbox serves ListView metadata only, not {kinds}")
    return items


def _names(body: ET.Element, kinds: tuple[str, ...] = ("ListView",)) -> list[str]:
    kind = _text(body, "type")
    names = _texts(body, "fullNames")
    if kind not in kinds:
        raise Fault("INVALID_TYPE", f"This sandbox serves {' and '.join(kinds)} here, not {kind}")
    if len(names) > MAX_COMPONENTS:
        raise Fault("LIMIT_EXCEEDED", f"Too many components: {len(names)} (the limit is 10)")
    return names


def _parse(element: ET.Element, view_id: str) -> ListView:
    filters = [
        ListViewFilter(
            _text(f, "field") or "", _text(f, "operation") or "", _text(f, "value") or ""
        )
        for f in element.findall(f"{{{MD}}}filters")
    ]
    return ListView(
        id=view_id,
        full_name=_text(element, "fullName") or "",
        label=_text(element, "label") or "",
        filter_scope=_text(element, "filterScope") or "",
        columns=_texts(element, "columns"),
        filters=filters,
        boolean_filter=_text(element, "booleanFilter"),
        queue=_text(element, "queue"),
    )


def _result(full_name: str, errors: list[tuple[str, str]], created: bool | None = None) -> str:
    parts = ["<result>"]
    if created is not None:
        parts.append(f"<created>{str(created).lower()}</created>")
    for code, message in errors:
        parts.append(
            f"<errors><message>{escape(message)}</message><statusCode>{code}</statusCode></errors>"
        )
    parts.append(f"<fullName>{escape(full_name)}</fullName>")
    parts.append(f"<success>{str(not errors).lower()}</success></result>")
    return "".join(parts)


def _save(api: SandboxApi, body: ET.Element, *, create: bool, update: bool) -> list[str]:
    results = []
    views = api.org.list_views
    for element in _components(body):
        full_name = _text(element, "fullName") or ""
        existing = views.get(full_name)
        view = _parse(element, existing.id if existing else api.org.ids.new("00B"))
        errors = problems(api.org, view) if "." in full_name else []
        if "." not in full_name:
            errors = [("INVALID_CROSS_REFERENCE_KEY", f"Invalid fullName: {full_name}")]
        elif existing is not None and not update:
            errors.append(
                (
                    "DUPLICATE_DEVELOPER_NAME",
                    "This List View Unique Name already exists or has been previously used. "
                    "Please choose a different name.",
                )
            )
        elif existing is None and not create:
            errors.append(
                (
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"In field: fullName - no ListView named {full_name} found",
                )
            )
        if not errors:
            views[full_name] = view
        # Only upsertMetadata's UpsertResult says whether the component was created.
        created = existing is None if create and update else None
        results.append(_result(full_name, errors, created))
    return results


def _create(api: SandboxApi, body: ET.Element) -> list[str]:
    return _save(api, body, create=True, update=False)


def _update(api: SandboxApi, body: ET.Element) -> list[str]:
    return _save(api, body, create=False, update=True)


def _upsert(api: SandboxApi, body: ET.Element) -> list[str]:
    return _save(api, body, create=True, update=True)


def _read(api: SandboxApi, body: ET.Element) -> list[str]:
    if _text(body, "type") == "CustomField":
        return _read_fields(api, _names(body, ("CustomField",)))
    records = []
    for name in _names(body):
        view = api.org.list_views.get(name)
        if view is None:
            records.append('<records xsi:type="ListView"/>')
            continue
        parts = [f"<fullName>{escape(view.full_name)}</fullName>"]
        if view.boolean_filter:
            parts.append(f"<booleanFilter>{escape(view.boolean_filter)}</booleanFilter>")
        parts += [f"<columns>{escape(c)}</columns>" for c in view.columns]
        parts.append(f"<filterScope>{view.filter_scope}</filterScope>")
        parts += [
            f"<filters><field>{escape(f.field)}</field><operation>{f.operation}</operation>"
            f"<value>{escape(f.value)}</value></filters>"
            for f in view.filters
        ]
        parts.append(f"<label>{escape(view.label)}</label>")
        if view.queue:
            parts.append(f"<queue>{escape(view.queue)}</queue>")
        records.append(f'<records xsi:type="ListView">{"".join(parts)}</records>')
    return [f"<result>{''.join(records)}</result>"]


def _read_fields(api: SandboxApi, names: list[str]) -> list[str]:
    """CustomField components as Setup sees them, whoever may read them."""
    records = []
    for name in names:
        spec = _custom_field(api, name)
        if spec is None:
            records.append('<records xsi:type="CustomField"/>')
            continue
        records.append(
            f'<records xsi:type="CustomField"><fullName>{escape(name)}</fullName>'
            f"<label>{escape(spec.label)}</label></records>"
        )
    return [f"<result>{''.join(records)}</result>"]


def _custom_field(api: SandboxApi, full_name: str) -> FieldDef | None:
    object_name, _, field_name = full_name.partition(".")
    if object_name.lower() == "activity":
        object_name = "Task"
    definition = api.org.full_def(object_name)
    spec = definition.field(field_name) if definition is not None else None
    return spec if spec is not None and spec.custom else None


def _delete(api: SandboxApi, body: ET.Element) -> list[str]:
    if _text(body, "type") == "CustomField":
        return _delete_fields(api, _names(body, ("CustomField",)))
    results = []
    for name in _names(body):
        if api.org.list_views.pop(name, None) is None:
            missing = ("INVALID_CROSS_REFERENCE_KEY", f"no ListView named {name} found")
            results.append(_result(name, [missing]))
        else:
            results.append(_result(name, []))
    return results


def _delete_fields(api: SandboxApi, names: list[str]) -> list[str]:
    results = []
    for name in names:
        if _custom_field(api, name) is None:
            missing = ("INVALID_CROSS_REFERENCE_KEY", f"no CustomField named {name} found")
            results.append(_result(name, [missing]))
            continue
        object_name, _, field_name = name.partition(".")
        targets = ("Task", "Event") if object_name.lower() == "activity" else (object_name,)
        for target in targets:
            api.org.remove_field(target, field_name)
        results.append(_result(name, []))
    return results


_OPERATIONS = {
    "createMetadata": _create,
    "readMetadata": _read,
    "updateMetadata": _update,
    "upsertMetadata": _upsert,
    "deleteMetadata": _delete,
}


def _xml(status: int, inner: str) -> Response:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{MD}" xmlns:xsi="{XSI}">'
        f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
    return Response(status, text.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})
