"""Data gaps stop the quiet clock: when a household's readings resume after > 2 h of none.

No data is not inactivity (the real-household set's rule, and ``anbu replay``'s): while none of
a household's devices reports, the sweeper holds an inactivity case that falls due
(``anomaly.sweeper``), and when readings resume the gap is added to the watch by
``anomaly.watch.count_data_gap`` (``Watch.data_gap_s`` since the sign of life ``data_gap_after``), so the deadline is the one
replay computes from its shifted anchor. Staff hear of the silence itself from the
``device_offline`` case (``gateway/connectivity.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from anomaly.watch import DATA_GAP, count_data_gap, last_readings
from core.settings import Settings


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
    """Add each gap to its household's watch and re-arm it (``anomaly.watch.count_data_gap``, which
    claims it, so two gateways seeing the same gap count it once); return how many watches moved."""
    moved = sum(
        count_data_gap(session, household_id, last, resumed, settings) is not None
        for household_id, (last, resumed) in sorted(gaps.items())
    )
    if moved:
        session.flush()  # before the batch's raw watch UPDATEs, which the ORM would not see
    return moved
