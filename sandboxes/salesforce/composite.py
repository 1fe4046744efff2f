"""``POST /composite``: up to 25 REST subrequests in one call, counted as one API call.

As documented: at most 25 subrequests, at most 5 of them queries (query, queryAll, their
next pages) or sObject Collections; each answers ``{body, httpHeaders, httpStatusCode,
referenceId}`` in order; ``referenceId`` is required and unique. Two things this sandbox
does not do are refused with a message rather than half-done: ``@{ref.field}`` references
between subrequests, and ``allOrNone: true`` over subrequests that write (it cannot roll
a write back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandboxes.salesforce.protocol import VERSIONED_PATH, Request, Response
from sandboxes.salesforce.soql_parse import SoqlError
from sandboxes.salesforce.writes import ApiError

MAX_SUBREQUESTS = 25
MAX_QUERIES_OR_COLLECTIONS = 5
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")

Route = Callable[[Request, str, str], Response]


def composite(request: Request, version: str, route: Route) -> Response:
    try:
        payload = request.json()
    except ValueError:
        return _invalid("JSON_PARSER_ERROR", "The request body is not valid JSON.")
    subrequests = payload.get("compositeRequest") if isinstance(payload, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        return _invalid("INVALID_INPUT", "compositeRequest must be a non-empty array.")
    if len(subrequests) > MAX_SUBREQUESTS:
        return _invalid(
            "INVALID_INPUT",
            f"A composite request can have at most {MAX_SUBREQUESTS} subrequests; "
            f"this one has {len(subrequests)}.",
        )
    problem = _check(subrequests, bool(payload.get("allOrNone")))
    if problem is not None:
        return problem
    answers = []
    for sub in subrequests:
        answer = _run(sub, request, version, route)
        answers.append(
            {
                "body": json.loads(answer.body) if answer.body else None,
                "httpHeaders": {},
                "httpStatusCode": answer.status,
                "referenceId": sub["referenceId"],
            }
        )
    return Response.json(200, {"compositeResponse": answers})


def _check(subrequests: list[Any], all_or_none: bool) -> Response | None:
    seen: set[str] = set()
    heavy = 0
    for sub in subrequests:
        if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= set(sub):
            return _invalid("INVALID_INPUT", "Each subrequest needs method, url and referenceId.")
        ref = str(sub["referenceId"])
        if not _REFERENCE_ID.match(ref) or ref in seen:
            return _invalid(
                "INVALID_INPUT", f"referenceId {ref!r} is not a unique alphanumeric name."
            )
        seen.add(ref)
        if "@{" in sub["url"] or "@{" in json.dumps(sub.get("body")):
            return _invalid(
                "INVALID_INPUT",
                "This sandbox does not evaluate @{reference} expressions between subrequests.",
            )
        if all_or_none and str(sub["method"]).upper() != "GET":
            return _invalid(
                "INVALID_INPUT", "This sandbox cannot roll back writes: allOrNone needs GETs."
            )
        path = urlsplit(str(sub["url"])).path
        match = VERSIONED_PATH.match(path)
        rest = (match.group(2) or "") if match else ""
        if rest.startswith(("/query", "/queryAll", "/composite/sobjects")):
            heavy += 1
    if heavy > MAX_QUERIES_OR_COLLECTIONS:
        return _invalid(
            "INVALID_INPUT",
            f"A composite request can have at most {MAX_QUERIES_OR_COLLECTIONS} query or "
            f"sObject Collections subrequests; this one has {heavy}.",
        )
    return None


def _run(sub: dict[str, Any], request: Request, version: str, route: Route) -> Response:
    parts = urlsplit(str(sub["url"]))
    match = VERSIONED_PATH.match(parts.path.rstrip("/"))
    if match is None or match.group(1) != version:
        return Response.json(
            404,
            [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
        )
    body = json.dumps(sub["body"]).encode() if "body" in sub else b""
    inner = Request(
        method=str(sub["method"]).upper(),
        path=parts.path,
        params=dict(parse_qsl(parts.query)),
        headers=request.headers,
        body=body,
    )
    try:
        return route(inner, version, match.group(2) or "/")
    except ApiError as error:
        return Response.json(error.status, error.body)
    except SoqlError as error:
        return Response.json(400, [{"message": error.message, "errorCode": error.code}])


def _invalid(code: str, message: str) -> Response:
    return Response.json(400, [{"errorCode": code, "message": message}])
