"""Rows of one object held as columns, for orgs too big to keep as one dict per record.

A generated org of a million leads carries ten million activities; as sparse dicts they would
take over 10 GiB. A :class:`ColumnTable` keeps each field as a compact array (or a function of
the row's position, for derived fields) and hands out :class:`ColumnRow` views, read-only
mappings that behave like the sparse dicts the rest of the sandbox uses (a null is a missing
key). The arrays are never changed after the table is built: a write stores a plain dict row
that shadows the view (the org replaces rows on every write anyway), so a query cursor or Bulk
job that holds a view keeps the snapshot it saw.

Ids are positional: the table reserves a block of consecutive ids from the org's
:class:`IdFactory`, so row ``i``'s id is computed, not stored, and an id maps back to ``i``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandboxes.salesforce.ids import IdFactory
from sandboxes.salesforce.schema import ObjectDef

Reader = Callable[[int], Any]
Row = Mapping[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Stands for null in an integer column (timestamps in ms, dates as ordinals).
NULL = -(2**62)


def stamp_reader(column: Any) -> Reader:
    """A reader of a datetime column stored as milliseconds since the epoch."""

    def read(i: int) -> datetime | None:
        ms = column[i]
        return None if ms == NULL else _EPOCH + timedelta(milliseconds=ms)

    return read


def date_reader(column: Any) -> Reader:
    """A reader of a date column stored as proleptic ordinals."""

    def read(i: int) -> date | None:
        day = column[i]
        return None if day == NULL else date.fromordinal(day)

    return read


def code_reader(values: list[Any], column: Any) -> Reader:
    """A reader of a dictionary-encoded column: ``values[column[i]]``."""

    def read(i: int) -> Any:
        return values[column[i]]

    return read


def to_ms(moment: datetime) -> int:
    """``moment`` as integer milliseconds since the epoch (what :func:`stamp_reader` reads)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class ColumnTable(MutableMapping[str, Row]):
    """The records of one object: a built block of column rows plus plain-dict writes.

    ``readers`` maps field names to functions of the row position; a field without one reads
    as the value :meth:`OrgState.insert` would have stored (its default, ``False`` for a
    checkbox, else null). Iteration order is the block in position order (a written row keeps
    its place), then rows inserted later, as a dict keeps insertion order.
    """

    def __init__(
        self,
        definition: ObjectDef,
        ids: IdFactory,
        size: int,
        readers: Mapping[str, Reader],
    ) -> None:
        self.definition = definition
        self.size = size
        self._ids = ids
        self._prefix = definition.prefix
        self._first = ids.reserve(definition.prefix, size)
        fixed: dict[str, Any] = {}
        for name, spec in definition.fields.items():
            if name in readers or name == "Id":
                continue
            if spec.default is not None:
                fixed[name] = spec.default
            elif spec.type == "boolean":
                fixed[name] = False
        self.readers = dict(readers)
        self._fixed = fixed
        self._written: dict[str, Row] = {}
        self._removed: set[str] = set()
        self._added: dict[str, Row] = {}

    # --- positions ------------------------------------------------------------------------
    def id_at(self, position: int) -> str:
        return self._ids.make(self._prefix, self._first + position)

    def position(self, record_id: str) -> int | None:
        number = self._ids.number_of(record_id, self._prefix)
        if number is None or not 0 <= number - self._first < self.size:
            return None
        return number - self._first

    def read(self, name: str, position: int) -> Any:
        """The built value of field ``name`` at ``position`` (``None`` for null)."""
        reader = self.readers.get(name)
        if reader is not None:
            return reader(position)
        if name == "Id":
            return self.id_at(position)
        return self._fixed.get(name)

    def stores(self, name: str) -> bool:
        """Whether field ``name`` can be non-null in a built row."""
        return name == "Id" or name in self.readers or self._fixed.get(name) is not None

    def names(self) -> Iterator[str]:
        yield "Id"
        yield from self.readers
        yield from self._fixed

    # --- mapping ----------------------------------------------------------------------------
    def __getitem__(self, record_id: str) -> Row:
        row = self._written.get(record_id)
        if row is not None:
            return row
        position = self.position(record_id)
        if position is not None and record_id not in self._removed:
            return ColumnRow(self, position)
        return self._added[record_id]

    def __setitem__(self, record_id: str, row: Row) -> None:
        if self.position(record_id) is None:
            self._added[record_id] = row
        else:
            self._removed.discard(record_id)
            self._written[record_id] = row

    def __delitem__(self, record_id: str) -> None:
        if self.position(record_id) is None:
            del self._added[record_id]
        elif record_id in self._removed:
            raise KeyError(record_id)
        else:
            self._removed.add(record_id)
            self._written.pop(record_id, None)

    def __iter__(self) -> Iterator[str]:
        for position in range(self.size):
            record_id = self.id_at(position)
            if record_id not in self._removed:
                yield record_id
        yield from self._added

    def __len__(self) -> int:
        return self.size - len(self._removed) + len(self._added)

    def values(self) -> Iterator[Row]:  # type: ignore[override]
        """Every row; a view unless a write replaced it. Cheap: ids are only made when a
        write or removal has to be looked up."""
        shadowed = bool(self._written or self._removed)
        for position in range(self.size):
            if shadowed:
                record_id = self.id_at(position)
                if record_id in self._removed:
                    continue
                written = self._written.get(record_id)
                if written is not None:
                    yield written
                    continue
            yield ColumnRow(self, position)
        yield from self._added.values()


class ColumnRow(Mapping[str, Any]):
    """One built row of a :class:`ColumnTable`, read as a sparse record (nulls absent)."""

    __slots__ = ("_position", "_table")

    def __init__(self, table: ColumnTable, position: int) -> None:
        self._table = table
        self._position = position

    def get(self, key: str, default: Any = None) -> Any:
        reader = self._table.readers.get(key)
        value = reader(self._position) if reader else self._table.read(key, self._position)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self._table.read(key, self._position)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._table.names() if self._table.read(n, self._position) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        # A record always has its Id; without this, ``if row`` would count every field.
        return True

    def __repr__(self) -> str:
        return f"ColumnRow({dict(self)!r})"
