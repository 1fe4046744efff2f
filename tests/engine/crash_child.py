"""Runs one engine cycle against a file-backed CRM; the crash test kills it with SIGKILL.

The real model, routing and hand-off run, with a fixed clock per phase so a rerun decides
exactly what a clean run decides (phase 1: first sync; phase 2: an hour later).

``ForkedCycle`` runs it in a forked copy of the test's process, ``python -m`` in a fresh one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import structlog

from leadsync.config import settings_from_dict
from leadsync.store import Store
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

# A Monday, in business hours; phase 2 comes after the 17:00 close, so the day's digest goes out.
PHASE_START = datetime(2026, 3, 2, 16, 10, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "icp": {
        "good_fit_min": 1,
        "criteria": [
            {
                "name": "Manufacturing",
                "attribute": "industry",
                "operator": "one_of",
                "values": ["Manufacturing"],
            }
        ],
    },
    # No cap here: a killed cycle that acted and its rerun are two cycles' worth of cap.
    "handoff": {
        "enabled": True,
        "pools": [{"name": "All", "members": ["rep-a", "rep-b", "rep-c"]}],
        "fallback_owner": "00G-sales",
        "sla": {"hand_raiser": 5, "sales_ready": 480, "on_breach": "escalate"},
        "notify": {"poor_hand_raiser": "daily_digest"},
    },
    "recycle": {
        "statuses": ["Recycled"],
        "nurture_owner": "00G-nurture",
        "nurture_campaign": "701-nurture",
    },
}


class TickProgress:
    """Prints a line per step so the parent can aim its SIGKILL at any phase of the cycle."""

    def phase(self, name: str, total: int | None = None) -> None:
        print(f"tick {name}", flush=True)

    def advance(self, n: int) -> None:
        print("tick", flush=True)


def main(crm_path: str, store_url: str, phase: int) -> None:
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # quiet
    crm = MemoryCRM.load(Path(crm_path))
    store = Store(store_url)
    now = PHASE_START + timedelta(hours=phase - 1)
    engine = build_engine(
        settings_from_dict(CONFIG, "crash-test"),
        store,
        {"salesforce": MemoryConnector(crm, "salesforce")},
        clock=lambda: now,
        progress=TickProgress(),
    )
    # Small batches: many commits, so a kill can land between any two of them.
    engine.settings = replace(engine.settings, pull_batch=9, score_batch=7, write_chunk=11)
    assert engine.actor is not None
    engine.actor.settings = replace(engine.actor.settings, action_chunk=3)
    print("ready", flush=True)
    report = engine.run()
    print(report.status, flush=True)


class ForkedCycle:
    """``main`` in a forked child: a real process the crash test can SIGKILL anywhere, which
    starts without a fresh interpreter importing leadsync (2 s of CPU, ~50 children a run).

    Like ``subprocess.Popen`` as the crash test uses it: ``stdout`` to read the ticks,
    ``send_signal``, ``communicate`` and ``returncode``.
    """

    def __init__(self, crm_path: Path, store_url: str, phase: int) -> None:
        read_end, write_end = os.pipe()
        # A file, not a pipe: a child writing much to stderr never blocks on a full pipe.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by communicate)
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            self._child(read_end, write_end, str(crm_path), store_url, phase)
        os.close(write_end)
        self.stdout = os.fdopen(read_end)

    def _child(self, read_end: int, write_end: int, crm: str, url: str, phase: int) -> NoReturn:
        code = 1
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(self._stderr.fileno(), 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (the process ends here)
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            main(crm, url, phase)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            # Nothing of the parent's (its pytest, its atexit handlers) runs in the child.
            os._exit(code)

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def communicate(self) -> tuple[str, str]:
        """The rest of stdout and all of stderr, once the child has ended."""
        out = self.stdout.read()
        self.stdout.close()
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        return out, err


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
