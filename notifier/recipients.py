"""Who a step reaches: residents to call, the family tier to text (and call), on-duty caseworkers
to text or call, the on-duty control room to call.

Database reads only; the choice of tier and channels is pure (:mod:`notifier.ladder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from core.enums import Channel, Language, RecipientKind, Role
from core.models import Contact, Household, Resident, Team, User
from notifier.ladder import PlannedAction, contact_channels, select_family_tier
from notifier.policy import (
    CallCaseworker,
    CallControlRoom,
    CallFamily,
    CallResident,
    Handoff119,
    NotifyFamily,
)
from notifier.templates import Audience

# Whose words an SMS to each kind of recipient is written in (the template's audience).
_AUDIENCE: dict[RecipientKind, Audience] = {
    RecipientKind.RESIDENT: "resident",
    RecipientKind.CONTACT: "family",
    RecipientKind.USER: "caseworker",
}


@dataclass(frozen=True)
class Recipient:
    """One person on one channel (a contact who prefers calls is two: SMS and call)."""

    kind: RecipientKind
    id: int
    address: str
    language: Language
    channel: Channel

    @property
    def audience(self) -> Audience:
        return _AUDIENCE[self.kind]


def resolve_recipients(
    session: Session, household: Household, actions: Sequence[PlannedAction]
) -> list[Recipient]:
    """Everyone the actions reach, in action order, each (kind, id, channel) once."""
    found: list[Recipient] = []
    for action in actions:
        if isinstance(action, CallResident):
            found.extend(_residents(session, household))
        elif isinstance(action, NotifyFamily):
            found.extend(_family(session, household, action.tier))
        elif isinstance(action, CallFamily):  # a call to each, whatever channel they prefer
            found.extend(_family(session, household, action.tier, calls=True))
        elif isinstance(action, Handoff119):  # the sheet by text, and a call so it is seen at night
            found.extend(_control_room(session, household, Channel.SMS))
            found.extend(_control_room(session, household))
        elif isinstance(action, CallCaseworker):
            found.extend(_caseworkers(session, household, Channel.CALL))
        elif isinstance(action, CallControlRoom):
            found.extend(_control_room(session, household))
        else:
            found.extend(_caseworkers(session, household))
    unique: dict[tuple[RecipientKind, int, Channel], Recipient] = {}
    for rec in found:
        unique.setdefault((rec.kind, rec.id, rec.channel), rec)
    return list(unique.values())


def _residents(session: Session, household: Household) -> list[Recipient]:
    rows = session.exec(
        select(Resident).where(Resident.household_id == household.id).order_by(col(Resident.id))
    ).all()
    return [
        Recipient(RecipientKind.RESIDENT, r.id, r.phone, r.language, Channel.CALL)
        for r in rows
        if r.id is not None and r.phone
    ]


def _family(session: Session, household: Household, tier: int, *, calls: bool = False) -> list[Recipient]:
    contacts = [
        c
        for c in session.exec(
            select(Contact)
            .where(Contact.household_id == household.id, col(Contact.opted_out).is_(False))
            .order_by(col(Contact.id))
        ).all()
        if c.phone and c.id is not None
    ]
    chosen = select_family_tier((c.tier for c in contacts), tier)
    return [
        Recipient(RecipientKind.CONTACT, c.id, c.phone, c.language, channel)
        for c in contacts
        if c.tier == chosen and c.id is not None
        for channel in ((Channel.CALL,) if calls else contact_channels(c.preferred_channel))
    ]


def _caseworkers(session: Session, household: Household, channel: Channel = Channel.SMS) -> list[Recipient]:
    return _on_duty(session, Role.CASEWORKER, col(User.team_id) == household.team_id, channel)


def _control_room(session: Session, household: Household, channel: Channel = Channel.CALL) -> list[Recipient]:
    """On-duty control-room staff with a phone: those of the household's organisation (on one of
    its teams), and those on no team (a control room sees every household)."""
    team = session.get(Team, household.team_id)
    org_teams = select(Team.id).where(Team.organisation_id == (team.organisation_id if team else -1))
    return _on_duty(
        session, Role.CONTROL_ROOM, col(User.team_id).is_(None) | col(User.team_id).in_(org_teams), channel
    )


def _on_duty(session: Session, role: Role, where: ColumnElement[bool], channel: Channel) -> list[Recipient]:
    """Active staff of *role* on duty, with a phone, that *where* picks, by id."""
    users = session.exec(
        select(User)
        .where(User.role == role, col(User.on_duty).is_(True), col(User.is_active).is_(True), where)
        .order_by(col(User.id))
    ).all()
    return [
        Recipient(RecipientKind.USER, u.id, u.phone, u.language, channel)
        for u in users
        if u.id is not None and u.phone
    ]
