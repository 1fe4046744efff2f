"""Won sales as conversions, the part every CRM shares: which people a pull asks about, when,
and the people whose sale changed though they did not.

A CRM's own module (``connectors/salesforce/won.py``: opportunities and contact roles;
``connectors/hubspot/won.py``: deals and associations) says how to read won sales; this one
says when a pull reads them, so both CRMs pull alike:

* a full (or checkpointed) pull reads every won sale once, before the first person it can
  apply to (nothing is held back from a checkpoint);
* an incremental pull asks about the people it pulled, ``batch`` at a time;
* an incremental pull then reads the people on a sale changed since its cursor that the pull
  did not bring (their sale closed, they did not change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from leadsync.records import PersonRecord


class WonSales(Protocol):
    """One CRM's reader of won sales (see the module)."""

    #: People per ``of_people`` call of an incremental pull.
    batch: int

    def all_people(self) -> dict[str, datetime]:
        """Every person on a won sale: external id -> the first close."""
        ...

    def of_people(self, people: Sequence[PersonRecord]) -> dict[str, datetime]:
        """The first won close of each of ``people`` on one (the others are left out)."""
        ...

    def changed_since(self, since: datetime) -> list[str]:
        """External ids of the people on a won sale changed at or after ``since``."""
        ...

    def can_close(self, person: PersonRecord) -> bool:
        """Whether a sale can name ``person`` (a live record of the kind sales link to)."""
        ...


def converted(person: PersonRecord, closes: dict[str, datetime]) -> PersonRecord:
    """``person`` converted at its first won close when that came before its own conversion."""
    if person.deleted:
        return person
    close = closes.get(person.ref.external_id)
    if close is None or (person.converted_at is not None and person.converted_at <= close):
        return person
    return replace(person, converted_at=close)


def with_won_sales(
    people: Iterable[PersonRecord],
    won: WonSales,
    since: datetime | None,
    *,
    whole: bool,
    reread: Callable[[list[str]], Iterable[PersonRecord]],
) -> Iterator[PersonRecord]:
    """``people`` as a pull yields them, converted by their won sales, then (incremental) the
    people ``reread`` brings back whose sale changed since ``since`` though they did not."""
    seen: set[str] = set()
    if whole:
        closes: dict[str, datetime] | None = None
        for person in people:
            if closes is None and won.can_close(person):
                closes = won.all_people()
            seen.add(person.ref.external_id)
            yield converted(person, closes or {})
    else:
        batch: list[PersonRecord] = []
        for person in people:
            batch.append(person)
            if len(batch) >= won.batch:
                yield from _batch(won, batch, seen)
                batch = []
        yield from _batch(won, batch, seen)
    if since is None:
        return
    missed = [ident for ident in won.changed_since(since) if ident not in seen]
    if missed:
        yield from reread(missed)


def with_won_sales_now(people: list[PersonRecord], won: WonSales) -> list[PersonRecord]:
    """People read by id or address, converted by their won sales."""
    closes = won.of_people(people)
    return [converted(person, closes) for person in people]


def _batch(won: WonSales, batch: Sequence[PersonRecord], seen: set[str]) -> Iterator[PersonRecord]:
    closes = won.of_people(batch)
    for person in batch:
        seen.add(person.ref.external_id)
        yield converted(person, closes)
