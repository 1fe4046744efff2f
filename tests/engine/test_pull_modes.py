"""Which pull mode reads each stream, as the cycle's request decides (``pulls.modes_for``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadsync.engine.pulls import ById, Everything, FromCursor, Resumable, modes_for
from leadsync.engine.request import CycleRequest
from leadsync.records import RecordRef

NAMES = ("mem", "hub")
refs = st.builds(RecordRef, st.sampled_from(NAMES), st.just("contact"), st.text("0123", min_size=1))
requests = st.builds(
    CycleRequest,
    full=st.booleans(),
    dry_run=st.booleans(),
    since=st.none() | st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    notified=st.lists(refs, max_size=4).map(tuple),
    resume_key=st.none() | st.just("cli:mem:all"),
    reread=st.none() | st.just(timedelta(hours=24)),
)


@given(request=requests, name=st.sampled_from(NAMES))
def test_each_stream_is_read_as_the_request_asks(request: CycleRequest, name: str) -> None:
    people, activities = modes_for(request, name)
    named = tuple(ref for ref in request.notified if ref.source == name)
    if request.full and request.resume_key and not request.dry_run:
        # A backfill carries on from its checkpoints; a webhook's names change nothing.
        assert people == activities == Resumable(request.resume_key, request.since)
    elif request.full:
        assert people == activities == Everything(request.since)
    else:
        assert activities == FromCursor(request.reread)
        # The daily re-read reads LeadSync's own writes too; a plain poll leaves them out.
        own = FromCursor(request.reread, skip_own_writes=request.reread is None)
        assert people == (ById(named) if named else own)
    # Only a read of everything that changed closes a stream's gap.
    assert people.complete == (not named or request.full)
    assert activities.complete
