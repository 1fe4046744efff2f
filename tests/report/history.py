"""A generated store history (known drivers) and the configs the report and tune tests read."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.config import Settings, settings_from_dict
from leadsync.report import Dataset, leads_from_store
from leadsync.store import Store
from leadsync.tune.synthetic import generate, write_history

NOW = datetime(2025, 6, 1, tzinfo=UTC)
LEADS = 2500
SEED = 7

CRITERIA: list[dict[str, Any]] = [
    {"name": "Manufacturing", "attribute": "industry", "operator": "one_of",
     "values": ["Manufacturing"]},
    {"name": "UK or France", "attribute": "country", "operator": "one_of",
     "values": ["United Kingdom", "France"]},
    {"name": "Under 1,000 employees", "attribute": "employees", "operator": "below", "max": 1000},
    {"name": "Decision maker", "attribute": "seniority", "operator": "one_of",
     "values": ["C-Suite", "VP", "Director"]},
]  # fmt: skip

#: Default rules; a price sheet alone makes a lead sales-ready (so both kinds of hand-off occur).
GOOD: dict[str, Any] = {
    "icp": {"good_fit_min": 2, "criteria": CRITERIA},
    "engagement": {"sales_ready_threshold": 50},
}

#: Points where the noise is and none where the signal is; a fit cut-off over noisy boxes.
BAD: dict[str, Any] = {
    "icp": {"good_fit_min": 3, "criteria": CRITERIA},
    "engagement": {
        "rules": [
            {"name": "Demo request", "kind": "form_submission", "name_pattern": r"\bdemo",
             "points": 5, "interest": "active"},
            {"name": "Price sheet download", "kind": "form_submission", "name_pattern": "pric",
             "points": 0, "interest": "active"},
            {"name": "Ebook", "kind": "ebook_download", "points": 60, "interest": "passive"},
            {"name": "Blog view", "kind": "page_view", "url_pattern": "/blog", "points": 100,
             "interest": "passive"},
            {"name": "Email open", "kind": "email_open", "points": 40, "interest": "passive"},
        ]
    },
}  # fmt: skip


def settings(data: dict[str, Any], url: str) -> Settings:
    return settings_from_dict({**copy.deepcopy(data), "store": {"url": url}}, "<test>")


def build_store(folder: Path) -> str:
    url = f"sqlite:///{folder / 'history.db'}"
    store = Store(url)
    try:
        write_history(store, generate(LEADS, SEED, NOW), settings(GOOD, url).model_spec(), SEED)
    finally:
        store.close()
    return url


def dataset(url: str, config: dict[str, Any]) -> Dataset:
    spec = settings(config, url).model_spec()
    store = Store(url)
    try:
        with store.reading() as conn:
            return leads_from_store(conn, spec, fit_source=None, cycle_days=90, now=NOW)
    finally:
        store.close()
