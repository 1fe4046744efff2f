"""The speed-to-lead benchmark's arithmetic: percentiles, log parsing, wait/work attribution."""

from __future__ import annotations

import json
from pathlib import Path

from bench.speed_to_lead import Sample, attribute, cycles_from_log, percentile, render


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile([3.0], 95) == 3.0


def test_cycles_are_read_from_the_services_json_log(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    lines = [
        {"event": "service.started", "timestamp": "2026-01-01T00:00:00.000000Z"},
        {
            "event": "service.cycle_started",
            "connector": "hubspot",
            "timestamp": "2026-01-01T00:00:10.000000Z",
        },
        {
            "event": "service.cycle_finished",
            "connector": "hubspot",
            "seconds": 1.5,
            "status": "ok",
            "timestamp": "2026-01-01T00:00:11.500000Z",
        },
    ]
    log.write_text("not json\n" + "\n".join(json.dumps(x) for x in lines) + "\n")
    (cycle,) = cycles_from_log(log)
    assert cycle["connector"] == "hubspot" and cycle["seconds"] == 1.5
    assert cycle["end"] - cycle["start"] == 1.5


def test_latency_splits_into_wait_for_the_cycle_and_work_inside_it() -> None:
    cycles = [{"connector": "hubspot", "start": 100.0, "end": 101.0, "seconds": 1.0}]
    sample = Sample("hubspot", "a@example.com", "00Q000000000001AAA")
    sample.submitted_wall, sample.submitted_mono = 90.0, 5.0
    sample.task_wall, sample.task_mono = 100.6, 15.6
    attribute([sample], cycles)
    assert sample.latency_s is not None and round(sample.latency_s, 3) == 10.6
    assert sample.wait_s == 10.0 and sample.work_s is not None and round(sample.work_s, 3) == 0.6
    missed = Sample("salesforce", "b@example.com", "00Q000000000002AAA")
    attribute([missed], cycles)
    assert missed.latency_s is None and missed.wait_s is None


def test_a_missed_target_is_reported_as_not_met() -> None:
    stats = {
        "submitted": 2,
        "tasks_seen": 2,
        "latency": {"p50": 1.0, "p95": 3.0, "max": 3.0},
        "wait_for_cycle": {"p50": 0.1, "p95": 0.2, "max": 0.2},
        "work_in_cycle": {"p50": 0.9, "p95": 2.8, "max": 2.8},
        "met": False,
    }
    result = {
        "mode": "webhook",
        "target": "p95 < 2 s",
        "all": stats,
        "by_source": {"hubspot": stats},
        "cycles": {},
        "backfill_seconds": 1.0,
        "service_cpu_seconds": 1.0,
        "load_before": [1.0, 1.0, 1.0],
        "load_after": [1.0, 1.0, 1.0],
        "webhook_deliveries": {},
    }
    meta = {"command": "x", "cpus": 2, "load_start": [], "load_end": [], "total_seconds": 1.0}
    line = render([result], meta).splitlines()[-2]
    assert line.startswith("webhook  hubspot") and line.endswith("NO")
