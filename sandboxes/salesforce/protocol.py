"""The transport-neutral request and response the sandbox's handlers work with."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: ``/services/data/vXX.X/...``: the API version and the path under it.
VERSIONED_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: ``headers`` keys are lower-case; ``params`` keep the last value."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass(slots=True)
class Response:
    """One HTTP response."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON response (UTF-8)."""
        return cls(
            status,
            json.dumps(payload).encode("utf-8"),
            {"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
        )

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        """A response without a body."""
        return cls(status)

    @classmethod
    def csv(cls, text: str, headers: dict[str, str] | None = None) -> Response:
        """A CSV response (UTF-8)."""
        return cls(200, text.encode("utf-8"), {"Content-Type": "text/csv", **(headers or {})})
