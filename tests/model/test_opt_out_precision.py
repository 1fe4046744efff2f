"""An opt-out wins whatever the clocks say (issue 22): "after" is judged on time intervals.

Every activity carries a best-estimate time and how far before and after it the true instant
may lie (a date-only stamp spans a day and more). A hand-raise lifts do-not-contact only when
its earliest possible instant is after the latest possible instant of every opt-out; any
order the precisions cannot decide keeps the person out of sales' hands.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.model import Activity, Person, build_spec, score
from leadsync.model.values import DATE_EARLY_S, DATE_LATE_S, on_date, spanning

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SPEC = build_spec(criteria=[], good_fit_min=0)
_DAY = 86_400

#: Precisions the connectors produce: exact, a date with no zone, "by this instant" (a
#: campaign member's LastModifiedDate), and anything else.
slack = st.one_of(
    st.just((0, 0)),
    st.just((DATE_EARLY_S, DATE_LATE_S)),
    st.tuples(st.integers(0, 2 * _DAY), st.just(0)),
    st.tuples(st.integers(0, 3 * _DAY), st.integers(0, 3 * _DAY)),
)
#: Seconds before NOW, within the 90-day window so a lifted person is a hand-raiser.
offsets = st.integers(0, 80 * _DAY)


def _activity(ident: str, kind: str, ago: int, spread: tuple[int, int]) -> Activity:
    name = "Contact Us" if kind == "form_submission" else None
    early, late = spread
    return Activity(
        ident, kind, NOW - timedelta(seconds=ago), name=name, early_s=early, late_s=late
    )


def unsubscribe(ident: str, ago: int, spread: tuple[int, int]) -> Activity:
    return _activity(ident, "unsubscribe", ago, spread)


def contact_us(ident: str, ago: int, spread: tuple[int, int]) -> Activity:
    return _activity(ident, "form_submission", ago, spread)


def _earliest(a: Activity) -> datetime:
    return a.occurred_at - timedelta(seconds=a.early_s)


def _latest(a: Activity) -> datetime:
    return a.occurred_at + timedelta(seconds=a.late_s)


def surely_after(later: Activity, earlier: Activity) -> bool:
    return _earliest(later) > _latest(earlier)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Activity], list[Activity]]:
    outs = [
        unsubscribe(f"u{i}", draw(offsets), draw(slack)) for i in range(draw(st.integers(1, 4)))
    ]
    hands = [
        contact_us(f"h{i}", draw(offsets), draw(slack)) for i in range(draw(st.integers(1, 4)))
    ]
    return outs, hands


@settings(max_examples=400, deadline=None)
@given(histories(), st.booleans(), st.randoms(use_true_random=False))
def test_do_not_contact_unless_a_hand_raise_surely_follows_every_opt_out(
    history: tuple[list[Activity], list[Activity]], flag: bool, rng: object
) -> None:
    outs, hands = history
    acts = [*outs, *hands]
    rng.shuffle(acts)  # type: ignore[attr-defined]
    lifted = any(all(surely_after(h, u) for u in outs) for h in hands)
    result = score(Person("p", opted_out=flag), acts, SPEC, NOW)
    assert (result.readiness == "do_not_contact") == (not lifted), (acts, result.readiness)
    if lifted:
        assert result.readiness == "hand_raiser"


@settings(max_examples=300, deadline=None)
@given(offsets, slack, slack, st.integers(-3 * _DAY, 3 * _DAY), st.booleans())
def test_a_hand_raise_the_stamps_cannot_place_after_the_opt_out_never_lifts_it(
    ago: int, out_spread: tuple[int, int], hand_spread: tuple[int, int], shift: int, flag: bool
) -> None:
    out = unsubscribe("u", ago, out_spread)
    hand = contact_us("h", max(0, ago - shift), hand_spread)
    if surely_after(hand, out):
        hand = contact_us("h", ago, hand_spread)  # the same best time: never surely after
    assert not surely_after(hand, out)
    result = score(Person("p", opted_out=flag), [hand, out], SPEC, NOW)
    assert result.readiness == "do_not_contact"


@settings(max_examples=300, deadline=None)
@given(offsets, slack, slack, st.integers(1, 5 * _DAY), st.booleans())
def test_a_hand_raise_surely_after_the_unsubscribe_always_lifts_it(
    ago: int, out_spread: tuple[int, int], hand_spread: tuple[int, int], gap: int, flag: bool
) -> None:
    out = unsubscribe("u", ago + hand_spread[0] + out_spread[1] + gap, out_spread)
    hand = contact_us("h", ago, hand_spread)
    assert surely_after(hand, out)
    result = score(Person("p", opted_out=flag), [out, hand], SPEC, NOW)
    assert result.readiness == "hand_raiser"


@settings(max_examples=300, deadline=None)
@given(offsets, st.integers(1, 20 * _DAY), st.integers(1, 20 * _DAY), slack, st.randoms())
def test_the_last_unsubscribe_is_the_one_a_hand_raise_must_follow(
    ago: int, after_hand: int, before_hand: int, spread: tuple[int, int], rng: object
) -> None:
    """An older unsubscribe before a hand-raise does not let it outrank a later one."""
    hand = contact_us("h", ago, (0, 0))
    late = unsubscribe("late", max(0, ago - after_hand), spread)
    early = unsubscribe("early", ago + before_hand + spread[1], spread)
    acts = [hand, late, early]
    rng.shuffle(acts)  # type: ignore[attr-defined]
    assert surely_after(hand, early) and not surely_after(hand, late)
    assert score(Person("p"), acts, SPEC, NOW).readiness == "do_not_contact"


@settings(max_examples=200, deadline=None)
@given(offsets, st.integers(1, 20 * _DAY), st.integers(1, 20 * _DAY), st.randoms())
def test_the_latest_hand_raise_is_the_one_that_counts(
    ago: int, gap: int, older: int, rng: object
) -> None:
    """An older hand-raise before the unsubscribe does not hide a later one after it."""
    out = unsubscribe("u", ago + gap, (0, 0))
    after = contact_us("after", ago, (0, 0))
    before = contact_us("before", ago + gap + older, (0, 0))
    acts = [before, out, after]
    rng.shuffle(acts)  # type: ignore[attr-defined]
    assert score(Person("p"), acts, SPEC, NOW).readiness == "hand_raiser"


def test_the_issue_day_a_form_at_8_and_a_dated_unsubscribe_that_was_at_20() -> None:
    """The campaign response knows only its date: it may be after the 08:00 form."""
    day = date(2024, 5, 30)
    at, early, late = on_date(day)
    out = Activity("u", "unsubscribe", at, early_s=early, late_s=late)
    form = Activity("h", "form_submission", datetime(2024, 5, 30, 8, tzinfo=UTC), "Contact Us")
    result = score(Person("p", opted_out=True), [form, out], SPEC, NOW)
    assert result.readiness == "do_not_contact"
    assert result.readiness_reason == "unsubscribed 2024-05-30, no later hand-raise"
    # The member's LastModifiedDate bounds it: at most 20:00, so a form at 20:01 lifts it.
    last_modified = datetime(2024, 5, 30, 20, tzinfo=UTC)
    best, early, late = spanning(last_modified, at - timedelta(seconds=early), last_modified)
    bounded = Activity("u", "unsubscribe", best, early_s=early, late_s=late)
    later = Activity("h", "form_submission", datetime(2024, 5, 30, 20, 1, tzinfo=UTC), "Contact Us")
    assert score(Person("p"), [later, bounded], SPEC, NOW).readiness == "hand_raiser"
    assert score(Person("p"), [form, bounded], SPEC, NOW).readiness == "do_not_contact"


@given(st.dates(date(1990, 1, 1), date(2090, 1, 1)))
def test_a_date_spans_its_day_in_every_time_zone(day: date) -> None:
    at, early, late = on_date(day)
    activity = Activity("a", "unsubscribe", at, early_s=early, late_s=late)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert activity.earliest <= midnight - timedelta(hours=14)  # the day begins at UTC+14
    assert activity.latest >= midnight + timedelta(days=1, hours=12)  # and ends at UTC-12
    assert activity.occurred_at.date() == day


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.integers(-(10**9), 10**9),
    st.integers(-(10**9), 10**9),
)
def test_spanning_carries_an_interval_never_narrower_than_the_known_one(
    best: datetime, a: int, b: int
) -> None:
    try:
        first, second = best + timedelta(microseconds=a), best + timedelta(seconds=b)
    except OverflowError:
        return
    moment, early, late = spanning(best, first, second)
    low, high = min(first, second), max(first, second)
    assert low <= moment <= high
    activity = Activity("a", "call", moment, early_s=early, late_s=late)
    assert activity.earliest <= low and activity.latest >= high
    assert activity.earliest > low - timedelta(seconds=1)
    assert activity.latest < high + timedelta(seconds=1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 80), min_size=1, max_size=6, unique=True), st.randoms())
def test_the_reason_names_the_latest_unsubscribe(days_ago: list[int], rng: Random) -> None:
    """Whatever order the CRM lists them in, "unsubscribed <date>" is the last one's date."""
    outs = [unsubscribe(f"u{d}", d * _DAY, (0, 0)) for d in days_ago]
    rng.shuffle(outs)
    result = score(Person("p"), outs, SPEC, NOW)
    latest = (NOW - timedelta(days=min(days_ago))).date().isoformat()
    assert result.readiness == "do_not_contact"
    assert result.readiness_reason == f"unsubscribed {latest}, no later hand-raise"
