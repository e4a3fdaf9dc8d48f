"""The escalation policy as data: who is contacted, in which order, how long we wait between.

A policy is stored as JSON on ``Organisation.escalation_policy`` (None = :data:`DEFAULT_POLICY`)
and copied into each case when it opens (``Case.policy_snapshot``), so editing a policy never
changes an escalation that is already running.

Shape (JSON)::

    {"steps": [{"action": "call_resident", "wait_minutes": 5},
               {"action": "notify_family", "tier": 1, "wait_minutes": 15},
               {"action": "notify_caseworker", "wait_minutes": 15}],
     "repeat_from": 1, "max_repeats": 3,
     "emergency": [{"action": "notify_caseworker"}, {"action": "notify_family", "tier": 1}]}

Optional fields (``ack_reminder_minutes``, ``quiet_hours``, ``limits``, ``pre_call_sms``,
``self_harm``) are
described on their models below and in ``docs/calls.md``.

``wait_minutes`` is the pause *after* a step before the next one. When the last step has run,
the ladder starts again at ``repeat_from`` until it has been repeated ``max_repeats`` times;
then it is exhausted (see :mod:`notifier.ladder`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, col, select

from core.localtime import household_zone
from core.models import Household, Organisation, Team

log = logging.getLogger(__name__)

MAX_WAIT_MINUTES = 24 * 60
DEFAULT_ACK_REMINDER_MINUTES = 4 * 60


class PolicyError(ValueError):
    """A policy document is not valid; the message names every problem and where it is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallResident(_Strict):
    """An AI wellness call to every resident of the household who has a phone."""

    action: Literal["call_resident"] = "call_resident"


class NotifyFamily(_Strict):
    """SMS to the household's contacts of this tier (the next tier that has contacts, if none)."""

    action: Literal["notify_family"] = "notify_family"
    tier: int = Field(1, ge=1, le=9)


class NotifyCaseworker(_Strict):
    """SMS to the on-duty caseworkers (with a phone) of the household's team."""

    action: Literal["notify_caseworker"] = "notify_caseworker"


class CallCaseworker(_Strict):
    """A voice call to the on-duty caseworkers (with a phone) of the household's team: the alert,
    then "press 1 to take it on and be connected to the resident". Not a policy step of its own:
    the self-harm protocol places it (:mod:`notifier.escalation`)."""

    action: Literal["call_caseworker"] = "call_caseworker"


class CallControlRoom(_Strict):
    """A voice call to the on-duty control-room staff (with a phone) of the household's
    organisation, as :class:`CallCaseworker` says it."""

    action: Literal["call_control_room"] = "call_control_room"


class CallFamily(_Strict):
    """A voice call to the household's contacts of this tier (the next tier that has contacts, if
    none), whatever channel they prefer: the alert from the catalogue in their language (Korean
    by default), then "press 1" to acknowledge (:mod:`notifier.calls.contact`)."""

    action: Literal["call_family"] = "call_family"
    tier: int = Field(1, ge=1, le=9)


class Handoff119(_Strict):
    """A hand-off to 119 through a person: the on-duty control room is texted what a 119 call
    needs (the resident's name, age, address and phone, when they were last heard from, a link to
    the printable hand-off page with their own words) and called. Anbu never dials 119 itself."""

    action: Literal["handoff_119"] = "handoff_119"


_ANY = CallResident | NotifyFamily | NotifyCaseworker | CallControlRoom | CallFamily | Handoff119
Action = Annotated[_ANY, Field(discriminator="action")]
EmergencyAction = Annotated[
    NotifyFamily | NotifyCaseworker | CallControlRoom | CallFamily | Handoff119, Field(discriminator="action")
]


class _Wait(_Strict):
    wait_minutes: int = Field(ge=1, le=MAX_WAIT_MINUTES)


class CallResidentStep(_Wait, CallResident):
    pass


class NotifyFamilyStep(_Wait, NotifyFamily):
    pass


class NotifyCaseworkerStep(_Wait, NotifyCaseworker):
    pass


class CallControlRoomStep(_Wait, CallControlRoom):
    pass


class CallFamilyStep(_Wait, CallFamily):
    pass


class Handoff119Step(_Wait, Handoff119):
    pass


Step = Annotated[
    CallResidentStep
    | NotifyFamilyStep
    | NotifyCaseworkerStep
    | CallControlRoomStep
    | CallFamilyStep
    | Handoff119Step,
    Field(discriminator="action"),
]


