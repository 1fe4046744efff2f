"""The whole report as one JSON-able document, from the store or from a CSV export."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leadsync.report.dataset import BACKTEST_RULE, Dataset
from leadsync.report.sections import (
    dataset_sections,
    matrix_by_month,
    period_start,
    store_sections,
)
from leadsync.store import Connection

CONVERSION_STORE = (
    "converted = a Salesforce lead converted (ConvertedDate) or a HubSpot contact whose "
    "lifecycle stage reached one of the mapping's converted_stages (customer by default; dated "
    "by when it first entered one){stages}, or, where the mapping turns it on ([conversion] "
    "won_opportunities / won_deal_stages), a won opportunity or deal (dated by its close date); "
    "otherwise 'opportunity won' is not seen"
)
CONVERSION_CSV = "converted = the export's converted flag ({column})"


def data_end(ds: Dataset, now: datetime) -> datetime:
    """Where a report of ``ds`` ends: ``now``, or its newest entry when that is earlier (an
    export of last year's leads, read by months counted back from today, showed nobody)."""
    dated = [lead.entered_at for lead in ds.leads if lead.entered_at is not None]
    return min(now, max(dated)) if dated else now


def report_document(
    ds: Dataset,
    *,
    now: datetime,
    months: int,
    conn: Connection | None = None,
    stages: Iterable[str] = (),
    conversion: str = "",
) -> dict[str, Any]:
    """Every section the data can answer. Store sections need ``conn``; the dataset
    sections cover leads that entered the CRM within the period (all rows of an undated
    export); the months are when they entered, each in its back-test cell."""
    start = period_start(now, months)
    leads = [
        lead for lead in ds.leads if lead.entered_at is None or start <= lead.entered_at <= now
    ]
    # A lead dated after the report's end (a CRM clock ahead, a typo in an export) is in no
    # month shown; counted and said, never dropped silently.
    future = sum(1 for lead in ds.leads if lead.entered_at is not None and lead.entered_at > now)
    stage_list = [s for s in stages if s.strip()]
    document: dict[str, Any] = {
        "generated_at": now,
        "origin": ds.origin,
        "period": {"months": months, "from": start, "to": now},
        "sales_cycle_days": ds.cycle_days if conn is not None else None,
        "conversion": conversion
        or CONVERSION_STORE.format(
            stages=f", or a lifecycle_stage attribute of {', '.join(stage_list)}"
            if stage_list
            else ""
        ),
        **dataset_sections(ds, leads),
    }
    if future:
        document["future_dated"] = future
    if ds.window_days is not None:
        document["backtest_rule"] = BACKTEST_RULE.format(window=ds.window_days)
        document["matrix_by_month"] = matrix_by_month(leads)
    if conn is not None:
        document.update(store_sections(conn, start, ds.cycle_days, stage_list))
    else:
        document["not_available"] = (
            "matrix per month, hand-raisers against sales-ready and the recycle flow need the "
            "store's score history and hand-offs; a CSV export has neither"
        )
    if ds.quality is not None:
        document["data_quality"] = ds.quality.to_dict()
    if ds.notes:
        document["config_against_data"] = list(ds.notes)
    return document
