"""Account roll-up queries: who belongs to which account, and what the account looks like."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from leadsync.store.identity import chunks
from leadsync.store.members import among
from leadsync.store.schema import people, scores


def account_keys_of(conn: sa.Connection, person_ids: Iterable[int]) -> set[str]:
    keys: set[str] = set()
    for part in chunks(sorted(set(person_ids))):
        query = sa.select(people.c.account_key).where(
            among(conn, people.c.id, part), people.c.account_key.is_not(None)
        )
        keys.update(conn.execute(query).scalars())
    return keys


def account_members(conn: sa.Connection, keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Active, scored members of each account: person id, own score, current account signals."""
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for part in chunks(sorted(set(keys))):
        query = (
            sa.select(people.c.account_key, people.c.id, scores.c.score, scores.c.result)
            .join(scores, scores.c.person_id == people.c.id)
            .where(among(conn, people.c.account_key, part), people.c.active.is_(True))
            .order_by(people.c.id)
        )
        for key, person_id, score, result in conn.execute(query):
            members[key].append(
                {"person_id": person_id, "score": score, "account": result.get("account")}
            )
    return members