_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHours(_Strict):
    """No non-emergency calls to the resident between ``start`` and ``end`` (household local time,
    ``HH:MM``; a window may cross midnight). ``skip``: the call step is passed over and the ladder
    goes on to the people after it at once (nobody is reached later than without quiet hours);
    ``defer``: the ladder waits and the call is placed when the quiet hours end."""

    start: str = Field(pattern=_CLOCK_TIME)
    end: str = Field(pattern=_CLOCK_TIME)
    mode: Literal["skip", "defer"] = "skip"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end are the same time: remove quiet_hours instead")
        return self


class Limits(_Strict):
    """Caps per household per **calendar day in the household's time zone** (what "3 calls a
    day" means to people; the count starts again at local midnight, see :func:`local_day_start`),
    against runaway loops and phone bills. They never hold back an emergency message, a
    caseworker SMS or an "all clear"; a held-back call or message is recorded as a
    ``limit_reached`` case event."""

    calls_per_household_per_day: int = Field(8, ge=1, le=100)
    family_sms_per_household_per_day: int = Field(20, ge=1, le=500)


def _default_emergency() -> list[NotifyFamily | NotifyCaseworker | CallControlRoom | CallFamily | Handoff119]:
    return [NotifyCaseworker(), NotifyFamily(tier=1)]


class SelfHarmPolicy(_Strict):
    """What happens when a resident speaks of wanting to die (docs/calls.md, "Self-harm protocol").

    ``family``: ``tell`` (default) texts the family on the ``emergency`` list at once that their
    relative needs to hear from someone now — never what was said; ``do_not_tell`` leaves the
    family to the caseworker (for a service whose residents asked that their family not be told,
    or where the family is part of the distress). ``control_room_after_minutes``: when no
    caseworker has taken the case on by then (key 1 on our call, or on the dashboard), or every
    caseworker call has ended without it, the on-duty control room is called."""

    family: Literal["tell", "do_not_tell"] = "tell"
    control_room_after_minutes: int = Field(10, ge=1, le=120)


class EscalationPolicy(_Strict):
    steps: list[Step] = Field(min_length=1, max_length=20)
    repeat_from: int | None = Field(None, ge=0)
    max_repeats: int = Field(0, ge=0, le=20)
    emergency: list[EmergencyAction] = Field(default_factory=_default_emergency, min_length=1, max_length=10)
    # An acknowledged case that is still not resolved reminds the on-duty caseworkers this often.
    ack_reminder_minutes: int = Field(DEFAULT_ACK_REMINDER_MINUTES, ge=15, le=7 * MAX_WAIT_MINUTES)
    quiet_hours: QuietHours | None = None
    limits: Limits = Field(default_factory=Limits)
    # Text the resident shortly before the first wellness call of a case (residents are wary of
    # unknown callers; the text says who is calling and why).
    pre_call_sms: bool = False
    self_harm: SelfHarmPolicy = Field(default_factory=SelfHarmPolicy)

    @model_validator(mode="after")
    def _repeat_points_at_a_step(self) -> EscalationPolicy:
        if self.repeat_from is not None and self.repeat_from >= len(self.steps):
            raise ValueError(
                f"repeat_from={self.repeat_from} is not a step index (the policy has {len(self.steps)} "
                f"steps, numbered 0 to {len(self.steps) - 1})"
            )
        if self.max_repeats > 0 and self.repeat_from is None:
            raise ValueError("max_repeats is set but repeat_from is missing: say which step to repeat from")
        return self

    @property
    def self_harm_tells_family(self) -> bool:
        return self.self_harm.family == "tell"

    @property
    def exhausted_wait_minutes(self) -> int:
        """After the ladder is exhausted the caseworker is reminded at the last step's interval."""
        return self.steps[-1].wait_minutes

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


DEFAULT_POLICY = EscalationPolicy(
    steps=[
        CallResidentStep(wait_minutes=5),
        CallResidentStep(wait_minutes=10),
        NotifyFamilyStep(tier=1, wait_minutes=15),
        NotifyCaseworkerStep(wait_minutes=15),
    ],
    repeat_from=2,
    max_repeats=3,
    emergency=[NotifyCaseworker(), NotifyFamily(tier=1)],
)


def parse_policy(data: Any) -> EscalationPolicy:
    """Validate a policy document. Raises :class:`PolicyError` listing each problem with its path."""
    try:
        return EscalationPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "policy"
            problems.append(f"{where}: {err['msg']}")
        raise PolicyError("invalid escalation policy: " + "; ".join(problems)) from None


