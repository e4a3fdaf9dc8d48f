"""Migrations keep existing calls: 0002 gives each its purpose, read from what told them apart
before (the idempotency key's prefix and the recipient kind); 0004 renames ``to_number`` to
``to_address`` (the notification table's name) and keeps the numbers. Both dialects."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, MetaData, Table, insert, select

from core.db import session_scope
from core.migrate import alembic_config, upgrade
from tests.factories import make_household

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# key, recipient kind -> the purpose the migration must give the row
ROWS = [
    ("case:1:tok:t:step:0:rep:0:resident:1:call", "resident", "wellness"),
    ("case:1:tok:t:step:2:rep:0:contact:1:call", "contact", "contact_alert"),
    ("checkin:1:2026-03-02T01:00:00+00:00:1", "resident", "checkin"),
    ("inbound:CA0001", "resident", "inbound"),
    ("inbound:CA0002", "contact", "inbound"),
]


def test_existing_calls_get_the_purpose_their_key_and_recipient_meant(engine: Engine) -> None:
    with session_scope(engine) as session:
        household_id = make_household(session).id
    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0001")  # the household stays
    with engine.begin() as conn:
        calls = Table("callattempt", MetaData(), autoload_with=conn)
        assert "purpose" not in calls.c
        for n, (key, kind, _) in enumerate(ROWS):
            conn.execute(
                insert(calls).values(
                    household_id=household_id,
                    recipient_kind=kind,
                    to_number="+821012345678",
                    language="ko",
                    code=f"code-{n}",
                    idempotency_key=key,
                    escalation_token="",
                    status="completed",
                    attempts=1,
                    transcript="",
                    gather_count=0,
                    last_sequence=-1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    upgrade(url)
    with engine.connect() as conn:
        calls = Table("callattempt", MetaData(), autoload_with=conn)
        found = {
            key: (purpose, to)
            for key, purpose, to in conn.execute(
                select(calls.c.idempotency_key, calls.c.purpose, calls.c.to_address)
            ).all()
        }
    assert found == {key: (purpose, "+821012345678") for key, _, purpose in ROWS}
