"""Which overdue households the sweeper must look at again this tick (issue 15.2).

An overdue household's re-check (``anomaly.sweeper._check_recovered``) recomputes its deadline:
it recovers when a new sign of life moves the deadline past now, and its case is raised to
critical when the ladder's critical time comes. With the inputs unchanged the deadline is the
same (``compute_deadline`` is a pure function of them), so the outcome can change only when

* one of the inputs changes: the watch row (activity, check-in, data gaps, status, deadline),
  the household (timezone, quiet hours, away period), its routine (refitted or dropped), the
  house's on-clock, its plugs' switch states, its devices (assigned, appliance), its active
  inactivity case (acknowledged, raised, closed) or the process's default quiet hours; or
* the time-driven part of the ladder comes: the critical time (recovery needs a new input:
  ``alert_after <= now`` stays true as time passes).

So the sweeper re-checks an overdue household only when the **digest** of those inputs, read in
three set queries for every overdue household at once, differs from the one stored at its last
re-check (``Watch.checked_inputs``), or when ``Watch.next_recheck_at`` (the critical time, at the
latest a periodic re-check) has come. The digest is read from the rows themselves rather than
from a marker each writer must remember to bump: the gateway, the API, the refit, a reply and
erasure all write these inputs, and a writer that forgot a marker would silently stop a
recovery or a raise. Read before the re-check and stored after it, a digest can only be older
than what the re-check saw, never newer: a change committed in between shows up as a different
digest on the next tick (one extra re-check, never a missed one).

The periodic re-check (:data:`RECHECK_EVERY` to twice that, spread by household) bounds the
harm if an input is ever added to the deadline and not here; ``tests/integration/anomaly/
test_sweeper_recheck.py`` changes each input above and checks the household is looked at again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, update
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from anomaly.deadlines import Deadline
from core.bulk import table_of
from core.enums import ACTIVE_CASE_STATUSES, CaseKind, WatchStatus
from core.models import Case, ChannelState, Device, Household, HouseState, RoutineModel, Watch
from core.settings import Settings

# Every overdue household is re-checked at least this often (plus up to as much again, spread by
# household id so that households that went overdue together are not all re-checked in one tick).
RECHECK_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Overdue:
    household_id: int
    inputs: str  # the digest of what its re-check reads, now
    recheck: bool  # inputs changed since the last re-check, or its next re-check time has come


def overdue_watches(session: Session, now: datetime, settings: Settings) -> list[Overdue]:
    """Every overdue watch, with its inputs' digest and whether to re-check it, in three queries."""
    activity_device = aliased(Device)
    columns = [
        col(Watch.household_id),
        col(Watch.checked_inputs),
        col(Watch.next_recheck_at),
        col(Watch.status),
        col(Watch.last_activity_at),
        col(Watch.last_activity_device_id),
        col(Watch.last_checkin_at),
        col(Watch.alert_after),
        col(Watch.data_gap_s),
        col(Watch.data_gap_after),
        col(Watch.data_gap_until),
        col(activity_device.appliance),
        col(Household.timezone),
        col(Household.monitoring),
        col(Household.paused_until),
        col(Household.quiet_hours),
        col(RoutineModel.fitted_at),
        col(RoutineModel.days_used),
        col(HouseState.on_since),
        col(HouseState.last_on_since),
        col(HouseState.last_on_end),
    ]
    rows = session.execute(
        select_columns(*columns)
        .join(Household, col(Household.id) == Watch.household_id)
        .outerjoin(activity_device, col(activity_device.id) == Watch.last_activity_device_id)
        .outerjoin(RoutineModel, col(RoutineModel.household_id) == Watch.household_id)
        .outerjoin(HouseState, col(HouseState.household_id) == Watch.household_id)
        .where(col(Watch.status) == WatchStatus.OVERDUE)
        .order_by(col(Watch.household_id))
    ).all()
    plugs: dict[int, list[tuple[object, ...]]] = {}
    plug_columns = [
        col(Device.household_id),
        col(Device.id),
        col(Device.status),
        col(Device.appliance),
        col(ChannelState.channel),
        col(ChannelState.is_on),
        col(ChannelState.off_since),
        col(ChannelState.last_event_ts),
    ]
    for household_id, *plug in session.execute(
        select_columns(*plug_columns)
        .join(Watch, col(Watch.household_id) == Device.household_id)
        .outerjoin(ChannelState, col(ChannelState.device_id) == Device.id)
        .where(col(Watch.status) == WatchStatus.OVERDUE)
    ).all():
        plugs.setdefault(household_id, []).append(tuple(plug))
    cases: dict[int, list[tuple[object, ...]]] = {}
    for household_id, *case in session.exec(
        select(Case.household_id, Case.id, Case.status, Case.severity)
        .join(Watch, col(Watch.household_id) == Case.household_id)
        .where(
            Watch.status == WatchStatus.OVERDUE,
            Case.kind == CaseKind.INACTIVITY,
            col(Case.status).in_(ACTIVE_CASE_STATUSES),
        )
    ).all():
        cases.setdefault(household_id, []).append(tuple(case))
    out = []
    for household_id, checked, next_at, *inputs in rows:
        digest = _digest(
            (
                settings.inactivity_default_hours,
                tuple(inputs),
                sorted(plugs.get(household_id, []), key=repr),
                sorted(cases.get(household_id, []), key=repr),
            )
        )
        # A next re-check further off than it is ever set (:func:`next_recheck`) means the clock
        # stepped back since: look again rather than wait for the clock to catch up.
        stale = next_at is None or next_at <= now or next_at > now + 2 * RECHECK_EVERY
        recheck = checked != digest or stale
        out.append(Overdue(household_id, digest, recheck))
    return out


def next_recheck(household_id: int, deadline: Deadline | None, now: datetime) -> datetime:
    """When an overdue household must be looked at again with nothing changed: its critical time
    if that is still to come, at the latest the periodic re-check."""
    spread = timedelta(seconds=household_id % max(1, int(RECHECK_EVERY.total_seconds())))
    at = now + RECHECK_EVERY + spread
    if deadline is not None and deadline.critical_after is not None and deadline.critical_after > now:
        at = min(at, deadline.critical_after)
    return at


class Checked(NamedTuple):
    """What one overdue household's re-check read, and when to look again with nothing changed."""

    household_id: int
    inputs: str
    next_at: datetime


def mark_checked(session: Session, checked: Sequence[Checked]) -> None:
    """Store what overdue households' re-checks read, each only while it is still overdue: one
    statement for a batch (an executemany), not one a household."""
    if not checked:
        return
    watch = table_of(Watch)
    session.execute(
        update(watch)
        .where(watch.c.household_id == bindparam("b_household"), watch.c.status == WatchStatus.OVERDUE)
        .values(checked_inputs=bindparam("b_inputs"), next_recheck_at=bindparam("b_next")),
        [{"b_household": c.household_id, "b_inputs": c.inputs, "b_next": c.next_at} for c in checked],
    )


def _digest(parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
