"""POST acknowledge / resolve / notes: through the lifecycle, one commit, 409 on illegal moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.app import create_app
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseStatus, ResolutionCode
from core.models import Case
from core.settings import Settings
from notifier import lifecycle
from tests.factories import case_events, load
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def test_acknowledge_commits_status_actor_and_new_token(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    before = load(engine, Case, world.case_a)
    clock.advance(timedelta(minutes=7))
    response = app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("caseworker_own"))
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    after = load(engine, Case, world.case_a)  # a fresh session: proves the request committed
    assert after.status == CaseStatus.ACKNOWLEDGED
    assert after.acknowledged_by == "user:caseworker-own"
    assert after.acknowledged_at == clock.now()
    assert after.escalation_token != before.escalation_token  # pending escalation is fenced off
    assert after.next_action_at is None
    assert [e.type for e in case_events(engine, world.case_a)][-1] == CaseEventType.ACKNOWLEDGED


def test_acknowledge_twice_is_409_with_the_reason(
    app_client: TestClient, world: World, engine: Engine, auth: Auth
) -> None:
    url = f"/api/v1/cases/{world.case_a}/acknowledge"
    assert app_client.post(url, headers=auth("admin")).status_code == 200
    version = load(engine, Case, world.case_a).version
    second = app_client.post(url, headers=auth("caseworker_own"))
    assert second.status_code == 409
    assert second.json() == {
        "detail": "cannot acknowledge a case that is acknowledged",
        "code": "case_state_conflict",
    }
    after = load(engine, Case, world.case_a)
    assert after.version == version
    assert after.acknowledged_by == "user:admin"


def test_resolve_records_code_and_note_and_closes_the_case(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    body = {"code": "false_alarm_away", "note": "  at her daughter's until Sunday  "}
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve", json=body, headers=auth("caseworker_own")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    case = load(engine, Case, world.case_a)
    assert case.status == CaseStatus.RESOLVED
    assert case.resolution_code == ResolutionCode.FALSE_ALARM_AWAY
    assert case.resolution_note == "at her daughter's until Sunday"
    assert case.resolved_by == "user:caseworker-own"
    assert case.resolved_at == clock.now()
    last = case_events(engine, world.case_a)[-1]
    assert (last.type, last.data["code"]) == (CaseEventType.RESOLVED, "false_alarm_away")


def test_resolve_without_note_stores_none(
    app_client: TestClient, world: World, engine: Engine, auth: Auth
) -> None:
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve", json={"code": "resident_fine"}, headers=auth("admin")
    )
    assert response.status_code == 200
    assert load(engine, Case, world.case_a).resolution_note is None


def test_resolved_case_cannot_be_acknowledged_or_resolved_again(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    base = f"/api/v1/cases/{world.case_a}"
    assert (
        app_client.post(f"{base}/resolve", json={"code": "other"}, headers=auth("admin")).status_code == 200
    )
    again = app_client.post(f"{base}/resolve", json={"code": "other"}, headers=auth("admin"))
    assert again.status_code == 409
    assert again.json()["detail"] == "cannot resolve a case that is resolved"
    ack = app_client.post(f"{base}/acknowledge", headers=auth("admin"))
    assert ack.status_code == 409
    assert ack.json()["detail"] == "cannot acknowledge a case that is resolved"


def test_cleared_case_can_be_reviewed_and_resolved(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        lifecycle.clear(session, case, reason="activity resumed", now=clock.now())
    base = f"/api/v1/cases/{world.case_a}"
    ack = app_client.post(f"{base}/acknowledge", headers=auth("control_room"))
    assert ack.status_code == 200
    assert ack.json()["status"] == "cleared"  # a review mark, not a state change
    resolved = app_client.post(
        f"{base}/resolve", json={"code": "resident_fine"}, headers=auth("caseworker_own")
    )
    assert resolved.status_code == 200
    assert load(engine, Case, world.case_a).status == CaseStatus.RESOLVED


def test_concurrent_change_is_409_retry_and_rolls_back(
    app_client: TestClient, world: World, engine: Engine, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_acknowledge = lifecycle.acknowledge

    def acknowledge_then_lose_the_race(session: Session, case: Case, **kwargs: object) -> Case:
        lifecycle.add_note(
            session, case, actor="test", text="written before the conflict", now=case.opened_at
        )
        session.flush()
        raise lifecycle.CaseConflict(f"case {case.id} changed concurrently")

    monkeypatch.setattr(lifecycle, "acknowledge", acknowledge_then_lose_the_race)
    events_before = len(case_events(engine, world.case_a))
    response = app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin"))
    assert response.status_code == 409
    assert response.json() == {"detail": "changed concurrently, retry", "code": "case_changed_retry"}
    # The half-done unit of work was rolled back, not committed.
    assert len(case_events(engine, world.case_a)) == events_before
    assert load(engine, Case, world.case_a).status == CaseStatus.OPEN
    monkeypatch.setattr(lifecycle, "acknowledge", real_acknowledge)
    assert (
        app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin")).status_code == 200
    )


def test_notes_are_appended_in_order_without_changing_state(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    url = f"/api/v1/cases/{world.case_a}/notes"
    first = app_client.post(url, json={"text": "  called neighbour  "}, headers=auth("control_room"))
    clock.advance(timedelta(minutes=2))
    second = app_client.post(url, json={"text": "neighbour has a key"}, headers=auth("caseworker_own"))
    assert first.status_code == second.status_code == 201
    assert first.json()["data"] == {"text": "called neighbour"}
    assert second.json()["actor"] == "user:caseworker-own"
    notes = [e for e in case_events(engine, world.case_a) if e.type == CaseEventType.NOTE]
    assert [(n.actor, n.data["text"]) for n in notes] == [
        ("user:control-room", "called neighbour"),
        ("user:caseworker-own", "neighbour has a key"),
    ]
    assert load(engine, Case, world.case_a).status == CaseStatus.OPEN


def test_a_failed_commit_is_an_error_response_not_a_false_success(
    settings: Settings,
    engine: Engine,
    world: World,
    clock: ManualClock,
    auth: Auth,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse_commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk full"))

    monkeypatch.setattr(Session, "commit", refuse_commit)
    with TestClient(create_app(settings, engine, clock), raise_server_exceptions=False) as client:
        response = client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin"))
    monkeypatch.undo()
    assert response.status_code == 500
    assert load(engine, Case, world.case_a).status == CaseStatus.OPEN
