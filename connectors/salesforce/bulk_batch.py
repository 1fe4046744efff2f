"""The records of one Bulk API 2.0 update job, gathered across the engine's write pages.

A job takes one CSV upload of up to 100 MB, and a backfill writes a million records in pages of
fifty thousand; one job per page was twenty jobs where one or two do. A batch therefore renders
each record's CSV row as it arrives and keeps only where its outcome goes (the field values
are dropped), so a full job costs its CSV text plus a small entry per record.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.salesforce.client import csv_cell, utf8_size
from leadsync.records import RecordRef, WriteOutcome

#: Upload Job Data: at most 150 MB base64-encoded a job, "to account for the base64 conversion
#: increase, upload data that does not exceed 100 MB". Counted in UTF-8 bytes, as sent.
BULK_UPLOAD_BYTES = 100_000_000


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one record's outcome goes: the list of the call (or page) it came in, at indexes."""

    ref: RecordRef
    sink: list[WriteOutcome | None]
    indexes: tuple[int, ...]

    def set(self, outcome: WriteOutcome) -> None:
        for index in self.indexes:
            self.sink[index] = outcome


class Settles(Protocol):
    """A record whose outcome a job's results settle (a ``Slot``, or a merged record's)."""

    @property
    def ref(self) -> RecordRef: ...

    def set(self, outcome: WriteOutcome) -> None: ...


class BulkBatch:
    """One job's rows: ``Id`` then every field any row has, in first-seen order.

    A row renders the columns known when it arrives; a later field is a new last column, and
    earlier rows get empty cells for it (Bulk leaves a field with an empty cell unchanged).
    Row order does not matter: results come back keyed by ``Id``.
    """

    def __init__(self, sobject: str) -> None:
        self.sobject = sobject
        self.columns: list[str] = ["Id"]
        self.slots: dict[str, Settles] = {}
        self._row_bytes = 0
        self._padding = 0  # one comma a row for each column added after it
        self._header_bytes = len("Id\n")
        self._lines: dict[int, list[str]] = {}  # rows by how many columns they were given
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def size(self) -> int:
        """The upload's size in UTF-8 bytes, as :meth:`csv` will render it."""
        return self._header_bytes + self._row_bytes + self._padding

    def takes(self, ref: RecordRef, fields: Mapping[str, Any]) -> bool:
        """Whether this job can take the record: not there yet, and room left for its row.

        The row's cost is bounded from above (every value quoted with each character doubled,
        plus the header and padding its new columns add), so a full job never passes the
        upload limit."""
        if ref.external_id in self.slots:
            return False  # one record, one row: a second change goes in another job
        if not self.slots:
            return True
        # The id, a comma per column the job already has (a row fills every column), the
        # newline; each value quoted with every character doubled; a new column's comma,
        # header name and the padding comma it adds to every earlier row.
        bound = len(ref.external_id) + len(self.columns) + 1
        for name, value in fields.items():
            bound += 2 * utf8_size(str(value)) + 2
            if name not in self.columns:
                bound += 1 + len(name) + 1 + len(self.slots)
        return self.size + bound <= BULK_UPLOAD_BYTES

    def add(self, slot: Settles, fields: Mapping[str, Any]) -> None:
        for name in fields:
            if name not in self.columns:
                self.columns.append(name)
                self._header_bytes += utf8_size(name) + 1
                self._padding += len(self.slots)
        self._writer.writerow(
            [slot.ref.external_id, *(csv_cell(fields, name) for name in self.columns[1:])]
        )
        line = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self._lines.setdefault(len(self.columns), []).append(line)
        self.slots[slot.ref.external_id] = slot
        self._row_bytes += utf8_size(line)

    def csv(self) -> str:
        """The upload: the header, then every row padded to the final columns.

        Rendered once: the rows are let go, since a sent job stays in memory (for where its
        outcomes go) while it runs on the org and the next job fills."""
        self._writer.writerow(self.columns)
        parts = [self._buffer.getvalue()]
        self._buffer.seek(0)
        self._buffer.truncate()
        width = len(self.columns)
        for given, lines in self._lines.items():
            if given == width:
                parts.extend(lines)
            else:
                pad = "," * (width - given)
                parts.extend(line[:-1] + pad + "\n" for line in lines)
        self._lines = {}
        return "".join(parts)
