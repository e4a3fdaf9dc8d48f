"""Household-local time, and the resident's latest sign of life: small pure helpers every
package shares (stored times are aware UTC; a household's zone is only for display and
local-time rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.enums import Language


def household_zone(timezone: str) -> ZoneInfo:
    """The household's zone; an unknown zone is taken as UTC rather than failing a step."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_local(at: datetime, timezone: str, language: Language | None = None) -> str:
    """Pure: ``at`` on the household's wall clock (DST-safe: converted from aware UTC).

    Without a language, the compact ``MM-DD HH:MM`` of staff-facing explanations; with one, the
    words a family member reads or hears, e.g. ``11월 22일 08:05`` / ``Nov 22, 08:05``.
    """
    local = at.astimezone(household_zone(timezone))
    if language is None:
        return local.strftime("%m-%d %H:%M")
    if language == Language.KO:
        return f"{local.month}월 {local.day}일 {local:%H:%M}"
    return f"{local:%b} {local.day}, {local:%H:%M}"


@dataclass(frozen=True)
class SignOfLife:
    """The latest evidence that the resident is active."""

    at: datetime
    source: str  # "appliance" or "checkin"
    appliance: str | None = None


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
