"""Deadline maths: pure, timezone- and DST-safe, explained in the household's own words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from anomaly.deadlines import (
    SignOfLife,
    appliance_name,
    compute_deadline,
    format_local,
    latest_sign_of_life,
)
from core.enums import Language

T0 = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)


def test_deadline_is_last_activity_plus_quiet_window() -> None:
    d = compute_deadline(SignOfLife(T0, "appliance", "kettle"), quiet_hours=12, timezone="Asia/Seoul")
    assert d.alert_after == T0 + timedelta(hours=12)


def test_explanation_names_appliance_and_local_time_in_korean_by_default() -> None:
    d = compute_deadline(SignOfLife(T0, "appliance", "kettle"), quiet_hours=12, timezone="Asia/Seoul")
    # 12:10 UTC is 21:10 in Seoul (UTC+9, no DST).
    assert "03-01 21:10" in d.explanation
    assert "전기포트" in d.explanation
    assert "12시간" in d.explanation


def test_explanation_in_english_on_request() -> None:
    d = compute_deadline(
        SignOfLife(T0, "appliance", "tv"), quiet_hours=6.5, timezone="Asia/Seoul", language=Language.EN
    )
    assert d.explanation.startswith("No appliance use since 03-01 21:10 (last: TV)")
    assert "6.5 h" in d.explanation


def test_unknown_appliance_label_is_shown_as_is() -> None:
    assert appliance_name("aquarium_pump") == "aquarium_pump"
    assert appliance_name(None, Language.EN) == "appliance"


def test_checkin_newer_than_activity_wins() -> None:
    sign = latest_sign_of_life(T0, T0 + timedelta(hours=1), "kettle")
    assert sign is not None and sign.source == "checkin" and sign.at == T0 + timedelta(hours=1)
    older_checkin = latest_sign_of_life(T0, T0 - timedelta(hours=1), "kettle")
    assert (
        older_checkin is not None
        and older_checkin.source == "appliance"
        and older_checkin.appliance == "kettle"
    )
    assert latest_sign_of_life(None, None, None) is None


def test_quiet_window_spans_dst_change_in_elapsed_time() -> None:
    # Europe/London springs forward on 2026-03-29 01:00 UTC. Twelve quiet hours are twelve
    # real hours; the local clock shows 13 h later.
    before = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # 20:00 GMT
    d = compute_deadline(SignOfLife(before, "appliance", "kettle"), quiet_hours=12, timezone="Europe/London")
    assert d.alert_after == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert format_local(d.alert_after, "Europe/London") == "03-29 09:00"
    assert "03-28 20:00" in d.explanation
