"""Hand-off tasks and daily digests: templates, keys, priorities, due times, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from leadsync.errors import ConfigError
from leadsync.handoff import (
    DigestLead,
    PersonFacts,
    RoutingState,
    notify_mode,
    render_digest,
    render_task,
    route,
)
from leadsync.handoff.routing import Candidates
from leadsync.records import RecordRef
from tests.handoff.factories import NOW, handoff_settings, person, result_dict, user

SETTINGS = handoff_settings(
    pools=[{"name": "All", "members": ["r1"]}],
    business_hours={"time_zone": "Europe/London"},
)
DECISION = route(PersonFacts(), Candidates.of([user("r1")]), SETTINGS, RoutingState(), NOW)
LINK = "https://example.my.salesforce.com/00Q1"


def test_hand_raiser_task_is_high_priority_due_in_five_business_minutes() -> None:
    task = render_task(person(), result_dict(), DECISION, SETTINGS, LINK, NOW, seq=1)
    assert task.key == "ls-p-1-1"
    assert task.owner_id == "r1"
    assert task.person == RecordRef("salesforce", "Lead", "00Q1")
    assert task.priority == "High"
    assert task.due_at == NOW + timedelta(minutes=5)
    assert task.subject == "LeadSync: hand-raiser good-fit lead Jane Doe (Acme)"
    body = task.body
    assert body.startswith("sales: good fit 1/2; hand-raiser, score 120")
    assert "Score 120, due Wed 05 Jun 2024 11:05 BST." in body
    assert "Top activities:\n  +75  Demo request (form_submission) on 2024-06-04" in body
    assert "Fit boxes missed: Size" in body
    assert "Why you: pool All" in body
    assert body.endswith(f"Open the record: {LINK}")


def test_sales_ready_task_takes_the_configured_priority_and_business_day() -> None:
    task = render_task(person(), result_dict("sales_ready"), DECISION, SETTINGS, None, NOW, seq=2)
    assert task.priority == "Normal"
    assert task.key == "ls-p-1-2"
    # Handed off at 11:00 BST: 6 hours left today, the other 2 tomorrow from 09:00 BST.
    assert task.due_at == datetime(2024, 6, 6, 10, 0, tzinfo=UTC)
    assert "Open the record" not in task.body


def test_task_key_is_deterministic_for_one_handoff() -> None:
    first = render_task(person(), result_dict(), DECISION, SETTINGS, LINK, NOW, seq=4)
    retry = render_task(
        person(), result_dict(), DECISION, SETTINGS, LINK, NOW + timedelta(minutes=3), seq=4
    )
    assert first.key == retry.key


def test_admin_templates_fill_every_placeholder() -> None:
    settings = handoff_settings(
        pools=[{"name": "All", "members": ["r1"]}],
        task={
            "subject": "{name} <{email}> {title} at {company}: {cell} {team} {score}",
            "body": "{fit}|{readiness}|{due}|{reason}",
            "priority_hand_raiser": "Normal",
        },
    )
    task = render_task(person(), result_dict(), DECISION, settings, None, NOW, seq=1)
    assert task.subject == "Jane Doe <jane@acme.io> VP Sales at Acme: good/hand_raiser sales 120"
    assert task.body.startswith("good|hand-raiser|Wed 05 Jun 2024 10:05 UTC|sales: good fit")
    assert task.priority == "Normal"


def test_missing_person_values_read_sensibly() -> None:
    nobody = person(name=None, company=None, title=None)
    task = render_task(nobody, result_dict(), DECISION, SETTINGS, None, NOW, seq=1)
    assert task.subject == "LeadSync: hand-raiser good-fit lead jane@acme.io (unknown company)"


def test_a_format_spec_the_value_cannot_take_is_a_config_error() -> None:
    settings = handoff_settings(
        pools=[{"name": "All", "members": ["r1"]}], task={"subject": "{name:d}"}
    )
    with pytest.raises(ConfigError, match=r"\[handoff.task\] subject"):
        render_task(person(), result_dict(), DECISION, settings, None, NOW, seq=1)


def test_unknown_placeholders_are_refused_by_the_config_layer() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        handoff_settings(task={"subject": "{nmae}"})


def test_subject_and_body_fit_the_crm_limits() -> None:
    long = person(company="Acme " * 100)
    settings = handoff_settings(
        pools=[{"name": "All", "members": ["r1"]}], task={"body": "{company}" * 100}
    )
    task = render_task(long, result_dict(), DECISION, settings, LINK, NOW, seq=1)
    assert len(task.subject) <= 255 and task.subject.endswith("…")
    assert len(task.body) <= 32_000


def test_an_unrouted_decision_cannot_be_tasked() -> None:
    unrouted = route(
        PersonFacts(),
        Candidates.of([]),
        handoff_settings(fallback_owner="x", enabled=True),
        RoutingState(),
        NOW,
        exclude=("x",),
    )
    with pytest.raises(ValueError, match="unrouted"):
        render_task(person(), result_dict(), unrouted, SETTINGS, None, NOW, seq=1)


@pytest.mark.parametrize(
    ("cell", "mode"),
    [
        ("good/hand_raiser", "immediate"),
        ("good/sales_ready", "immediate"),
        ("poor/hand_raiser", "immediate"),
        ("poor/sales_ready", "daily_digest"),
        ("good/unready", "daily_digest"),
    ],
)
def test_notify_mode_per_cell(cell: str, mode: str) -> None:
    assert notify_mode(cell, SETTINGS) == mode


def test_notify_mode_follows_the_admin() -> None:
    settings = handoff_settings(notify={"good_hand_raiser": "daily_digest"})
    assert notify_mode("good/hand_raiser", settings) == "daily_digest"


def _lead(key: str, readiness: str, score: float, due_minutes: int) -> DigestLead:
    return DigestLead(
        person=person(key, name=f"Lead {key}", company=f"Co {key}"),
        readiness=readiness,
        score=score,
        cell=f"poor/{readiness}",
        reason=f"marketing: reason {key}",
        due_at=NOW + timedelta(minutes=due_minutes),
        link=f"https://crm/{key}",
    )


def test_digest_lists_hand_raisers_first_then_by_score() -> None:
    leads = [
        _lead("a", "sales_ready", 80, 300),
        _lead("b", "sales_ready", 95, 200),
        _lead("c", "hand_raiser", 10, 400),
    ]
    task = render_digest("r1", leads, SETTINGS, date(2024, 6, 5))
    assert task.key == "ls-digest-r1-20240605"
    assert task.owner_id == "r1"
    assert task.subject == "LeadSync: 3 new leads for you (Wed 05 Jun)"
    order = [line for line in task.body.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert [line.split(":")[0] for line in order] == [
        "1. Lead c (Co c)",
        "2. Lead b (Co b)",
        "3. Lead a (Co a)",
    ]
    assert "   https://crm/b" in task.body
    assert task.person == leads[2].person.ref
    assert task.priority == "High"
    assert task.due_at == NOW + timedelta(minutes=200)


def test_digest_key_is_per_rep_per_day_so_a_rerender_upserts() -> None:
    morning = render_digest("r1", [_lead("a", "sales_ready", 50, 10)], SETTINGS, date(2024, 6, 5))
    later = render_digest(
        "r1",
        [_lead("a", "sales_ready", 50, 10), _lead("b", "sales_ready", 60, 20)],
        SETTINGS,
        date(2024, 6, 5),
    )
    tomorrow = render_digest("r1", [_lead("z", "sales_ready", 1, 1)], SETTINGS, date(2024, 6, 6))
    other = render_digest("r2", [_lead("a", "sales_ready", 50, 10)], SETTINGS, date(2024, 6, 5))
    assert morning.key == later.key
    assert len({morning.key, tomorrow.key, other.key}) == 3
    assert morning.subject == "LeadSync: 1 new lead for you (Wed 05 Jun)"
    assert morning.priority == "Normal"


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one lead"):
        render_digest("r1", [], SETTINGS, date(2024, 6, 5))
