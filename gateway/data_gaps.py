"""Data gaps stop the quiet clock: when a household's readings resume after > 2 h of none.

No data is not inactivity (the real-household set's rule, and ``anbu replay``'s): while none of
a household's devices reports, the sweeper holds an inactivity case that falls due
(``anomaly.sweeper``), and when readings resume the gap is added to the watch
(``Watch.data_gap_s`` since the sign of life ``data_gap_after``), so the deadline is the one
replay computes from its shifted anchor. Staff hear of the silence itself from the
``device_offline`` case (``gateway/connectivity.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlmodel import Session, col

from anomaly.sweeper import DATA_GAP, current_deadline, last_readings, quiet_start
from core.db import claim_row
from core.enums import WatchStatus
from core.models import Household, Watch
from core.settings import Settings

log = logging.getLogger(__name__)


def resumed_households(readings: Iterable[tuple[int, datetime, datetime | None]]) -> dict[int, datetime]:
    """Households that may be resuming after a gap, with their earliest new reading.

    ``readings``: (household id, new reading's time, its device's latest reading before this
    batch). A household one of whose devices had a reading within ``DATA_GAP`` of a new one has
    no gap (its latest reading is at least as recent); the rest need a look at all its devices.
    """
    first: dict[int, datetime] = {}
    recent: set[int] = set()
    for household_id, ts, device_last in readings:
        if device_last is not None and ts - device_last <= DATA_GAP:
            recent.add(household_id)
        if household_id not in first or ts < first[household_id]:
            first[household_id] = ts
    return {h: ts for h, ts in first.items() if h not in recent}


def find_gaps(session: Session, candidates: dict[int, datetime]) -> dict[int, tuple[datetime, datetime]]:
    """``{household: (last reading before, first reading after)}`` for gaps over ``DATA_GAP``.

    Call before this batch's readings move ``Device.last_reading_at``.
    """
    if not candidates:
        return {}
    gaps = {}
    for household_id, last in last_readings(session, candidates).items():  # never had data: absent
        if candidates[household_id] - last > DATA_GAP:
            gaps[household_id] = (last, candidates[household_id])
    return gaps


def add_gaps(session: Session, gaps: dict[int, tuple[datetime, datetime]], settings: Settings) -> int:
    """Add each gap to its household's watch and re-arm it; return how many watches moved.

    Only a watch that is counting (UP): an overdue one already has its case, and a new one no
    sign of life to count from. Only the part of a gap after the sign of life counts (a check-in
    can come during a gap).

    Claimed with a conditional UPDATE (``data_gap_until`` = where the last counted gap ended):
    when a power cut ends, every plug of a household comes back at once, and with several
    gateways two of them can see the same gap; the second one's UPDATE (re-checked after the
    first commits) finds the gap already counted and changes nothing, so it is added once.
    """
    moved = 0
    for household_id, (last, resumed) in sorted(gaps.items()):
        watch = session.get(Watch, household_id)
        household = session.get(Household, household_id)
        if watch is None or household is None or watch.status != WatchStatus.UP:
            continue
        sign, _last, _paused = quiet_start(session, watch, household)  # where the clock counts from
        if sign is None:
            continue
        start = max(last, sign.at)
        gap = (resumed - start).total_seconds()
        if gap <= DATA_GAP.total_seconds():
            continue
        if not claim_row(
            session,
            update(Watch)
            .where(
                col(Watch.household_id) == household_id,
                or_(col(Watch.data_gap_until).is_(None), col(Watch.data_gap_until) <= start),
            )
            .values(
                data_gap_s=case(
                    (col(Watch.data_gap_after) == sign.at, col(Watch.data_gap_s) + gap), else_=gap
                ),
                data_gap_after=sign.at,
                data_gap_until=resumed,
            ),
        ):
            continue  # another gateway counted this gap
        session.refresh(watch)
        deadline = current_deadline(session, watch, household, settings)
        if deadline is not None:
            watch.alert_after, watch.explanation = deadline.alert_after, deadline.explanation
        session.add(watch)
        moved += 1
        log.info(
            "household %s: readings resumed after %s without any; quiet clock held for it",
            household.code,
            timedelta(seconds=round(gap)),
        )
    if moved:
        session.flush()  # before the batch's raw watch UPDATEs, which the ORM would not see
    return moved
