"""Small, obvious row factories for tests. They flush (to get ids) but never commit."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel, col, select

from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    DeviceStatus,
    DeviceVendor,
    EdgeKind,
    Language,
    Role,
    Severity,
    WatchStatus,
)
from core.models import (
    ActivityEdge,
    CallAttempt,
    Case,
    CaseEvent,
    CheckinCall,
    Contact,
    Device,
    Household,
    Notification,
    Organisation,
    Reading,
    Resident,
    Team,
    User,
    Watch,
)
from core.settings import Settings

_Row = TypeVar("_Row", bound=SQLModel)
_seq = itertools.count(1)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# Secrets that pass the check outside dev (core.settings.secret_weakness): random, 256+ bits.
TEST_SECRET_KEY = "Y1xrixyN-rHtIHWmi9bO7lTdoiycyc7o5F-3Hgo7PNN7jGcHJAlU8dENkmtGXR1y"
OTHER_TEST_SECRET_KEY = "q8WZt3v0Lr-9dXc_Kp2sHnUe6yBaGf1JmQoVi4Ej7TwYl5RzSx0NbDkMh3cPuAgI"
# What production requires besides the secret (https, issue 13.7).
PROD_PUBLIC_BASE_URL = "https://care.example.org"


def load(engine: Engine, model: type[_Row], key: Any) -> _Row:
    """The *model* row with primary key *key*, read back in a session of its own (it must exist)."""
    with Session(engine) as session:
        row = session.get(model, key)
        assert row is not None, f"no {model.__name__} {key!r}"
        return row


def load_all(engine: Engine, model: type[_Row]) -> list[_Row]:
    """Every *model* row, in primary-key order (oldest first), read in a session of its own."""
    with Session(engine) as session:
        return list(session.exec(select(model).order_by(*inspect(model).primary_key)).all())


def case_events(engine: Engine, case_id: int | None, type_: CaseEventType | None = None) -> list[CaseEvent]:
    """The events of a case (of one *type_*, or all), oldest first, read in a session of its own."""
    stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
    if type_ is not None:
        stmt = stmt.where(CaseEvent.type == type_)
    with Session(engine) as session:
        return list(session.exec(stmt).all())


def prod_settings(**overrides: Any) -> Settings:
    """Settings that pass every production check (ANBU_ENV=prod), with *overrides* on top."""
    values: dict[str, Any] = {
        "env": "prod",
        "secret_key": TEST_SECRET_KEY,
        "public_base_url": PROD_PUBLIC_BASE_URL,
        "transport": "console",
    }
    return Settings(_env_file=None, **{**values, **overrides})


def make_team(session: Session, *, name: str = "Team A", policy: dict[str, object] | None = None) -> Team:
    org = Organisation(name=f"Org {next(_seq)}", escalation_policy=policy)
    session.add(org)
    session.flush()
    assert org.id is not None
    team = Team(organisation_id=org.id, name=name)
    session.add(team)
    session.flush()
    return team


def set_policy(session: Session, household_id: int, policy: dict[str, object]) -> None:
    """Give the organisation of a household (through its team) the escalation *policy*."""
    household = session.get(Household, household_id)
    assert household is not None
    team = session.get(Team, household.team_id)
    assert team is not None
    org = session.get(Organisation, team.organisation_id)
    assert org is not None
    org.escalation_policy = policy
    session.add(org)


def make_user(
    session: Session,
    *,
    team: Team | None = None,
    role: Role = Role.CASEWORKER,
    username: str | None = None,
    password_hash: str = "!unusable",
    phone: str | None = "+821055500001",
) -> User:
    user = User(
        username=username or f"user{next(_seq)}",
        password_hash=password_hash,
        role=role,
        team_id=team.id if team else None,
        display_name="Test Worker",
        phone=phone,
        created_at=EPOCH,
    )
    session.add(user)
    session.flush()
    return user


def make_household(
    session: Session,
    *,
    team: Team | None = None,
    tz: str = "Asia/Seoul",
    with_resident: bool = True,
    resident_phone: str = "+821012345678",
    language: Language = Language.KO,
    contacts: int = 1,
    quiet_hours: float | None = None,
) -> Household:
    team = team or make_team(session)
    assert team.id is not None
    n = next(_seq)
    household = Household(
        team_id=team.id, code=f"HH-{n:04d}", timezone=tz, quiet_hours=quiet_hours, created_at=EPOCH
    )
    session.add(household)
    session.flush()
    assert household.id is not None
    if with_resident:
        session.add(
            Resident(household_id=household.id, name="Kim Test", phone=resident_phone, language=language)
        )
    for i in range(contacts):
        session.add(
            Contact(
                household_id=household.id,
                name=f"Family {i + 1}",
                relation="daughter",
                phone=f"+8210777{n:03d}{i:02d}"[:14],
                tier=1,
                language=language,
                preferred_channel=Channel.SMS,
            )
        )
    session.flush()
    return household


def make_device(
    session: Session,
    *,
    household: Household | None,
    vendor: DeviceVendor = DeviceVendor.NATIVE,
    external_id: str | None = None,
    appliance: str = "kettle",
    on_threshold_w: float = 8.0,
) -> Device:
    device = Device(
        vendor=vendor,
        external_id=external_id or f"dev{next(_seq)}",
        household_id=household.id if household else None,
        status=DeviceStatus.ASSIGNED if household else DeviceStatus.PENDING,
        appliance=appliance,
        on_threshold_w=on_threshold_w,
        created_at=EPOCH,
    )
    session.add(device)
    session.flush()
    return device


def make_watch(session: Session, household: Household, **values: object) -> Watch:
    assert household.id is not None
    watch = Watch(household_id=household.id, updated_at=EPOCH, **values)  # type: ignore[arg-type]
    session.add(watch)
    session.flush()
    return watch


def seed_kettle_use(
    session: Session, day0: datetime, days: int, *, tz: str = "Asia/Seoul"
) -> tuple[int, int]:
    """A household whose kettle is used at 08:00, 13:00 and 20:00 (``day0`` is local midnight) for
    ``days`` days, with a reading every 5 minutes, watched since its last use; its and the kettle's
    ids. What a routine fit learns from (anomaly.training)."""
    household = make_household(session, tz=tz)
    device = make_device(session, household=household, appliance="kettle")
    assert household.id is not None and device.id is not None
    session.add_all(
        Reading(device_id=device.id, ts=t, received_at=t, power_w=0.0)
        for t in (day0 + timedelta(minutes=m) for m in range(0, days * 1440, 5))
    )
    session.add_all(
        ActivityEdge(
            household_id=household.id,
            device_id=device.id,
            ts=day0 + timedelta(days=d, hours=h, minutes=1),
            kind=EdgeKind.ON,
            power_w=1800,
        )
        for d in range(days)
        for h in (8, 13, 20)
    )
    last = day0 + timedelta(days=days - 1, hours=20, minutes=1)
    make_watch(
        session,
        household,
        status=WatchStatus.UP,
        last_activity_at=last,
        last_activity_device_id=device.id,
        alert_after=last + timedelta(hours=12),
    )
    return household.id, device.id


def case_row(at: datetime, **values: Any) -> Case:
    """An unsaved open inactivity case of household 1, opened and last seen *at*, with *values* on
    top: for pure code that reads case rows."""
    fields: dict[str, Any] = {
        "household_id": 1,
        "kind": CaseKind.INACTIVITY,
        "status": CaseStatus.OPEN,
        "opened_at": at,
        "last_seen_at": at,
        "escalation_token": "t",
        **values,
    }
    return Case(**fields)


def make_open_case(
    session: Session,
    household: Household,
    *,
    now: datetime,
    kind: CaseKind = CaseKind.INACTIVITY,
    policy_snapshot: dict[str, object] | None = None,
) -> Case:
    """An open case through the lifecycle, with the household's policy snapshot (or the one given)."""
    from notifier.lifecycle import open_or_redetect
    from notifier.policy import snapshot_for_household

    assert household.id is not None
    snapshot = (
        policy_snapshot if policy_snapshot is not None else snapshot_for_household(session, household.id)
    )
    case, _ = open_or_redetect(
        session,
        household_id=household.id,
        kind=kind,
        severity=Severity.ALERT,
        explanation="test: no activity",
        policy_snapshot=dict(snapshot),
        now=now,
    )
    return case


