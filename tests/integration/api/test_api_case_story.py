"""Issue 17, items 3 and 6: the resident's words and the cause in words on the case and in the
queue; people by their names; a closed case that says what it was closed as."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallPurpose, CaseEventType, CaseKind, Intent, RecipientKind
from core.models import Case
from notifier import lifecycle
from tests.integration.api.conftest import World, add_call, open_case

Auth = Callable[[str], dict[str, str]]
FELL = "넘어져서 못 일어나겠어요"


def _said(engine: Engine, clock: ManualClock, case_id: int, text: str, intent: Intent, **call: Any) -> None:
    """A call on the case, and what the classifier made of the reply (as notifier.calls records it)."""
    with session_scope(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        attempt = add_call(session, case, clock, intent=intent, transcript=f'#1 speech: "{text}"', **call)
        lifecycle.record_event(
            session,
            case,
            CaseEventType.CALL_OUTCOME,
            clock.now(),
            actor=f"call:{attempt.id}",
            call_attempt_id=attempt.id,
            outcome=intent.value,
            input="speech",
            excerpt=text,
            intent=intent.value,
            confidence=1.0,
            source="emergency_phrase",
        )


def test_the_residents_words_and_the_cause_lead_the_case_and_the_queue(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _said(engine, clock, world.case_a, "좀 어지러워요", Intent.UNWELL)
    _said(engine, clock, world.case_a, FELL, Intent.EMERGENCY)
    _said(engine, clock, world.case_a, "괜찮아요", Intent.OK)  # later, but not worrying
    headers = auth("caseworker_own")

    case = app_client.get(f"/api/v1/cases/{world.case_a}", headers=headers).json()
    assert case["cause"] == "fall"
    assert case["resident_words"]["text"] == FELL and case["resident_words"]["cause"] == "fall"
    outcome = next(e for e in case["events"] if e["type"] == "call_outcome")
    assert outcome["actor_kind"] == "call" and outcome["actor_name"] is None

    (row,) = [
        i for i in app_client.get("/api/v1/cases", headers=headers).json()["items"] if i["id"] == world.case_a
    ]
    assert row["cause"] == "fall" and row["resident_words"]["text"] == FELL


def test_a_family_members_words_are_not_the_residents(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _said(
        engine,
        clock,
        world.case_a,
        "엄마가 넘어지셨대요",
        Intent.EMERGENCY,
        recipient_kind=RecipientKind.CONTACT,
        purpose=CallPurpose.CONTACT_ALERT,
    )
    case = app_client.get(f"/api/v1/cases/{world.case_a}", headers=auth("caseworker_own")).json()
    assert case["resident_words"] is None and case["cause"] is None


def test_unwell_and_a_help_request_without_words_are_named_too(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _said(engine, clock, world.case_a, "몸이 좀 안 좋아요", Intent.UNWELL)
    case = app_client.get(f"/api/v1/cases/{world.case_a}", headers=auth("caseworker_own")).json()
    assert case["cause"] == "unwell" and case["resident_words"]["text"] == "몸이 좀 안 좋아요"
    with session_scope(engine) as session:
        help_case = open_case(session, world.household_a, clock, kind=CaseKind.HELP_REQUESTED)
        help_id = help_case.id
    case = app_client.get(f"/api/v1/cases/{help_id}", headers=auth("caseworker_own")).json()
    assert case["cause"] == "help" and case["resident_words"] is None


def test_people_go_by_their_names_and_a_closed_case_says_how_it_closed(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    headers = auth("caseworker_own")
    me = world.people["caseworker_own"]
    assert app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=headers).status_code == 200
    assigned = app_client.post(
        f"/api/v1/cases/{world.case_a}/assign", json={"user_id": me.id}, headers=headers
    )
    assert assigned.status_code == 200
    assert assigned.json()["assigned_display_name"] == "Test Worker"  # not the login name
    note = app_client.post(f"/api/v1/cases/{world.case_a}/notes", json={"text": "딸과 통화"}, headers=headers)
    assert note.json()["actor_kind"] == "user" and note.json()["actor_name"] == "Test Worker"
    resolved = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve",
        json={"code": "hospital", "note": "119 이송, 서울병원 입원"},
        headers=headers,
    )
    assert resolved.status_code == 200
    case = app_client.get(f"/api/v1/cases/{world.case_a}", headers=headers).json()
    assert case["acknowledged_by_name"] == "Test Worker" and case["resolved_by_name"] == "Test Worker"
    assert case["resolution_note"] == "119 이송, 서울병원 입원"
    done = next(e for e in case["events"] if e["type"] == "resolved")
    assert done["actor_name"] == "Test Worker" and done["data"]["note"] == "119 이송, 서울병원 입원"
