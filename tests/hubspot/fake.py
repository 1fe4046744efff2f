"""A small fake of the HubSpot endpoints the connector's core uses, served over real HTTP.

It pages like HubSpot (search: numeric ``after``, 10,000-result cap answered with a 400;
list: opaque ``after``), answers batch updates with 207 multi-status for ids listed in
``reject``, and plays scripted answers (429 storms, 5xx, 401) before normal handling, so the
real ``hubspot-api-client`` is exercised end to end. The full emulator is the sandbox in
``sandboxes.hubspot``; this fake keeps the unit suite independent of it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

SEARCH_CAP = 10_000


@dataclass
class FakePortal:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    script: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    updates: list[dict[str, Any]] = field(default_factory=list)
    token: str = "pat-test"


def make_contacts(n: int, *, start: datetime, step_ms: int = 1000) -> list[dict[str, Any]]:
    """``n`` contacts, modified ``step_ms`` apart from ``start`` (step 0: all at one instant)."""
    out = []
    for i in range(n):
        moment = start + timedelta(milliseconds=step_ms * i)
        out.append(
            {
                "id": str(1000 + i),
                "properties": {
                    "email": f"p{i}@example.com",
                    "lastmodifieddate": moment.isoformat(timespec="milliseconds").replace(
                        "+00:00", "Z"
                    ),
                    "numemployees": "25-50",
                    "hs_email_optout": "false",
                },
                "createdAt": start.isoformat(),
                "updatedAt": moment.isoformat(),
                "archived": False,
            }
        )
    return out


def _millis(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


class _Handler(BaseHTTPRequestHandler):
    portal: FakePortal

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-HubSpot-RateLimit-Max", "100")
        self.send_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
        self.send_header("X-HubSpot-RateLimit-Daily", "500000")
        self.send_header("X-HubSpot-RateLimit-Daily-Remaining", "499000")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        self.portal.calls[f"{method} {url.path}"] += 1
        if self.headers.get("Authorization") != f"Bearer {self.portal.token}":
            self._send(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found",
                    "category": "INVALID_AUTHENTICATION",
                },
            )
            return
        if self.portal.script:
            status, answer, headers = self.portal.script.pop(0)
            self._send(status, answer, headers)
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "POST" and url.path == "/crm/v3/objects/contacts/search":
            self._search(body)
        elif method == "GET" and url.path == "/crm/v3/objects/contacts":
            self._list(query)
        elif method == "POST" and url.path == "/crm/v3/objects/contacts/batch/update":
            self._batch_update(body)
        else:
            self._send(
                404, {"status": "error", "message": "no route", "category": "OBJECT_NOT_FOUND"}
            )

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _search(self, body: dict[str, Any]) -> None:
        after = int(body.get("after") or 0)
        limit = int(body.get("limit") or 10)
        if limit > 200:
            self._send(
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "limit must be at most 200",
                },
            )
            return
        if after + limit > SEARCH_CAP:
            self._send(
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "paging past 10,000 results is not supported",
                },
            )
            return
        filters = body["filterGroups"][0]["filters"]
        rows = list(self.portal.contacts)
        for f in filters:
            prop, op, value = f["propertyName"], f["operator"], int(f["value"])

            def key(c: dict[str, Any], prop: str = prop) -> int:
                if prop == "hs_object_id":
                    return int(c["id"])
                return _millis(c["properties"][prop])

            if op == "GTE":
                rows = [c for c in rows if key(c) >= value]
            elif op == "EQ":
                rows = [c for c in rows if key(c) == value]
            elif op == "GT":
                rows = [c for c in rows if key(c) > value]
        sort = body["sorts"][0]["propertyName"]
        rows.sort(
            key=lambda c: (
                int(c["id"])
                if sort == "hs_object_id"
                else (_millis(c["properties"][sort]), int(c["id"]))
            )
        )
        page = rows[after : after + limit]
        answer: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        self._send(200, answer)

    def _list(self, query: dict[str, str]) -> None:
        source = (
            self.portal.archived
            if query.get("archived", "").lower() == "true"
            else self.portal.contacts
        )
        after = int(query.get("after") or 0)
        limit = int(query.get("limit") or 10)
        page = source[after : after + limit]
        answer: dict[str, Any] = {"results": page}
        if after + limit < len(source):
            answer["paging"] = {"next": {"after": str(after + limit), "link": "x"}}
        self._send(200, answer)

    def _batch_update(self, body: dict[str, Any]) -> None:
        inputs = body["inputs"]
        if len(inputs) > 100:
            self._send(
                400,
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "at most 100 inputs",
                },
            )
            return
        self.portal.updates.append(body)
        now = datetime.now(UTC).isoformat()
        results, errors = [], []
        for item in inputs:
            if item["id"] in self.portal.reject:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": self.portal.reject[item["id"]],
                        "context": {"ids": [item["id"]]},
                    }
                )
            else:
                results.append(
                    {
                        "id": item["id"],
                        "properties": item["properties"],
                        "createdAt": now,
                        "updatedAt": now,
                        "archived": False,
                    }
                )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            answer["errors"] = errors
            answer["numErrors"] = len(errors)
        self._send(207 if errors else 200, answer)


@contextmanager
def serve(portal: FakePortal) -> Iterator[str]:
    """Serve ``portal`` on a free local port; yields the base URL."""
    handler = type("Handler", (_Handler,), {"portal": portal})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
