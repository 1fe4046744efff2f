"""A cycle's report prints whatever text a CRM or the store put in it, literally."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.cli import sync_cmds
from leadsync.cli.output import console
from leadsync.engine.cycle import CycleReport

#: CRM messages are full of brackets: ``INVALID_FIELD: [/Lead] No such column [Status__c]``.
_crm_text = st.text(alphabet=st.sampled_from("[]/ab =:\\#"), min_size=1, max_size=30)


@settings(max_examples=50, deadline=None)
@given(error=_crm_text, why=_crm_text, record=_crm_text)
def test_crm_text_in_a_report_prints_literally(error: str, why: str, record: str) -> None:
    report = CycleReport(
        run_id=1,
        status="failed",
        dry_run=True,
        errors=[error],
        waiting_for={"mem": why},
        people_waiting=1,
        would_write={"sample": [{"record": record, "values": {"Status": "[/x]"}}]},
    )
    with console.capture() as captured:
        sync_cmds._print_report(report)
    text = captured.get()
    assert error.strip() in text and why.strip() in text