def policy_from_snapshot(snapshot: dict[str, Any] | None) -> EscalationPolicy:
    """The policy a case runs on. Lenient on purpose: a case must escalate even if its snapshot is
    empty or damaged, so anything unusable falls back to :data:`DEFAULT_POLICY` (logged)."""
    if not snapshot:
        return DEFAULT_POLICY
    try:
        return parse_policy(snapshot)
    except PolicyError as exc:
        log.error("case policy snapshot unusable, using the default policy: %s", exc)
        return DEFAULT_POLICY


def snapshot_for_household(session: Session, household_id: int) -> dict[str, Any]:
    """The policy to copy into a new case: the organisation's own if set, else the default.

    An organisation policy that no longer validates must not stop a case from opening, so it
    falls back to the default (logged with the organisation id) instead of raising.
    """
    primed = session.info.get(_PRIMED_SNAPSHOTS)
    if primed is not None and household_id in primed:
        return copy.deepcopy(primed[household_id])
    return snapshots_for_households(session, [household_id]).get(household_id) or DEFAULT_POLICY.snapshot()


# session.info key: the snapshots :func:`prime_snapshots` read for this session's households.
_PRIMED_SNAPSHOTS = "anbu.policy_snapshots"


def prime_snapshots(session: Session, household_ids: Collection[int]) -> None:
    """Read the policies of many households in one query and keep them in the session, so that
    :func:`snapshot_for_household` asks the database nothing more for them (a tick that may open
    a case for each of a batch of households). The session lives one short transaction."""
    snapshots = _shared_snapshots(session, household_ids)  # copied when handed out, not twice
    primed = session.info.setdefault(_PRIMED_SNAPSHOTS, {})
    for household_id in household_ids:
        primed[household_id] = snapshots.get(household_id) or DEFAULT_POLICY.snapshot()


def snapshots_for_households(session: Session, household_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """:func:`snapshot_for_household` for many households in one query (a tick opening many
    cases); each organisation's policy is validated once. Households not found are left out."""
    # A copy each: a case's snapshot must not share its dicts with another case's.
    return {
        household_id: copy.deepcopy(shared)
        for household_id, shared in _shared_snapshots(session, household_ids).items()
    }


def _shared_snapshots(session: Session, household_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The households' snapshots, one dict per organisation shared by its households."""
    if not household_ids:
        return {}
    rows = session.exec(
        select(Household.id, Organisation.id, Organisation.escalation_policy)
        .join(Team, Team.organisation_id == Organisation.id)  # type: ignore[arg-type]
        .join(Household, Household.team_id == Team.id)  # type: ignore[arg-type]
        .where(col(Household.id).in_(set(household_ids)))
    ).all()
    by_org: dict[int | None, dict[str, Any]] = {}
    out: dict[int, dict[str, Any]] = {}
    for household_id, org_id, data in rows:
        if org_id not in by_org:
            by_org[org_id] = _organisation_snapshot(org_id, data)
        if household_id is not None:
            out[household_id] = by_org[org_id]
    return out


def _organisation_snapshot(org_id: int | None, data: Any) -> dict[str, Any]:
    if data is None:
        return DEFAULT_POLICY.snapshot()
    try:
        return parse_policy(data).snapshot()
    except PolicyError as exc:
        log.error("organisation %s has an invalid escalation policy, using the default: %s", org_id, exc)
        return DEFAULT_POLICY.snapshot()


def local_day_start(now: datetime, timezone: str) -> datetime:
    """Pure: the first instant (UTC) of the household's local calendar day that ``now`` is in.

    DST-safe: the day may be 23 or 25 hours long, and where a change skips local midnight the day
    starts at the first local time that exists (zoneinfo maps the missing 00:00 to that instant).
    """
    zone = household_zone(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    # fold=0: a repeated midnight counts from its first occurrence. Guard for exotic zone data:
    # the start must lie on ``day`` itself, never on the day before.
    while start.astimezone(zone).date() < day:
        start += timedelta(minutes=15)
    return start


def in_quiet_hours(local: time, quiet: QuietHours) -> bool:
    """Pure: is the local wall-clock time ``local`` inside the quiet hours?"""
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(now: datetime, timezone: str, quiet: QuietHours) -> datetime | None:
    """Pure: when the quiet hours that ``now`` falls in end (UTC), or None outside them.

    ``timezone`` is the household's (:func:`core.localtime.household_zone`).
    """
    zone = household_zone(timezone)
    local = now.astimezone(zone)
    start, end, t = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end), local.time()
    if not in_quiet_hours(t, quiet):
        return None
    if start < end:  # inside one day, e.g. 12:00-14:00
        end_day = local.date()
    else:  # across midnight, e.g. 21:00-08:00
        end_day = local.date() + timedelta(days=1) if t >= start else local.date()
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
