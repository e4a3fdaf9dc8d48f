"""escalate_now: what the call handlers trigger when the resident is unwell or needs help."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, RecipientKind, Severity
from core.models import Case
from core.settings import Settings
from notifier import escalation, lifecycle
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.integration.notifier_engine.support import calls, events, load_case, notifications
from tests.ticks import run_notifier_ticks


def _open_case_after_first_call(engine: Engine, clock: ManualClock, settings: Settings) -> int:
    with session_scope(engine) as s:
        team = make_team(s)
        hh = make_household(s, team=team, contacts=2)
        make_user(s, team=team)
        case_id = make_open_case(s, hh, now=clock.now()).id
        assert case_id is not None
    assert run_notifier_ticks(engine, clock, settings) == 1  # the first wellness call is queued
    clock.advance(timedelta(minutes=2))  # ... and the resident answers
    return case_id


def _escalate(engine: Engine, case_id: int, clock: ManualClock, target: str) -> None:
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        escalation.escalate_now(s, case, target=target, now=clock.now(), reason=f"call:{target}")  # type: ignore[arg-type]


def _event_count(engine: Engine, case_id: int) -> int:
    with Session(engine) as s:
        return len(events(s, case_id))


def test_unwell_tells_the_caseworker_now_and_the_ladder_continues_after_that_step(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = _open_case_after_first_call(engine, clock, settings)
    _escalate(engine, case_id, clock, "caseworker")
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
        assert note.recipient_kind == RecipientKind.USER
        assert note.template == "sms.caseworker.unwell"
        assert "몸이 좋지 않다고" in note.body
        assert ":step:caseworker:rep:0:user:" in note.idempotency_key
        (step,) = [e for e in events(s, case_id, CaseEventType.STEP) if e.data["step"] == "caseworker"]
        assert step.data["reason"] == "call:caseworker"
    case = load_case(engine, case_id)
    # As if the caseworker step (3) had just run: family again next, repeat 1, in 15 minutes.
    assert (case.step_index, case.repeat_count) == (2, 1)
    assert case.next_action_at == clock.now() + timedelta(minutes=15)
    assert case.severity == Severity.ALERT and case.status == CaseStatus.OPEN

    # A retried webhook changes nothing: no row, no event, no pointer move.
    before = _event_count(engine, case_id)
    _escalate(engine, case_id, clock, "caseworker")
    assert _event_count(engine, case_id) == before
    with Session(engine) as s:
        assert len(notifications(s, case_id)) == 1
    assert load_case(engine, case_id).version == case.version

    clock.advance(timedelta(minutes=15))
    assert run_notifier_ticks(engine, clock, settings) == 1
    with Session(engine) as s:
        templates = [n.template for n in notifications(s, case_id)]
        assert templates == ["sms.caseworker.unwell", "sms.family.ladder", "sms.family.ladder"]
        assert len(calls(s, case_id)) == 1  # the resident is not rung again


def test_emergency_makes_the_case_critical_and_tells_caseworker_and_family_at_once(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = _open_case_after_first_call(engine, clock, settings)
    _escalate(engine, case_id, clock, "emergency")
    case = load_case(engine, case_id)
    assert case.severity == Severity.CRITICAL and case.status == CaseStatus.OPEN
    assert (case.step_index, case.repeat_count) == (2, 1)
    assert case.next_action_at == clock.now() + timedelta(minutes=15)
    with Session(engine) as s:
        sent = notifications(s, case_id)
        assert sorted((n.recipient_kind, n.template) for n in sent) == [
            (RecipientKind.CONTACT, "sms.family.emergency"),
            (RecipientKind.CONTACT, "sms.family.emergency"),
            (RecipientKind.USER, "sms.caseworker.emergency"),
        ]
        assert all(n.escalation_token == case.escalation_token for n in sent)
        assert all("긴급" in n.body for n in sent)
        raised = events(s, case_id, CaseEventType.SEVERITY_RAISED)
        assert [e.data["severity"] for e in raised] == ["critical"]

    before = _event_count(engine, case_id)
    _escalate(engine, case_id, clock, "emergency")  # retried webhook
    _escalate(engine, case_id, clock, "caseworker")  # "unwell" after "help" adds nothing
    assert _event_count(engine, case_id) == before
    with Session(engine) as s:
        assert len(notifications(s, case_id)) == 3
    assert run_notifier_ticks(engine, clock, settings) == 0  # nothing due right after the emergency


def test_emergency_on_an_acknowledged_case_still_goes_out_with_the_current_token(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = _open_case_after_first_call(engine, clock, settings)
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case_id), actor="contact:1", now=clock.now())
    _escalate(engine, case_id, clock, "emergency")
    case = load_case(engine, case_id)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.severity == Severity.CRITICAL
    assert case.next_action_at is None  # acknowledged: the ladder stays stopped
    with Session(engine) as s:
        sent = notifications(s, case_id)
        assert len(sent) == 3
        assert {n.escalation_token for n in sent} == {case.escalation_token}


def test_help_asked_on_a_case_that_was_cleared_meanwhile_opens_a_help_case(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = _open_case_after_first_call(engine, clock, settings)
    with session_scope(engine) as s:
        lifecycle.clear(s, s.get_one(Case, case_id), reason="activity_resumed", now=clock.now())
    _escalate(engine, case_id, clock, "emergency")
    _escalate(engine, case_id, clock, "emergency")  # idempotent on the new case too
    with Session(engine) as s:
        assert notifications(s, case_id) == []
        old = s.get(Case, case_id)
        assert old is not None and old.status == CaseStatus.CLEARED
        help_case = s.exec(select(Case).where(Case.kind == CaseKind.HELP_REQUESTED)).one()
        assert help_case.status == CaseStatus.OPEN and help_case.severity == Severity.CRITICAL
        # Why, in words and in every language (it was an English code string on a Korean page).
        texts = help_case.explanation_texts
        assert texts is not None and help_case.explanation == texts["ko"]
        assert f"사례 #{case_id}가 해제된 뒤에" in texts["ko"]
        assert f"after case #{case_id} had been cleared" in texts["en"]
        assert help_case.id is not None
        assert len(notifications(s, help_case.id)) == 3
        steps = events(s, help_case.id, CaseEventType.STEP)
        assert [e.data["step"] for e in steps] == ["emergency"]
