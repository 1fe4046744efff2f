"""Salesforce record ids: 15-character case-sensitive ids and their 18-character safe form."""

from __future__ import annotations

import itertools
import string
import threading

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_CHARS = frozenset(_BASE62)


def checksum(id15: str) -> str:
    """The three-character suffix Salesforce appends to make an id case-insensitive."""
    suffix = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to18(candidate: str) -> str | None:
    """The canonical 18-character id, or ``None`` when ``candidate`` is not a well-formed id."""
    if len(candidate) not in (15, 18) or not set(candidate[:15]) <= _ID_CHARS:
        return None
    head = candidate[:15]
    expected = checksum(head)
    if len(candidate) == 18 and candidate[15:].upper() != expected:
        return None
    return head + expected


class IdFactory:
    """Hands out fresh, unique ids per key prefix (``00Q`` for Lead ...), thread-safe."""

    def __init__(self, pod: str = "8c") -> None:
        self._pod = pod
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        """A new 18-character id with the given three-character key prefix."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            number = next(counter)
        digits = []
        for _ in range(9):
            number, rem = divmod(number, 62)
            digits.append(_BASE62[rem])
        head = f"{prefix}{self._pod}0{''.join(reversed(digits))}"
        return head + checksum(head)
