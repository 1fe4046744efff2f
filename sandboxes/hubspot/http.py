"""The sandbox's small HTTP toolkit: requests, responses, HubSpot error bodies, routes.

Handlers are plain functions ``(Request) -> Response``; a failing handler raises
:class:`ApiError`, which renders as the JSON error body HubSpot sends for that category.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    #: the route template, e.g. ``GET /crm/v3/objects/{objectType}``, used for stats.
    endpoint: str = ""

    @classmethod
    def parse(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        path, _, raw_query = target.partition("?")
        return cls(method, path, parse_qs(raw_query, keep_blank_values=True), headers, body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """A multi-valued parameter, sent repeated (``a=1&a=2``) or comma-separated."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def int_arg(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        """An integer parameter within bounds, or a 400 as HubSpot answers out-of-range limits."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError.validation(f"{name} must be an integer, got '{raw}'") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ApiError.validation(f"{name} must be {bound}, got {value}")
        return value

    def bool_arg(self, name: str) -> bool:
        return (self.arg(name) or "false").lower() == "true"

    def json(self) -> Any:
        if not self.body:
            raise ApiError.validation("Invalid input JSON: request body is empty")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError.validation(f"Invalid input JSON on line 1: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError.validation("Invalid input JSON: expected an object")
        return body


@dataclass(slots=True)
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


def correlation_id() -> str:
    return str(uuid.uuid4())


class ApiError(Exception):
    """An error answer: status plus HubSpot's ``{status, message, correlationId, category}``."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
        }
        if self.category:
            body["category"] = self.category
        body.update(self.extra)
        return Response(self.status, body, dict(self.headers))

    @classmethod
    def validation(cls, message: str, **extra: Any) -> ApiError:
        return cls(400, "VALIDATION_ERROR", message, extra=extra or None)

    @classmethod
    def not_found(cls, message: str = "resource not found") -> ApiError:
        return cls(404, "OBJECT_NOT_FOUND", message)

    @classmethod
    def conflict(cls, message: str) -> ApiError:
        return cls(409, "CONFLICT", message)


Handler = Callable[[Request], Response]


class Router:
    """Method + path-template routing; ``{name}`` segments become ``request.params``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
        self._routes.append((method, re.compile(f"^{pattern}/?$"), template, handler))

    def match(self, request: Request) -> Handler:
        allowed = False
        for method, pattern, template, handler in self._routes:
            found = pattern.match(request.path)
            if found is None:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = {k: unquote(v) for k, v in found.groupdict().items()}
            shown = template
            # Stats name the object type ("/crm/v3/objects/contacts"), not the placeholder.
            for key in ("objectType", "toObjectType"):
                if key in request.params:
                    shown = shown.replace("{" + key + "}", request.params[key])
            request.endpoint = f"{method} {shown}"
            return handler
        if allowed:
            raise ApiError(405, "", f"HTTP method {request.method} is not supported by this URL")
        raise ApiError(404, "", f"No route for {request.method} {request.path}")
