"""A Bulk job's rows: its size is the upload's UTF-8 size, and a full job stays under the limit."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.salesforce import bulk_batch
from connectors.salesforce.bulk_batch import BulkBatch, Slot
from leadsync.records import RecordRef, WriteOutcome


def _ref(n: int) -> RecordRef:
    return RecordRef("salesforce", "Lead", f"00Q{n:015d}")


def _add(batch: BulkBatch, n: int, fields: dict[str, object]) -> bool:
    ref = _ref(n)
    if not batch.takes(ref, fields):
        return False
    sink: list[WriteOutcome | None] = [None]
    batch.add(Slot(ref, sink, (0,)), fields)
    return True


def test_size_counts_utf8_bytes_header_and_padding() -> None:
    batch = BulkBatch("Lead")
    _add(batch, 1, {"Title": "Directrice générale"})
    _add(batch, 2, {"Title": 'Say "hi"', "City": "Zürich"})  # a later column pads row 1
    upload = batch.csv()
    assert upload.splitlines()[0] == "Id,Title,City"
    assert batch.size == len(upload.encode("utf-8"))
    assert batch.size > len(upload)  # the accents are two bytes each


_VALUES = st.text(min_size=0, max_size=40)
_ROWS = st.lists(
    st.dictionaries(st.sampled_from(["Title", "City", "Score__c", "Note__c"]), _VALUES),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(rows=_ROWS, limit=st.integers(min_value=200, max_value=4000))
# Found by hypothesis: a row without a field still gets a comma for every existing column.
@example(rows=[{}, {}, {}, {"City": "00\x80", "Score__c": "\n\x80ࠀ"}, {"Title": "0"}], limit=200)
def test_a_job_never_passes_the_upload_limit(rows: list[dict[str, object]], limit: int) -> None:
    batches = [BulkBatch("Lead")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk_batch, "BULK_UPLOAD_BYTES", limit)
        for n, fields in enumerate(rows):
            if not _add(batches[-1], n, fields):
                batches.append(BulkBatch("Lead"))
                assert _add(batches[-1], n, fields)  # an empty job takes any row
    for batch in batches:
        size = len(batch.csv().encode("utf-8"))
        assert size == batch.size
        assert len(batch) == 1 or size <= limit
