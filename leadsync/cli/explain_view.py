"""What ``leadsync explain`` prints: the person's fit, score and owner in words and whole points.

Built from the stored documents (``person_detail``, ``person_handoffs``) by pure functions, so
a test can feed any document and read the text; every value goes through ``wording``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadsync.cli.wording import change_text, fit_text, outputs_text, score_text, value_text
from leadsync.handoff import explain_routing
from leadsync.model.result import engagement_count

READINESS_WORDS = {
    "hand_raiser": "hand-raiser",
    "sales_ready": "sales-ready",
    "unready": "unready",
    "do_not_contact": "do not contact",
}


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value_text(value)


def _points(value: Any) -> str:
    return f"{round(float(value)):+d}" if value is not None else "none"


def result_lines(result: dict[str, Any]) -> list[str]:
    """A stored ``Result.to_dict()`` as the lines ``explain`` shows."""
    criteria = result.get("criteria") or []
    checked = sum(1 for c in criteria if c.get("status") == "checked")
    readiness = READINESS_WORDS.get(
        result.get("readiness") or "", value_text(result.get("readiness"))
    )
    lines = [
        f"Fit: {fit_text(value_text(result.get('fit')), checked, len(criteria))}; a good fit "
        f"needs every required box and at least {value_text(result.get('good_fit_min'))}",
    ]
    for c in criteria:
        mark = "x" if c.get("status") == "checked" else " "
        required = " (required)" if c.get("required") else ""
        lines.append(
            f"  [{mark}] {value_text(c.get('name'))}{required}: {value_text(c.get('reason'))}"
        )
    lines.append(f"Score: {score_text(result.get('score'))}")
    contributions = result.get("contributions") or []
    if contributions:
        lines.append(f"Engagement: {engagement_count(contributions)}")
    else:
        lines.append("Engagement: no scoring activities in the window")
    for item in contributions:
        # An attribute rule's points come from the person's data (its id names the
        # attribute), not from an activity with a date.
        when = item.get("occurred_at")
        source = (
            f"{value_text(item.get('kind'))} on {_when(when)}  "
            if when is not None
            else "from attribute "
        )
        lines.append(
            f"  {_points(item.get('points'))} (of {_points(item.get('raw_points'))})  "
            f"{value_text(item.get('rule'))} [{value_text(item.get('interest'))}]  "
            f"{source}{value_text(item.get('activity_id'))}"
        )
    lines.append(f"Readiness: {readiness}: {value_text(result.get('readiness_reason'))}")
    lines.append(f"Team: {value_text(result.get('team'))} (cell {value_text(result.get('cell'))})")
    account = result.get("account")
    if account:
        lines.append(
            f"Account: score {score_text(account.get('score'))}, "
            f"{value_text(account.get('engaged_people'))} engaged people"
        )
    lines.extend(f"Note: {value_text(note)}" for note in result.get("notes") or [])
    return lines


def explain_lines(detail: dict[str, Any]) -> list[str]:
    """Everything after the header line: the result, what was written, the score's history."""
    score = detail.get("score")
    if score is None:
        return ["Not scored yet: run `leadsync sync`."]
    lines = result_lines(score["result"])
    lines.append(f"Scored at {_when(score.get('scored_at'))} UTC")
    uid = {r.get("id"): r.get("uid") for r in detail.get("records", [])}
    for record_id, values in detail.get("written", {}).items():
        shown = outputs_text(values)
        lines.append(f"Written to {value_text(uid.get(record_id, record_id))}: {shown}")
    for change in detail.get("history", [])[:5]:
        lines.append(
            f"  {_when(change.get('at'))}: score "
            f"{change_text(change.get('old_score'), change.get('new_score'))}, cell "
            f"{value_text(change.get('new_cell'))} (was {value_text(change.get('old_cell'))}); "
            f"{cause_text(change.get('cause'))}"
        )
    for item in detail.get("handoffs", []):
        lines.extend(act_lines(item))
    return lines


def cause_text(cause: Any) -> str:
    """Why a score changed: ``added Contact Us +100, Blog view +5; decay -3``."""
    if not isinstance(cause, dict):
        return value_text(cause)
    parts = []
    for key in ("added", "removed"):
        items = [i for i in cause.get(key) or [] if isinstance(i, dict)]
        shown = ", ".join(
            f"{value_text(i.get('rule'))} {_points(i.get('points'))}" for i in items[:3]
        )
        if len(items) > 3:
            shown += f" and {len(items) - 3} more"
        if shown:
            parts.append(f"{key} {shown}")
    if cause.get("decay"):
        parts.append(f"decay {_points(cause['decay'])}")
    rest = {k: v for k, v in cause.items() if k not in ("added", "removed", "decay")}
    if rest:
        parts.append(value_text(rest))
    return "; ".join(parts) or "re-scored"


def act_lines(item: dict[str, Any]) -> list[str]:
    """One hand-off or recycle of the person, with its routing and first-touch clock."""
    if item["kind"] == "recycle":
        back = item.get("requalified_at")
        return [
            f"Recycle {item['seq']} on {_when(item.get('recycled_at'))} ({item['state']}): "
            f"{value_text(item.get('reason'))}" + (f"; re-qualified {_when(back)}" if back else "")
        ]
    lines = [
        f"Hand-off {item['seq']} on {_when(item.get('handed_off_at') or item.get('queued_at'))} "
        f"({item['state']}): {value_text(item.get('reason'))}"
    ]
    if item.get("decision"):
        lines.append(explain_routing(item["decision"]))
    elif item.get("note"):
        lines.append(f"  waiting: {value_text(item['note'])}")
    if item.get("due_at"):
        touched = item.get("touched_at")
        escalation = item.get("escalation") or {}
        lines.append(
            f"  first touch due {_when(item['due_at'])} UTC; "
            + (f"touched {_when(touched)}" if touched else "not touched yet")
            + (
                f"; SLA breached: {value_text(escalation.get('why'))}"
                if item.get("breached_at")
                else ""
            )
        )
    return lines
