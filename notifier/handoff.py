"""The 119 hand-off (the policy's ``handoff_119`` step, docs/calls.md): what a control-room
operator needs to call 119 for a resident — Anbu never dials 119 itself.

:func:`facts` gathers it (database reads only); :func:`sms_text` is the text the on-duty control
room gets: the resident's name, age, address and phone, when they were last heard from, and a
link to the printable hand-off page (``#/cases/<id>/handoff``), which adds what the resident
said and the case's story for those allowed to sign in. This is the only text Anbu sends that
names a resident and their address: 119 asks for exactly these first, and the operator may be
away from a screen. What they said (health data) stays behind the sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.enums import Language
from core.localtime import format_local, household_zone, latest_sign_of_life
from core.models import Case, Household, Resident, Watch
from notifier.links import handoff_page
from notifier.templates import HANDOFF_TEMPLATE, MESSAGES


@dataclass(frozen=True)
class Person:
    name: str
    age: int | None
    phone: str | None


@dataclass(frozen=True)
class HandoffFacts:
    case_id: int
    household_code: str
    address: str
    timezone: str
    residents: tuple[Person, ...]
    last_sign_at: datetime | None
    link: str


def age(birth_year: int | None, now: datetime, timezone: str) -> int | None:
    """Pure: the age a person born in ``birth_year`` reaches this year (Korean 만 나이 is a day
    more precise; 119 asks for a round age, and Anbu stores the year only)."""
    if birth_year is None:
        return None
    return now.astimezone(household_zone(timezone)).year - birth_year


def facts(session: Session, case: Case, now: datetime) -> HandoffFacts:
    household = session.get(Household, case.household_id)
    assert household is not None and case.id is not None
    residents = session.exec(
        select(Resident).where(Resident.household_id == household.id).order_by(col(Resident.id))
    ).all()
    watch = session.get(Watch, household.id)
    last = latest_sign_of_life(watch.last_activity_at, watch.last_checkin_at, None) if watch else None
    return HandoffFacts(
        case_id=case.id,
        household_code=household.code,
        address=household.address,
        timezone=household.timezone,
        residents=tuple(
            Person(r.name, age(r.birth_year, now, household.timezone), r.phone)
            for r in residents
            if r.erased_at is None
        ),
        last_sign_at=last.at if last else None,
        link=handoff_page(case.id),
    )


def sms_text(found: HandoffFacts, language: Language) -> str:
    unknown = MESSAGES.text("handoff.unknown", language)
    people = "; ".join(
        MESSAGES.text(
            "handoff.person",
            language,
            name=p.name,
            age=p.age if p.age is not None else unknown,
            phone=p.phone or unknown,
        )
        for p in found.residents
    )
    last = format_local(found.last_sign_at, found.timezone, language) if found.last_sign_at else unknown
    return MESSAGES.text(
        HANDOFF_TEMPLATE,
        language,
        code=found.household_code,
        people=people or unknown,
        address=found.address or unknown,
        last=last,
        link=found.link,
    )
