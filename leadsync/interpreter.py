"""Interpreter settings for a LeadSync process: thread switching and the garbage collector.

Set once per process, by the ``leadsync`` entry point and by each scoring worker process (a
spawned worker does not run the entry point).
"""

from __future__ import annotations

import gc
import sys

#: How long a thread may hold the interpreter while another waits for it (Python's default is
#: 5 ms). A cycle stores and scores in threads that talk to the database while the main
#: thread converts the CRM's rows: after every round trip a database thread waited up to the
#: full interval to get the interpreter back, so the database sat idle waiting for leadsync
#: while leadsync's process used well under one core.
SWITCH_INTERVAL_S = 0.0005

#: Collector thresholds (Python's default is 700, 10, 10). A pull or a scoring batch creates
#: thousands of short-lived dicts and records a batch and keeps most of them until the batch
#: commits, so with the defaults the collector ran every 700 of them and kept walking whole
#: batches that could not be garbage yet: at 100,000 leads / 1,000,000 activities leadsync
#: used 92.7 CPU-seconds with the defaults and 76-78 with these. Cycles are still collected,
#: after 10,000 new objects instead of 700.
GC_THRESHOLDS = (10_000, 20, 20)


def tune() -> None:
    """Apply the settings above, and leave what is alive now (modules, the schema, the
    configuration) out of every later collection: none of it is ever garbage."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
