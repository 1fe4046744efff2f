"""The sandbox's request pipeline: routing, authentication, API usage and limits, injected
faults and per-endpoint statistics. Transport-neutral: :mod:`server` feeds it requests."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

import structlog

from sandboxes.salesforce import listviews, metadata, rest, tooling
from sandboxes.salesforce.auth import (
    INVALID_SESSION,
    Credentials,
    SessionStore,
    bearer_token,
    token_endpoint,
)
from sandboxes.salesforce.bulk import BulkJobs
from sandboxes.salesforce.composite import composite
from sandboxes.salesforce.faults import FaultBoard, FaultError
from sandboxes.salesforce.org import OrgState
from sandboxes.salesforce.protocol import VERSIONED_PATH, Request, Response
from sandboxes.salesforce.soql_parse import SoqlError
from sandboxes.salesforce.writes import ApiError

log = structlog.get_logger(__name__)

#: API versions served (Winter '21 .. Spring '25); others answer 404 like a real instance.
VERSIONS = tuple(f"{v}.0" for v in range(50, 64))
_RELEASES = {
    62: "Winter '25",
    63: "Spring '25",
    61: "Summer '24",
    60: "Spring '24",
    59: "Winter '24",
}
#: The Metadata API's SOAP endpoint (simple-salesforce posts to it with a trailing slash).
SOAP_PATH = re.compile(r"^/services/Soap/m/(\d+\.\d)$")
_ID_LIKE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_HTTP_ERROR_CODES = {
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
    504: "SERVER_UNAVAILABLE",
    429: "REQUEST_LIMIT_EXCEEDED",
}


class SandboxApi:
    """Everything one sandbox org serves, independent of the HTTP transport."""

    def __init__(
        self,
        org: OrgState,
        credentials: Credentials,
        *,
        api_daily_limit: int,
        session_ttl: float = 7200.0,
    ) -> None:
        self.org = org
        self.credentials = credentials
        self.api_daily_limit = api_daily_limit
        self.sessions = SessionStore(ttl_seconds=session_ttl)
        self.faults = FaultBoard()
        self.cursors = rest.CursorStore()
        self.bulk = BulkJobs(self)
        self.base_url = ""
        self._usage = 0
        self._stats: Counter[str] = Counter()
        self._by_object: Counter[str] = Counter()
        self._lock = threading.Lock()

    # --- counters -------------------------------------------------------------------------
    def usage(self) -> int:
        """API calls counted against the daily allowance so far."""
        with self._lock:
            return self._usage

    def stats(self) -> dict[str, Any]:
        """Calls by normalised endpoint (ids stripped), as ``GET /_sandbox/stats`` answers, and
        the bytes of Bulk ingest data uploaded per object."""
        uploaded = self.bulk.upload_bytes()
        with self._lock:
            return {
                "total": sum(self._stats.values()),
                "by_endpoint": dict(self._stats),
                "by_object": dict(self._by_object),
                "bulk_upload_bytes": uploaded,
                "api_usage": self._usage,
                "api_daily_limit": self.api_daily_limit,
            }

    def reset_stats(self) -> None:
        """Zero the call statistics (not the API usage, which is the org's)."""
        self.bulk.reset_upload_bytes()
        with self._lock:
            self._stats.clear()
            self._by_object.clear()

    def inject(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Arm a fault (see :mod:`faults`); returns what was armed."""
        fault = self.faults.arm(spec)
        if spec.get("kind") == "expire_sessions":
            expired = self.sessions.expire_all()
            log.info("salesforce_sandbox.sessions_expired", count=expired)
            return {"kind": "expire_sessions", "expired": expired}
        log.info("salesforce_sandbox.fault", kind=spec.get("kind"))
        return fault.describe() if fault else {"kind": "clear"}

    # --- pipeline ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one request; never raises (an unexpected bug answers 500 UNKNOWN_EXCEPTION)."""
        path = request.path.rstrip("/") or "/"
        try:
            if path.startswith("/_sandbox"):
                return self._sandbox(request, path)
            endpoint, object_type = _endpoint(request.method, path)
            with self._lock:
                self._stats[endpoint] += 1
                if object_type:
                    self._by_object[object_type] += 1
            delay = self.faults.take("delay", endpoint=endpoint)
            if delay:
                time.sleep(delay.seconds)
            if path == "/services/oauth2/token":
                failed = self._injected_error(endpoint)
                return failed if failed is not None else self._token(request)
            if path == "/services/oauth2/userinfo":
                return self._userinfo(request)
            if path == "/services/data":
                return Response.json(
                    200,
                    [
                        {
                            "label": _RELEASES.get(int(float(v)), f"v{v}"),
                            "url": f"/services/data/v{v}",
                            "version": v,
                        }
                        for v in VERSIONS
                    ],
                )
            soap = SOAP_PATH.match(path)
            if soap is not None and soap.group(1) in VERSIONS and request.method == "POST":
                return self._metadata_call(request, endpoint)
            match = VERSIONED_PATH.match(path)
            if match is None or match.group(1) not in VERSIONS:
                return Response.json(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "The requested resource does not exist",
                        }
                    ],
                )
            return self._api_call(request, match.group(1), match.group(2) or "/", endpoint)
        except Exception:
            log.exception("salesforce_sandbox.unhandled", method=request.method, path=path)
            return Response.json(
                500,
                [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}],
            )

    def _injected_error(self, endpoint: str) -> Response | None:
        """The answer of an armed ``http_error`` fault that hits ``endpoint``, if any."""
        injected = self.faults.take("http_error", endpoint=endpoint)
        if injected is None:
            return None
        code = injected.error_code or _HTTP_ERROR_CODES.get(injected.status, "UNKNOWN_EXCEPTION")
        headers = {}
        if injected.retry_after is not None:
            headers["Retry-After"] = f"{injected.retry_after:g}"
        return Response.json(
            injected.status,
            [{"errorCode": code, "message": f"Injected HTTP {injected.status}."}],
            headers,
        )

    def _count_call(self) -> tuple[bool, int]:
        """Count one call against the org's daily allowance: whether it was already spent
        (the call is then refused and not counted), and the calls used so far."""
        with self._lock:
            over = self._usage >= self.api_daily_limit
            if not over:
                self._usage += 1
            return over, self._usage

    def _metadata_call(self, request: Request, endpoint: str) -> Response:
        """A Metadata API (SOAP) call: authenticated by its SessionHeader, not a bearer
        token, and counted against the same daily allowance."""
        failed = self._injected_error(endpoint)
        if failed is not None:
            return failed
        over, _ = self._count_call()
        if over:
            return metadata.fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return metadata.handle(self, request)

    def _api_call(self, request: Request, version: str, rest_path: str, endpoint: str) -> Response:
        token = bearer_token(request.headers)
        if token is None or not self.sessions.valid(token):
            return Response.json(
                401, INVALID_SESSION, {"WWW-Authenticate": 'Token realm="Salesforce"'}
            )
        failed = self._injected_error(endpoint)
        if failed is not None:
            return failed
        over, usage = self._count_call()
        if over or self.faults.take("rate_limit", endpoint=endpoint):
            return Response.json(
                403,
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
                {"Sforce-Limit-Info": f"api-usage={usage}/{self.api_daily_limit}"},
            )
        try:
            response = self._route(request, version, rest_path)
        except ApiError as error:
            response = Response.json(error.status, error.body)
        except SoqlError as error:
            response = Response.json(400, [{"message": error.message, "errorCode": error.code}])
        response.headers["Sforce-Limit-Info"] = f"api-usage={usage}/{self.api_daily_limit}"
        return response

    def _route(self, request: Request, version: str, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        method = request.method
        head = parts[0] if parts else ""
        n = len(parts)
        if n == 0 and method == "GET":
            base = f"/services/data/v{version}"
            return Response.json(
                200,
                {
                    k: f"{base}/{k}"
                    for k in (
                        "sobjects",
                        "query",
                        "queryAll",
                        "limits",
                        "composite",
                        "tooling",
                        "jobs",
                    )
                },
            )
        if head == "limits" and n == 1 and method == "GET":
            return rest.limits(self)
        if parts == ["limits", "recordCount"] and method == "GET":
            return rest.record_count(self, request)
        if head in ("query", "queryAll") and method == "GET":
            if n == 1:
                return rest.query(self, request, version, include_deleted=head == "queryAll")
            if n == 2:
                return rest.query_more(self, parts[1], version)
        if head == "sobjects":
            return self._sobjects(request, version, parts[1:])
        if parts == ["composite"] and method == "POST":
            return composite(request, version, self._route)
        if parts[:2] == ["composite", "sobjects"]:
            if n == 2 and method == "POST":
                return rest.collection_write(self, request, "create")
            if n == 2 and method == "PATCH":
                return rest.collection_write(self, request, "update")
            if n == 2 and method == "DELETE":
                return rest.collection_delete(self, request)
            if n == 4 and method == "PATCH":
                return rest.collection_write(self, request, "upsert", (parts[2], parts[3]))
        if parts == ["tooling", "sobjects", "CustomField"] and method == "POST":
            return tooling.create_custom_field(self, request)
        if head == "jobs" and n >= 2 and parts[1] in ("query", "ingest"):
            return self._jobs(request, version, parts[1], parts[2:])
        return _not_found()

    def _sobjects(self, request: Request, version: str, parts: list[str]) -> Response:
        method = request.method
        if not parts:
            return rest.global_describe(self, version) if method == "GET" else _not_found()
        name = parts[0]
        if parts[1:] == ["listviews"] and method == "GET":
            return listviews.list_views(self, name, version)
        if len(parts) == 4 and parts[1] == "listviews" and parts[3] == "results":
            if method == "GET":
                return listviews.results(self, request, name, parts[2])
            return _not_found()
        if len(parts) == 1:
            if method == "GET":
                return rest.object_info(self, name, version)
            if method == "POST":
                return rest.create_one(self, request, name)
        elif len(parts) == 2:
            if parts[1] == "describe" and method == "GET":
                return rest.describe(self, name, version)
            if method == "GET":
                return rest.read_one(self, request, name, parts[1], version)
            if method == "PATCH":
                return rest.update_one(self, request, name, parts[1])
            if method == "DELETE":
                return rest.delete_one(self, request, name, parts[1])
        elif len(parts) == 3 and method == "PATCH":
            return rest.upsert_one(self, request, name, parts[1], parts[2], version)
        return _not_found()

    def _jobs(self, request: Request, version: str, kind: str, parts: list[str]) -> Response:
        method = request.method
        if not parts and method == "POST":
            return self.bulk.create(request, kind, version)
        if len(parts) == 1:
            if method == "GET":
                return self.bulk.info(kind, parts[0])
            if method == "PATCH":
                return self.bulk.patch(request, kind, parts[0])
            if method == "DELETE":
                return self.bulk.delete(kind, parts[0])
        if len(parts) == 2:
            if kind == "query" and parts[1] == "results" and method == "GET":
                return self.bulk.results(request, parts[0])
            if kind == "ingest" and parts[1] == "batches" and method == "PUT":
                return self.bulk.upload(request, parts[0])
            if (
                kind == "ingest"
                and method == "GET"
                and parts[1] in ("successfulResults", "failedResults", "unprocessedrecords")
            ):
                return self.bulk.ingest_results(parts[0], parts[1])
        return _not_found()

    # --- OAuth and the _sandbox control endpoints -------------------------------------------
    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return _not_found()
        form = dict(parse_qsl(request.body.decode("utf-8")))
        form.update({k: v for k, v in request.params.items() if k not in form})
        basic = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (user, secret)
            except ValueError:
                basic = None
        status, body = token_endpoint(
            form,
            basic,
            self.credentials,
            self.sessions,
            self.base_url,
            self.org.org_id,
            self.org.integration_user_id,
        )
        log.info("salesforce_sandbox.token", grant_type=form.get("grant_type"), status=status)
        return Response.json(status, body)

    def _userinfo(self, request: Request) -> Response:
        """OpenID Connect's UserInfo: who a token acts for (``user_id``), as Salesforce
        answers it; a token that is not valid gets 403 ``Bad_OAuth_Token``."""
        token = bearer_token(request.headers)
        if request.method not in ("GET", "POST"):
            return _not_found()
        if token is None or not self.sessions.valid(token):
            return Response(403, b"Bad_OAuth_Token", {"Content-Type": "text/plain"})
        user_id, org_id = self.org.integration_user_id, self.org.org_id
        user = self.org.raw("User", user_id) or {}
        return Response.json(
            200,
            {
                "sub": f"{self.base_url}/id/{org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": org_id,
                "preferred_username": user.get("Username"),
                "name": user.get("Name"),
                "email": user.get("Email"),
                "active": bool(user.get("IsActive", True)),
            },
        )

    def _sandbox(self, request: Request, path: str) -> Response:
        if path == "/_sandbox/stats" and request.method == "GET":
            return Response.json(200, self.stats())
        if path == "/_sandbox/stats/reset" and request.method == "POST":
            self.reset_stats()
            return Response.json(200, self.stats())
        if path == "/_sandbox/faults" and request.method == "GET":
            return Response.json(200, self.faults.armed())
        if path == "/_sandbox/faults" and request.method == "POST":
            try:
                spec = json.loads(request.body or b"null")
                if not isinstance(spec, dict):
                    raise FaultError("the body must be a JSON object with a 'kind'")
                return Response.json(200, self.inject(spec))
            except (ValueError, FaultError) as exc:
                return Response.json(400, {"error": str(exc)})
        return Response.json(404, {"error": f"no sandbox endpoint {request.method} {path}"})


def _not_found() -> Response:
    return Response.json(
        404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    )


def _endpoint(method: str, path: str) -> tuple[str, str | None]:
    """``POST /services/data/v62.0/sobjects/Lead/00Q..`` -> ``POST /sobjects/Lead/{id}``."""
    match = VERSIONED_PATH.match(path)
    if match is None:
        return f"{method} {path}", None
    parts = [p for p in (match.group(2) or "").split("/") if p]
    object_type = None
    if parts and parts[0] == "sobjects" and len(parts) > 1:
        object_type = parts[1]
    elif parts[:1] in (["query"], ["queryAll"]) and len(parts) == 2:
        parts[1] = "{locator}"
    elif parts[:1] == ["jobs"] and len(parts) > 2:
        parts[2] = "{id}"
    elif parts[:2] == ["composite", "sobjects"] and len(parts) > 2:
        object_type = parts[2]
    if parts[:1] == ["sobjects"] and len(parts) == 4:
        parts[3] = "{value}"
    parts = ["{id}" if _ID_LIKE.match(p) and _looks_like_id(p) else p for p in parts]
    return f"{method} /{'/'.join(parts)}", object_type


def _looks_like_id(part: str) -> bool:
    return any(c.isdigit() for c in part[:5])
