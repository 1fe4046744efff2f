"""Account roll-up: engagement of a buying group, fed back into each member's result.

Per-person engagement never depends on the account, so after people are scored alone, one
more pass settles it: recompute the signals of every account a scored person belongs to and
re-score just the members whose signals moved (their account criteria and outputs change).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from leadsync.engine.scoring import ModelScorer
from leadsync.model import AccountSignals, account_signals
from leadsync.store import Connection
from leadsync.store.accounts import account_keys_of, account_members
from leadsync.store.identity import mark_dirty
from leadsync.store.scoring import NO_HOLDS, Holds, held_among, load_inputs, save_scores

_KEYS_PER_PASS = 500


class AccountRollup:
    def __init__(self, scorer: ModelScorer) -> None:
        self.scorer = scorer

    def settle(
        self,
        conn: Connection,
        person_ids: Iterable[int],
        now: datetime,
        held: Holds = NO_HOLDS,
    ) -> int:
        """Re-score members of the accounts of ``person_ids`` whose signals changed, but
        members ``held`` this cycle: they are queued, to be scored (and settled) once they are
        no longer held."""
        keys = sorted(account_keys_of(conn, person_ids))
        rescored = 0
        for start in range(0, len(keys), _KEYS_PER_PASS):
            members = account_members(conn, keys[start : start + _KEYS_PER_PASS])
            stale: dict[int, AccountSignals] = {}
            for people in members.values():
                signals = account_signals((m["score"] for m in people), self.scorer.spec)
                current = {"score": signals.score, "engaged_people": signals.engaged_people}
                for member in people:
                    if member["account"] != current:
                        stale[member["person_id"]] = signals
            waiting = held_among(conn, list(stale), held)
            mark_dirty(conn, waiting, now)  # settled when scored, once no longer held
            for person_id in waiting:
                del stale[person_id]
            if not stale:
                continue
            inputs = load_inputs(conn, sorted(stale))
            rows = [self.scorer(item, now, account=stale[item.person_id]) for item in inputs]
            save_scores(conn, rows, [], now)
            rescored += len(rows)
        return rescored
