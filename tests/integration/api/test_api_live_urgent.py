"""Issue 17, item 10: the live notice of new 긴급 cases — which events make one, for whom, and the
server-sent event stream that carries them (with its cursor, so a reconnect misses nothing)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.live import new_urgent
from api.routes import live
from core.clock import ManualClock
from core.db import session_scope
from core.enums import AuditAction, CaseKind, ResolutionCode, Severity
from core.models import AuditEntry, Case, User
from notifier import lifecycle
from tests.integration.api.conftest import World, open_case

Auth = Callable[[str], dict[str, str]]


def _user(session: Session, world: World, who: str) -> User:
    user = session.get(User, world.people[who].id)
    assert user is not None
    return user


def _cursor(engine: Engine, world: World) -> int:
    with Session(engine) as session:
        return new_urgent(session, _user(session, world, "admin"), 0).cursor


def test_a_case_opened_or_raised_to_urgent_is_noticed_once_by_those_who_may_see_it(
    engine: Engine, world: World, clock: ManualClock
) -> None:
    start = _cursor(engine, world)  # the world's two alert cases: before the cursor
    with session_scope(engine) as session:
        help_case = open_case(
            session, world.household_a2, clock, kind=CaseKind.HELP_REQUESTED, severity=Severity.CRITICAL
        )
        raised = session.get(Case, world.case_b)
        assert raised is not None
        lifecycle.raise_severity(
            session, raised, severity=Severity.CRITICAL, reason="no answer", now=clock.now()
        )
        open_case(session, world.household_a, clock, kind=CaseKind.DEVICE_OFFLINE, severity=Severity.WARNING)
        gone = open_case(
            session, world.household_b, clock, kind=CaseKind.SELF_HARM_RISK, severity=Severity.CRITICAL
        )
        lifecycle.resolve(session, gone, code=ResolutionCode.OTHER, note="", actor="user:x", now=clock.now())
    with Session(engine) as session:
        admin = new_urgent(session, _user(session, world, "admin"), start)
        own = new_urgent(session, _user(session, world, "caseworker_own"), start)
        other = new_urgent(session, _user(session, world, "caseworker_other"), start)
        again = new_urgent(session, _user(session, world, "admin"), admin.cursor)
    assert [n.case_id for n in admin.notices] == [
        help_case.id,
        world.case_b,
    ]  # not the warning, not the closed
    assert [n.case_id for n in own.notices] == [help_case.id]  # team A only
    assert [n.case_id for n in other.notices] == [world.case_b]
    assert admin.cursor > start and again.notices == [] and again.cursor == admin.cursor


def _events(client: TestClient, headers: dict[str, str], **params: Any) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", "/api/v1/live/urgent", params=params, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_the_stream_carries_a_new_urgent_case_and_resumes_from_its_cursor(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    start = _cursor(engine, world)
    with session_scope(engine) as session:
        case = open_case(
            session, world.household_a2, clock, kind=CaseKind.HELP_REQUESTED, severity=Severity.CRITICAL
        )
    events = _events(app_client, auth("caseworker_own"), after=start, seconds=0.3)
    assert events[0] == ("ready", {"cursor": start})
    urgent = [data for name, data in events if name == "urgent"]
    assert [(u["case_id"], u["household_id"], u["kind"]) for u in urgent] == [
        (case.id, world.household_a2, "help_requested")
    ]
    resumed = _events(app_client, auth("caseworker_own"), after=urgent[0]["event_id"], seconds=0.2)
    assert [name for name, _ in resumed if name == "urgent"] == []  # nothing twice after a reconnect
    # Another team's caseworker hears nothing of it.
    others = _events(app_client, auth("caseworker_other"), after=start, seconds=0.2)
    assert [name for name, _ in others if name == "urgent"] == []


def test_a_logout_elsewhere_ends_the_stream(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    names: list[str] = []
    began = time.monotonic()
    with app_client.stream("GET", "/api/v1/live/urgent?seconds=20", headers=auth("control_room")) as response:
        for line in response.iter_lines():
            if not line.startswith("event: "):
                continue
            names.append(line.removeprefix("event: "))
            if names == ["ready"]:  # the stream stands: now the user logs out on another device
                with session_scope(engine) as session:
                    _user(session, world, "control_room").token_version += 1
    assert names == ["ready", "signed_out"]
    assert time.monotonic() - began < 10  # ended by the revocation, not by its 20 s


def test_preferences_are_the_users_own_and_on_the_record(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    assert app_client.get("/api/v1/auth/me", headers=auth("caseworker_own")).json()["urgent_sound"] is True
    response = app_client.patch(
        "/api/v1/auth/me/preferences", json={"urgent_sound": False}, headers=auth("caseworker_own")
    )
    assert response.status_code == 200 and response.json()["urgent_sound"] is False
    assert response.json()["urgent_notice"] is True  # only what was sent changes
    me = app_client.get("/api/v1/auth/me", headers=auth("caseworker_own")).json()
    assert (me["urgent_notice"], me["urgent_sound"]) == (True, False)
    other = app_client.get("/api/v1/auth/me", headers=auth("caseworker_other")).json()
    assert other["urgent_sound"] is True
    empty = app_client.patch("/api/v1/auth/me/preferences", json={}, headers=auth("caseworker_own"))
    assert empty.status_code == 422
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.UPDATE)).all()
        assert [(e.user_id, e.object_id) for e in entries] == [(world.people["caseworker_own"].id,) * 2]
