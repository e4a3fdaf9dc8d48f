"""A small world for API tests: two teams, one user per role, households and cases in each team."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.security import create_access_token
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseKind,
    Channel,
    Intent,
    OutboxStatus,
    RecipientKind,
    Role,
    Severity,
)
from core.migrate import upgrade
from core.models import CallAttempt, Case, Household, Notification, metadata
from core.settings import Settings
from notifier import lifecycle
from tests.conftest import private_pg_schema
from tests.factories import OTHER_TEST_SECRET_KEY, TEST_SECRET_KEY, make_household, make_team, make_user

SECRET_KEY = TEST_SECRET_KEY
METRICS_TOKEN = OTHER_TEST_SECRET_KEY  # outside dev, /metrics answers only with it
TWILIO_TOKEN = "test_auth_token_0123456789abcdef"
PUBLIC_BASE_URL = "https://care.example.org"
PASSWORD = "correct horse battery"

WHO = ("admin", "caseworker_own", "caseworker_other", "control_room", "family", "anonymous")
_seq = itertools.count(1)


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: Role


@dataclass(frozen=True)
class World:
    people: dict[str, Person]
    household_a: int  # team A (caseworker_own's team)
    household_a2: int
    household_b: int  # team B (caseworker_other's team)
    case_a: int  # open inactivity case in household_a
    case_b: int  # open inactivity case in household_b


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Alembic-migrated SQLite file per run; each test gets its own copy (fast, still fresh)."""
    path = tmp_path_factory.mktemp("api-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    con = sqlite3.connect(path)
    try:  # fold the WAL into the main file, so copying one file copies the whole database
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    return path


@pytest.fixture
def sqlite_engine(tmp_path: Path, _migrated_sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "anbu.db"
    shutil.copyfile(_migrated_sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def _migrated_postgres_url() -> Iterator[str]:
    """One Alembic-migrated private schema per run on the test PostgreSQL, dropped at the end."""
    with private_pg_schema() as (url, _engine):
        yield url


@pytest.fixture
def postgres_engine(_migrated_postgres_url: str) -> Iterator[Engine]:
    """The run's migrated schema, emptied before each test: fresh rows, one migration."""
    eng = make_engine(_migrated_postgres_url)
    with eng.begin() as conn:  # DELETE is much faster than TRUNCATE on tables this small
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Both dialects, as in tests/conftest.py, but migrated once per run (see the two fixtures above)."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    eng: Engine = request.getfixturevalue(name)
    return eng


@pytest.fixture(scope="session")
def password_hash() -> str:
    # argon2 verification uses the parameters stored in the hash: cheap parameters keep the
    # login tests fast while exercising the real verify path (production parameters are
    # checked in tests/unit/api).
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET_KEY,
        metrics_token=METRICS_TOKEN,
        twilio_auth_token=TWILIO_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
        access_token_minutes=30,
    )


@pytest.fixture
def app_client(settings: Settings, engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine, clock)) as client:
        yield client


def open_case(
    session: Session,
    household_id: int,
    clock: ManualClock,
    *,
    kind: CaseKind = CaseKind.INACTIVITY,
    severity: Severity = Severity.ALERT,
    explanation: str = "no kettle since 07:10",
) -> Case:
    case, _ = lifecycle.open_or_redetect(
        session,
        household_id=household_id,
        kind=kind,
        severity=severity,
        explanation=explanation,
        policy_snapshot={},
        now=clock.now(),
    )
    return case


def add_call(session: Session, case: Case, clock: ManualClock, **values: object) -> CallAttempt:
    n = next(_seq)
    fields: dict[str, object] = {
        "purpose": CallPurpose.WELLNESS,
        "case_id": case.id,
        "household_id": case.household_id,
        "recipient_kind": RecipientKind.RESIDENT,
        "to_address": "+821012345678",
        "code": f"code-{n}-{case.id}",
        "idempotency_key": f"call-{n}-{case.id}",
        "escalation_token": case.escalation_token,
        "status": CallStatus.COMPLETED,
        "outcome": CallOutcome.NO_ANSWER,
        "intent": Intent.UNCLEAR,
        "confidence": 0.4,
        "transcript": "여보세요",
        "created_at": clock.now(),
        "updated_at": clock.now(),
    }
    fields.update(values)
    call = CallAttempt(**fields)  # type: ignore[arg-type]
    session.add(call)
    session.flush()
    return call


def add_notification(session: Session, case: Case, clock: ManualClock, **values: object) -> Notification:
    n = next(_seq)
    fields: dict[str, object] = {
        "case_id": case.id,
        "household_id": case.household_id,
        "recipient_kind": RecipientKind.CONTACT,
        "to_address": "+821077700101",
        "channel": Channel.SMS,
        "template": "family_alert",
        "body": "secret body text",
        "idempotency_key": f"note-{n}-{case.id}",
        "escalation_token": case.escalation_token,
        "status": OutboxStatus.SENT,
        "created_at": clock.now(),
        "sent_at": clock.now(),
    }
    fields.update(values)
    notification = Notification(**fields)  # type: ignore[arg-type]
    session.add(notification)
    session.flush()
    return notification


@pytest.fixture
def world(engine: Engine, clock: ManualClock, password_hash: str) -> World:
    with session_scope(engine) as session:
        team_a = make_team(session, name="Team A")
        team_b = make_team(session, name="Team B")
        specs = {
            "admin": (Role.ADMIN, None),
            "caseworker_own": (Role.CASEWORKER, team_a),
            "caseworker_other": (Role.CASEWORKER, team_b),
            "control_room": (Role.CONTROL_ROOM, None),
            "family": (Role.FAMILY, team_a),
        }
        people: dict[str, Person] = {}
        for key, (role, team) in specs.items():
            user = make_user(
                session, team=team, role=role, username=key.replace("_", "-"), password_hash=password_hash
            )
            assert user.id is not None
            people[key] = Person(id=user.id, username=user.username, role=role)
        household_a = make_household(session, team=team_a)
        household_a2 = make_household(session, team=team_a)
        household_b = make_household(session, team=team_b)
        case_a = open_case(session, _id(household_a), clock)
        case_b = open_case(session, _id(household_b), clock)
        return World(
            people=people,
            household_a=_id(household_a),
            household_a2=_id(household_a2),
            household_b=_id(household_b),
            case_a=_id(case_a),
            case_b=_id(case_b),
        )


def _id(row: Household | Case) -> int:
    assert row.id is not None
    return row.id


def token_for(person: Person, settings: Settings, clock: ManualClock) -> str:
    return create_access_token(
        user_id=person.id,
        role=person.role,
        secret_key=settings.secret_key,
        lifetime_minutes=settings.access_token_minutes,
        now=clock.now(),
    ).token


@pytest.fixture
def auth(world: World, settings: Settings, clock: ManualClock) -> Callable[[str], dict[str, str]]:
    """``auth("admin")`` → headers with a fresh bearer token; ``auth("anonymous")`` → no header."""

    def headers(who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {token_for(world.people[who], settings, clock)}"}

    return headers


ONE_MINUTE = timedelta(minutes=1)
