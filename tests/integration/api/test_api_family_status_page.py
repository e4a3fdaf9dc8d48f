"""The family status page: a random, expiring link that shows only what family should see."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import AuditAction
from core.models import AuditEntry, Case, Contact, Household, StatusLink, Watch
from notifier import lifecycle
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def _contact_id(engine: Engine, household_id: int) -> int:
    with Session(engine) as session:
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == household_id)).first()
        assert contact_id is not None
        return contact_id


def _link(client: TestClient, auth: Auth, household_id: int, contact_id: int, days: int = 7) -> str:
    response = client.post(
        f"/api/v1/households/{household_id}/status-links",
        json={"contact_id": contact_id, "days": days},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert url.startswith("https://care.example.org/status/")
    return url.removeprefix("https://care.example.org")


def test_family_sees_the_state_in_plain_words_and_nothing_personal(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        session.add(
            Watch(
                household_id=world.household_a,
                last_activity_at=clock.now() - timedelta(hours=3),
                updated_at=clock.now(),
            )
        )
    path = _link(app_client, auth, world.household_a, _contact_id(engine, world.household_a))

    page = app_client.get(path)
    assert page.status_code == 200
    assert "평소와 다른 점이 있어 확인하고 있습니다" in page.text  # case_a is open
    assert "3월 2일 6시경" in page.text  # 21:00 UTC the day before is 06:00 in Seoul, to the hour
    for private in ("Kim Test", "+8210", "HH-", "Family 1", "no kettle since"):
        assert private not in page.text

    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        lifecycle.acknowledge(session, case, actor="user:caseworker-own", now=clock.now())
    assert "담당자가 확인하고 있습니다" in app_client.get(path).text
    assert "A caseworker is looking into it." in app_client.get(path + "?lang=en").text


def test_links_expire_and_forged_or_revoked_links_do_not_work(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    contact_id = _contact_id(engine, world.household_a2)
    path = _link(app_client, auth, world.household_a2, contact_id, days=1)
    with session_scope(engine) as session:  # a recent sign of life ("as usual" needs one)
        session.add(
            Watch(household_id=world.household_a2, last_activity_at=clock.now(), updated_at=clock.now())
        )
    assert "평소처럼 생활하고 계십니다" in app_client.get(path).text  # no case in household_a2

    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert app_client.get(forged).status_code == 404
    assert app_client.get("/status/not-a-token").status_code == 404

    with session_scope(engine) as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        contact.opted_out = True
        session.add(contact)
    revoked = app_client.get(path)
    assert revoked.status_code == 404 and "이 링크는 사용할 수 없습니다" in revoked.text
    with session_scope(engine) as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        contact.opted_out = False
        session.add(contact)
    assert app_client.get(path).status_code == 200
    clock.advance(timedelta(days=1))
    assert app_client.get(path).status_code == 404


def test_a_case_is_still_said_while_the_household_is_away(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    """The pause is never shown (test_api_status_link_attacks.py), a case being checked always is."""
    path = _link(app_client, auth, world.household_a, _contact_id(engine, world.household_a))
    until = (clock.now() + timedelta(days=3)).isoformat()
    pause = app_client.post(
        f"/api/v1/households/{world.household_a}/pause", json={"until": until}, headers=auth("admin")
    )
    assert pause.status_code == 200
    assert "평소와 다른 점이 있어 확인하고 있습니다" in app_client.get(path).text  # case_a is open


def test_only_a_hash_of_the_random_token_is_stored_and_views_are_audited_without_it(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    contact_id = _contact_id(engine, world.household_a2)
    path = _link(app_client, auth, world.household_a2, contact_id)
    token = path.removeprefix("/status/")
    assert len(token) >= 43 and "." not in token  # 32 random bytes, nothing readable inside
    clock.advance(timedelta(minutes=5))
    with caplog.at_level(logging.DEBUG):
        assert app_client.get(path).status_code == 200
    with Session(engine) as session:
        link = session.exec(select(StatusLink)).one()
        views = session.exec(
            select(AuditEntry).where(AuditEntry.action == AuditAction.VIEW_STATUS_PAGE)
        ).all()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in link.token_hash
    assert link.last_used_at == clock.now()
    assert [(v.user_id, v.role, v.object_type.value, v.object_id, v.status_link_id) for v in views] == [
        (None, None, "household", world.household_a2, link.id)
    ]
    # Anbu's own lines (the test client's request log is not the server's; uvicorn's access
    # log is off in anbu/runtime.py).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("api", "core", "anbu")
    )
    assert "status page viewed" in ours
    assert token not in ours and token[:12] not in ours


def test_link_only_for_a_contact_of_that_household_and_creation_is_audited(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    other_contact = _contact_id(engine, world.household_b)
    response = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links",
        json={"contact_id": other_contact},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 422
    too_long = app_client.post(
        f"/api/v1/households/{world.household_a}/status-links",
        json={"contact_id": _contact_id(engine, world.household_a), "days": 31},
        headers=auth("admin"),
    )
    assert too_long.status_code == 422
    _link(app_client, auth, world.household_a, _contact_id(engine, world.household_a))
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry)).all()
        household = session.get(Household, world.household_a)
    assert household is not None
    assert [(e.action.value, e.object_id, e.status_link_id is not None) for e in entries] == [
        ("create_status_link", world.household_a, True)
    ]
