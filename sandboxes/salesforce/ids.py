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
        self._heads: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        """A new 18-character id with the given three-character key prefix."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            number = next(counter)
        return self.make(prefix, number)

    def reserve(self, prefix: str, count: int) -> int:
        """Take ``count`` consecutive ids of ``prefix`` at once; the first one's number.

        A columnar table names its rows by position (:meth:`make`), so it needs a block no
        later :meth:`new` can hand out again.
        """
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            first = next(counter)
            self._counters[prefix] = itertools.count(first + count)
        return first

    def make(self, prefix: str, number: int) -> str:
        """The 18-character id numbered ``number`` under ``prefix`` (what :meth:`new` returns)."""
        # Columnar tables call this for every row they show, so the checksum is built from
        # the digit values as they are produced instead of re-scanning the id.
        head = self._heads.get(prefix)
        if head is None:
            head = self._heads[prefix] = (
                f"{prefix}{self._pod}0",
                checksum(f"{prefix}{self._pod}")[0],
            )
        chars = [""] * 9
        bits_low = bits_high = 0
        for slot in range(8, -1, -1):
            number, rem = divmod(number, 62)
            chars[slot] = _BASE62[rem]
            if 10 <= rem < 36:
                # slots 0-3 are id positions 6-9 (chunk 2, bits 1-4); 4-8 are chunk 3.
                if slot < 4:
                    bits_low |= 1 << (slot + 1)
                else:
                    bits_high |= 1 << (slot - 4)
        return (
            head[0]
            + "".join(chars)
            + head[1]
            + _SUFFIX_ALPHABET[bits_low]
            + _SUFFIX_ALPHABET[bits_high]
        )

    def number_of(self, record_id: str, prefix: str) -> int | None:
        """The number :meth:`make` built ``record_id`` from, or ``None`` for another id."""
        if len(record_id) != 18 or not record_id.startswith(f"{prefix}{self._pod}0"):
            return None
        number = 0
        for char in record_id[6:15]:
            value = _BASE62.find(char)
            if value < 0:
                return None
            number = number * 62 + value
        return number