def make_call_attempt(
    session: Session,
    household: Household,
    *,
    now: datetime,
    case: Case | None = None,
    language: Language = Language.KO,
    status: str = "queued",
    provider_sid: str | None = None,
    purpose: CallPurpose = CallPurpose.WELLNESS,
    outcome: CallOutcome | None = None,
) -> CallAttempt:
    """A call (a wellness call by default) the outbox has handed to the provider (status
    ``queued`` by default)."""
    assert household.id is not None
    n = next(_seq)
    attempt = CallAttempt(
        purpose=purpose,
        case_id=case.id if case else None,
        household_id=household.id,
        to_address="+821012345678",
        language=language,
        code=f"code{n:04d}{uuid.uuid4().hex}",
        idempotency_key=f"test:call:{n}",
        escalation_token=case.escalation_token if case else "",
        status=CallStatus(status),
        outcome=outcome,
        provider_sid=provider_sid,
        created_at=now,
        updated_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt


def make_checkin_call(
    session: Session, household: Household, *, at: datetime, outcome: CallOutcome, answers: dict[str, Any]
) -> CheckinCall:
    """A scheduled check-in call to the resident, completed at *at* with these *answers*."""
    attempt = make_call_attempt(
        session, household, now=at, status="completed", purpose=CallPurpose.CHECKIN, outcome=outcome
    )
    assert household.id is not None and attempt.id is not None
    checkin = CheckinCall(
        household_id=household.id,
        call_attempt_id=attempt.id,
        scheduled_for=at,
        answers=answers,
        created_at=at,
    )
    session.add(checkin)
    session.flush()
    return checkin


def make_notification(
    session: Session,
    household: Household,
    *,
    now: datetime,
    case: Case | None = None,
    status: str = "sent",
    provider_sid: str | None = None,
) -> Notification:
    """An SMS to a family contact that the outbox has sent (status ``sent`` by default)."""
    from core.enums import OutboxStatus, RecipientKind

    assert household.id is not None
    n = next(_seq)
    notification = Notification(
        case_id=case.id if case else None,
        household_id=household.id,
        recipient_kind=RecipientKind.CONTACT,
        to_address="+821077700001",
        template="sms.family.alert",
        body="test body",
        idempotency_key=f"test:sms:{n}",
        escalation_token=case.escalation_token if case else "",
        status=OutboxStatus(status),
        provider_sid=provider_sid,
        created_at=now,
    )
    session.add(notification)
    session.flush()
    return notification
