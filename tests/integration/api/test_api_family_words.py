"""Issue 17, item 7: family messages say her name as the family knows it, whom to call and the
number; the status page gives the caseworker's or the centre's number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import Channel, Language, RecipientKind, WatchStatus
from core.models import Case, Contact, Household, Notification, Watch
from notifier.queueing import queue_for
from notifier.recipients import Recipient
from notifier.templates import Purpose
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]
CENTRE = "+8221234567"


def _team_phone(client: TestClient, auth: Auth, engine: Engine, household_id: int) -> None:
    with Session(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        team_id = household.team_id
    response = client.patch(f"/api/v1/teams/{team_id}", json={"phone": CENTRE}, headers=auth("admin"))
    assert response.status_code == 200 and response.json()["phone"] == CENTRE


def test_a_contact_is_texted_with_her_form_of_address_and_the_centres_number(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    added = app_client.post(
        f"/api/v1/households/{world.household_a}/contacts",
        json={"name": "김딸", "relation": "딸", "phone": "+821099912345", "address_as": "어머니"},
        headers=auth("caseworker_own"),
    )
    assert added.status_code == 201 and added.json()["address_as"] == "어머니"
    _team_phone(app_client, auth, engine, world.household_a)

    with session_scope(engine) as session:  # what the ladder queues for her
        case = session.get(Case, world.case_a)
        household = session.get(Household, world.household_a)
        assert case is not None and household is not None
        recipient = Recipient(
            RecipientKind.CONTACT, added.json()["id"], "+821099912345", Language.KO, Channel.SMS
        )
        queued = queue_for(
            session,
            case,
            household,
            [recipient],
            label="0",
            repeat=0,
            purpose=Purpose.LADDER,
            limits=None,
            now=clock.now(),
        )
        assert queued == 1
    with Session(engine) as session:
        (text,) = session.exec(
            select(Notification.body).where(Notification.recipient_id == added.json()["id"])
        ).all()
    assert text.startswith("[안부] 어머니 댁(")
    assert "어머니께 직접 안부를 확인해 주세요. 문의: 담당 복지사(+8221234567)." in text
    assert "어르신" not in text and "김딸" not in text

    patched = app_client.patch(
        f"/api/v1/contacts/{added.json()['id']}", json={"address_as": "엄마"}, headers=auth("caseworker_own")
    )
    assert patched.status_code == 200 and patched.json()["address_as"] == "엄마"


def test_the_status_page_gives_the_centres_number_when_no_caseworker_has_one(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        session.add(
            Watch(
                household_id=world.household_a2,
                status=WatchStatus.OVERDUE,
                last_activity_at=clock.now() - timedelta(hours=12),
                alert_after=clock.now() - timedelta(hours=1),
                updated_at=clock.now(),
            )
        )
        contact_id = session.exec(
            select(Contact.id).where(Contact.household_id == world.household_a2)
        ).first()
    link = app_client.post(
        f"/api/v1/households/{world.household_a2}/status-links",
        json={"contact_id": contact_id},
        headers=auth("caseworker_own"),
    )
    path = link.json()["url"].removeprefix("https://care.example.org")
    assert "status-call" not in app_client.get(path).text  # no case and no centre number: nothing to give
    _team_phone(app_client, auth, engine, world.household_a2)
    page = app_client.get(path).text
    assert "평소보다 오래 생활 신호가 없습니다" in page and f'href="tel:{CENTRE}"' in page
