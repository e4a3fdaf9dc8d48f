"""The notifier's worker ticks as tests drive them by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from core.clock import Clock, ManualClock
from core.settings import Settings
from notifier import checkins, escalation, followup


def run_notifier_ticks(engine: Engine, clock: Clock, settings: Settings) -> int:
    """One round of the worker's escalation, follow-up and check-in ticks, in that order (they
    were one tick before they were split): steps run + cases followed up + check-ins placed."""
    return (
        escalation.tick(engine, clock, settings)
        + followup.tick(engine, clock, settings)
        + checkins.tick(engine, clock, settings)
    )


def checkins_at(engine: Engine, now: datetime) -> int:
    """The check-in tick at ``now``; returns how many calls it placed."""
    return checkins.tick(engine, ManualClock(now), Settings(_env_file=None))
