"""Pure deadline maths: when does a quiet household become overdue, and why.

First cut (issue #2): a per-household quiet window (``Household.quiet_hours``, default
``ANBU_INACTIVITY_DEFAULT_HOURS``) after the last sign of life. The routine model of
issue #4 replaces :func:`quiet_allowance` and keeps this module's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.enums import Language
from core.i18n import Catalogue

MESSAGES = Catalogue(Path(__file__).with_name("messages"))


@dataclass(frozen=True)
class SignOfLife:
    """The latest evidence that the resident is active."""

    at: datetime
    source: str  # "appliance" or "checkin"
    appliance: str | None = None


@dataclass(frozen=True)
class Deadline:
    alert_after: datetime
    explanation: str


def latest_sign_of_life(
    last_activity_at: datetime | None, last_checkin_at: datetime | None, appliance: str | None
) -> SignOfLife | None:
    """The later of appliance activity and an explicit check-in (a call answered "I'm fine")."""
    if last_activity_at is None and last_checkin_at is None:
        return None
    if last_checkin_at is not None and (last_activity_at is None or last_checkin_at > last_activity_at):
        return SignOfLife(at=last_checkin_at, source="checkin")
    assert last_activity_at is not None
    return SignOfLife(at=last_activity_at, source="appliance", appliance=appliance)


def quiet_allowance(quiet_hours: float) -> timedelta:
    return timedelta(hours=quiet_hours)


def compute_deadline(
    sign: SignOfLife, *, quiet_hours: float, timezone: str, language: Language = Language.KO
) -> Deadline:
    alert_after = sign.at + quiet_allowance(quiet_hours)
    return Deadline(alert_after=alert_after, explanation=explain(sign, quiet_hours, timezone, language))


def explain(sign: SignOfLife, quiet_hours: float, timezone: str, language: Language = Language.KO) -> str:
    since_local = format_local(sign.at, timezone)
    hours = f"{quiet_hours:g}"
    if sign.source == "checkin":
        return MESSAGES.text("explain.inactive_checkin", language, since_local=since_local, quiet_hours=hours)
    return MESSAGES.text(
        "explain.inactive",
        language,
        since_local=since_local,
        appliance=appliance_name(sign.appliance, language),
        quiet_hours=hours,
    )


def appliance_name(label: str | None, language: Language = Language.KO) -> str:
    key = f"appliance.{label}" if label else "appliance.unknown"
    if key not in MESSAGES.keys(language):
        return label or MESSAGES.text("appliance.unknown", language)
    return MESSAGES.text(key, language)


def format_local(at: datetime, timezone: str) -> str:
    """``MM-DD HH:MM`` in the household's zone (DST-safe: conversion from aware UTC)."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")
