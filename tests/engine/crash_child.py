"""Runs one engine cycle against a file-backed CRM; the crash test kills it with SIGKILL."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog

from leadsync.engine.cycle import EngineSettings, SyncEngine
from leadsync.store import Store
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import points_scorer


class TickProgress:
    """Prints a line per step so the parent can aim its SIGKILL at any phase of the cycle."""

    def phase(self, name: str, total: int | None = None) -> None:
        print(f"tick {name}", flush=True)

    def advance(self, n: int) -> None:
        print("tick", flush=True)


def main(crm_path: str, store_url: str) -> None:
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # quiet
    crm = MemoryCRM.load(Path(crm_path))
    store = Store(store_url)
    settings = EngineSettings(pull_batch=9, score_batch=7, write_chunk=11)
    engine = SyncEngine(
        store,
        {"mem": MemoryConnector(crm)},
        points_scorer,
        settings,
        lambda: datetime.now(UTC),
        TickProgress(),
    )
    print("ready", flush=True)
    report = engine.cycle()
    print(report.status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
