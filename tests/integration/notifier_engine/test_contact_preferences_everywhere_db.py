"""A contact's channel preference and language hold on every path that reaches them.

Paths: the ladder's family step, the emergency fan-out (``escalate_now``), the family call's
script, and the "all clear" after the case clears. Opted-out contacts get nothing on any path.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import Channel, Language, RecipientKind
from core.models import Case, Contact
from core.settings import Settings
from notifier import calls as call_handlers
from notifier import escalation, lifecycle, outbox
from notifier.pacing import CallPacer
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.integration.notifier_engine.support import (
    FAMILY_FIRST,
    PUBLIC_BASE,
    RecordingTransport,
    calls,
    notifications,
)
from tests.ticks import run_notifier_ticks


@dataclass
class Family:
    case_id: int
    korean_sms: int  # prefers SMS, Korean
    english_call: int  # prefers calls, English
    opted_out: int  # prefers calls, English, but opted out


def _family(engine: Engine, clock: ManualClock, policy: dict[str, object] | None) -> Family:
    with session_scope(engine) as s:
        team = make_team(s, policy=policy)
        hh = make_household(s, team=team, contacts=0)
        make_user(s, team=team)
        assert hh.id is not None
        rows = [
            Contact(household_id=hh.id, name="Daughter", phone="+821077700001", language=Language.KO),
            Contact(
                household_id=hh.id,
                name="Son",
                phone="+447700900001",
                language=Language.EN,
                preferred_channel=Channel.CALL,
            ),
            Contact(
                household_id=hh.id,
                name="Nephew",
                phone="+447700900002",
                language=Language.EN,
                preferred_channel=Channel.CALL,
                opted_out=True,
            ),
        ]
        for row in rows:
            s.add(row)
        s.flush()
        case = make_open_case(s, hh, now=clock.now())
        assert case.id is not None and all(r.id is not None for r in rows)
        return Family(case.id, *(int(r.id or 0) for r in rows))


def _contact_rows(engine: Engine, case_id: int) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """recipient id -> {(channel, language, template)} for SMS, and -> {language} for calls."""
    with Session(engine) as s:
        sms: dict[int, set[str]] = {}
        for n in notifications(s, case_id):
            if n.recipient_kind == RecipientKind.CONTACT and n.recipient_id is not None:
                sms.setdefault(n.recipient_id, set()).add(f"{n.language.value}:{n.template}")
        phoned: dict[int, set[str]] = {}
        for c in calls(s, case_id):
            if c.recipient_kind == RecipientKind.CONTACT and c.recipient_id is not None:
                phoned.setdefault(c.recipient_id, set()).add(c.language.value)
    return sms, phoned


def test_the_ladders_family_step_uses_each_contacts_channels_and_language(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    fam = _family(engine, clock, FAMILY_FIRST)
    run_notifier_ticks(engine, clock, settings)
    sms, phoned = _contact_rows(engine, fam.case_id)
    assert sms == {fam.korean_sms: {"ko:sms.family.ladder"}, fam.english_call: {"en:sms.family.ladder"}}
    assert phoned == {fam.english_call: {"en"}}


def test_an_emergency_reaches_each_contact_on_their_channels_in_their_language(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    fam = _family(engine, clock, {"steps": [{"action": "call_resident", "wait_minutes": 60}]})
    with session_scope(engine) as s:
        case = s.get_one(Case, fam.case_id)
        escalation.escalate_now(s, case, target="emergency", now=clock.now(), reason="resident pressed 2")
    sms, phoned = _contact_rows(engine, fam.case_id)
    assert sms == {
        fam.korean_sms: {"ko:sms.family.emergency"},
        fam.english_call: {"en:sms.family.emergency"},
    }
    assert phoned == {fam.english_call: {"en"}}
    # The family call itself speaks English and asks for key 1.
    with Session(engine) as s:
        (call,) = [c for c in calls(s, fam.case_id) if c.recipient_id == fam.english_call]
    with session_scope(engine) as s:
        twiml = call_handlers.answer(
            s, code=call.code, params={"AnsweredBy": "human"}, base_url=PUBLIC_BASE, now=clock.now()
        )
    assert "press 1" in twiml and 'language="en-US"' in twiml


def test_all_clear_goes_to_everyone_told_in_their_language_and_never_to_opted_out(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    fam = _family(engine, clock, FAMILY_FIRST)
    run_notifier_ticks(engine, clock, settings)
    outbox.tick(engine, clock, settings, RecordingTransport(), pacer=CallPacer(0))
    with session_scope(engine) as s:
        lifecycle.clear(s, s.get_one(Case, fam.case_id), reason="activity", now=clock.now())
    run_notifier_ticks(engine, clock, settings)
    sms, _ = _contact_rows(engine, fam.case_id)
    assert {k: {t for t in v if "all_clear" in t} for k, v in sms.items()} == {
        fam.korean_sms: {"ko:sms.family.all_clear"},
        fam.english_call: {"en:sms.family.all_clear"},
    }
    assert fam.opted_out not in sms
