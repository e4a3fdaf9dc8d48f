"""Issue 17.7: a family member's alert text carries the household's status link. Before, no
family text had one. The link opens the status page, is the same in every text of the case, is
never put in a text again once staff revoked it, and is a status_link row like staff-made ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.status_links import token_hash as api_token_hash
from core.clock import ManualClock
from core.db import session_scope
from core.enums import Channel, RecipientKind
from core.models import Case, Contact, Household, Notification, StatusLink
from notifier import family_link
from notifier.queueing import queue_for
from notifier.recipients import Recipient
from notifier.templates import Purpose
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]
LINK = re.compile(r"https?://\S+/status/([A-Za-z0-9_-]+)")


def _text(engine: Engine, clock: ManualClock, case_id: int, label: str, purpose: Purpose) -> str:
    with session_scope(engine) as s:
        case = s.get_one(Case, case_id)
        household = s.get_one(Household, case.household_id)
        contact = s.exec(select(Contact).where(Contact.household_id == household.id)).first()
        assert contact is not None and contact.id is not None
        rec = Recipient(RecipientKind.CONTACT, contact.id, contact.phone, contact.language, Channel.SMS)
        queue_for(
            s, case, household, [rec], label=label, repeat=0, purpose=purpose, limits=None, now=clock.now()
        )
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.case_id == case_id)).all()
        return next(n.body for n in rows if f":step:{label}:" in n.idempotency_key)


def test_the_family_text_carries_a_working_status_link_the_same_in_every_text(
    app_client: TestClient, engine: Engine, clock: ManualClock, world: World
) -> None:
    first = _text(engine, clock, world.case_a, "2", Purpose.LADDER)
    second = _text(engine, clock, world.case_a, "emergency", Purpose.EMERGENCY)
    (token,) = LINK.findall(first)
    assert LINK.findall(second) == [token] and "상태 보기: " in first
    assert family_link.token_hash(token) == api_token_hash(token)  # the status page finds it
    page = app_client.get(f"/status/{token}")
    assert page.status_code == 200
    with Session(engine) as s:
        (row,) = s.exec(select(StatusLink).where(StatusLink.token_hash == api_token_hash(token))).all()
    assert row.created_by == family_link.MADE_BY_ANBU
    assert row.expires_at > clock.now() + timedelta(days=family_link.LINK_DAYS - 1)


def test_a_revoked_link_is_never_put_in_a_text_again(
    engine: Engine, clock: ManualClock, world: World
) -> None:
    (token,) = LINK.findall(_text(engine, clock, world.case_a, "2", Purpose.LADDER))
    with session_scope(engine) as s:
        row = s.exec(select(StatusLink).where(StatusLink.token_hash == api_token_hash(token))).one()
        row.revoked_at = clock.now()
    later = _text(engine, clock, world.case_a, "emergency", Purpose.EMERGENCY)
    assert not LINK.findall(later) and "상태 보기" not in later
