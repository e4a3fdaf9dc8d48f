"""The severity ladder and routine deadlines: pure, in local time, across DST and time zones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.deadlines import SignOfLife, compute_deadline
from anomaly.ladder import ESCALATING, LadderParams, ladder, morning_check
from anomaly.routine import HOURS_PER_WEEK, Routine
from core.enums import Language, Severity


def routine(zone: str = "Asia/Seoul", *, day_p: float = 0.8, gap_h: float = 3.0) -> Routine:
    """Awake 07–22 local (p=day_p), asleep otherwise; usual gap 3 h by day, 10 h after 21:00."""
    p_active = [day_p if 7 <= h % 24 < 22 else 0.02 for h in range(HOURS_PER_WEEK)]
    gaps = [10.0 if h % 24 >= 21 else gap_h for h in range(HOURS_PER_WEEK)]
    return Routine(
        timezone=zone,
        fitted_at=0,
        days_used=28,
        days_excluded=[],
        p_active=p_active,
        quiet_gap_h=gaps,
        first_activity_min=8 * 60 + 30,
        first_activity_channel="kettle",
    )


def ts(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp())


def test_stages_are_ordered_and_only_alert_and_critical_escalate() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 10, 0)
    stages = ladder(last, routine())
    assert last < stages.watch <= stages.warning <= stages.alert < stages.critical
    assert stages.stage_at(last) is None
    assert stages.stage_at(stages.warning) is Severity.WARNING
    assert stages.stage_at(stages.alert) is Severity.ALERT
    assert {Severity.ALERT, Severity.CRITICAL} == ESCALATING


def test_daytime_quiet_alerts_soon_after_the_usual_gap() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 10, 0)
    stages = ladder(last, routine(), LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0))
    # usual gap 3 h + 1 h grace, and one usual-activity hour missed (0.8/h): 4 h after 10:00.
    assert (stages.alert - last) / 3600 == 4.0


def test_night_does_not_count_as_missed_activity() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 21, 30)
    stages = ladder(last, routine(), LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0))
    alert_local = datetime.fromtimestamp(stages.alert, ZoneInfo("Asia/Seoul"))
    # 10 h usual gap + 1 h grace = 08:30; by then 07:00-08:30 (1.2 expected active hours) was missed.
    assert alert_local.hour == 8 and alert_local.minute == 30


def test_alert_is_never_later_than_the_cap() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 10, 0)
    quiet = routine(day_p=0.01)  # almost never active: the mass never accumulates
    stages = ladder(last, quiet, LadderParams(max_hours=24.0))
    assert stages.alert - last == 24 * 3600


SIMPLE = LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0)


def test_same_local_routine_in_two_zones_gives_the_same_local_alert_time() -> None:
    for zone in ("Asia/Seoul", "America/New_York"):
        last = ts(zone, 2026, 6, 1, 21, 30)
        alert = datetime.fromtimestamp(ladder(last, routine(zone), SIMPLE).alert, ZoneInfo(zone))
        assert (alert.hour, alert.minute) == (8, 30), zone


def test_dst_night_is_an_hour_shorter_in_utc_but_the_morning_is_the_same_local_time() -> None:
    zone = "Europe/London"
    before = ts(zone, 2026, 3, 28, 21, 30)  # the clocks go forward at 01:00 on 29 March
    night_dst = ladder(before, routine(zone), SIMPLE)
    normal = ladder(ts(zone, 2026, 3, 21, 21, 30), routine(zone), SIMPLE)
    assert (night_dst.alert - before) - (normal.alert - ts(zone, 2026, 3, 21, 21, 30)) == 0
    # both 11 h after the last activity (usual gap 10 h + grace), which the zone maps to local times:
    local = datetime.fromtimestamp(night_dst.alert, ZoneInfo(zone))
    assert (local.hour, local.minute) == (9, 30)


def test_compute_deadline_uses_the_routine_and_explains_it() -> None:
    last = datetime(2026, 3, 2, 12, 10, tzinfo=UTC)  # 21:10 in Seoul
    sign = SignOfLife(last, "appliance", "tv")
    d = compute_deadline(sign, quiet_hours=12, timezone="Asia/Seoul", language=Language.EN, routine=routine())
    assert d.alert_after == datetime.fromtimestamp(ladder(int(last.timestamp()), routine()).alert, UTC)
    assert d.explanation == (
        "usually uses the kettle by 08:30; nothing since 03-02 21:10 (last: TV); "
        "quietest usual gap at this hour: 10 h."
    )
    ko = compute_deadline(sign, quiet_hours=12, timezone="Asia/Seoul", routine=routine())
    assert "전기포트" in ko.explanation and "21:10" in ko.explanation


def test_without_routine_the_first_cut_fixed_window_remains() -> None:
    last = datetime(2026, 3, 2, 12, 10, tzinfo=UTC)
    d = compute_deadline(SignOfLife(last, "appliance", "tv"), quiet_hours=12, timezone="Asia/Seoul")
    assert (d.alert_after - last).total_seconds() == 12 * 3600


def morning_routine(zone: str = "Asia/Seoul") -> Routine:
    """Like ``routine()``, but the night after 21:00 has sometimes lasted 13 h, and every usual
    day had started by 08:00."""
    r = routine(zone)
    r.quiet_gap_h = [13.0 if h % 24 >= 21 else 3.0 for h in range(HOURS_PER_WEEK)]
    r.first_activity_latest_min = 8 * 60
    return r


def local_hm(at: int, zone: str) -> tuple[int, int]:
    local = datetime.fromtimestamp(at, ZoneInfo(zone))
    return local.hour, local.minute


def test_morning_check_warns_staff_before_the_gap_rule_but_does_not_escalate() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 21, 30)
    staff_only = LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0, morning_alert_h=None)
    with_check = ladder(last, morning_routine(), staff_only)
    without = ladder(last, morning_routine(), replace(staff_only, morning_warning_h=None))
    # the day had not started by 08:00 + 1 h: warning at 09:00, not at the gap rule's 10:30
    assert local_hm(with_check.warning, "Asia/Seoul") == (9, 0)
    assert local_hm(without.warning, "Asia/Seoul") == (10, 30)
    assert with_check.alert == without.alert  # the warning alone never moves the alert
    assert with_check.watch <= with_check.warning


def test_morning_check_can_bring_the_alert_forward_when_enabled() -> None:
    last = ts("Asia/Seoul", 2026, 3, 2, 21, 30)
    params = LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0, morning_alert_h=2.0)
    stages = ladder(last, morning_routine(), params)
    assert local_hm(stages.alert, "Asia/Seoul") == (10, 0)
    # ... but never sooner than min_hours after the last activity
    early = ts("Asia/Seoul", 2026, 3, 3, 6, 0)  # after 04:00: that day has started, check the next
    assert morning_check(early, morning_routine(), 2.0) == ts("Asia/Seoul", 2026, 3, 4, 10, 0)
    night = ts("Asia/Seoul", 2026, 3, 3, 2, 0)  # a 02:00 activity is still the night before
    assert morning_check(night, morning_routine(), 2.0) == ts("Asia/Seoul", 2026, 3, 3, 10, 0)
    tight = LadderParams(gap_margin=1.0, grace_hours=1.0, alert_mass=1.0, morning_alert_h=0.0, min_hours=9.0)
    assert ladder(night, morning_routine(), tight).alert >= night + 9 * 3600


def test_morning_check_is_local_wall_time_across_dst_and_off_without_a_learned_morning() -> None:
    zone = "Europe/London"
    before = ts(zone, 2026, 3, 28, 21, 30)  # the clocks go forward at 01:00 on 29 March
    due = morning_check(before, morning_routine(zone), 1.0)
    assert due is not None and local_hm(due, zone) == (9, 0)
    assert due - before == 10.5 * 3600
    assert morning_check(before, routine(zone), 1.0) is None  # no first_activity_latest_min
    assert morning_check(before, morning_routine(zone), 17.0) is None  # past the day's end


def working_routine(zone: str = "Asia/Seoul") -> Routine:
    """Like ``routine()``, but out all day: the usual quiet after morning activity is 11 h."""
    r = routine(zone)
    r.quiet_gap_h = [11.0 if 7 <= h % 24 < 10 else g for h, g in enumerate(r.quiet_gap_h)]
    return r


def test_default_alert_allowance_is_mostly_additive_not_a_multiple_of_a_long_gap() -> None:
    # The chosen defaults (docs/detection.md, section 5): 1.1 × usual gap + 6 h. After an 08:00
    # activity with an 11 h usual day out that is 18.1 h; the previous 1.5 × gap + 2 h rule
    # waited 18.5 h, and any multiple of the long gap grows with it.
    last = ts("Asia/Seoul", 2026, 3, 2, 8, 0)
    stages = ladder(last, working_routine())
    assert stages.usual_gap_h == 11.0
    # the first 10-min step after 1.1 × 11 h + 6 h = 18.1 h (usual activity was missed long before)
    assert stages.alert - last == 109 * 600
    short = ladder(last, routine())  # a 3 h usual gap: 1.1 × 3 h + 6 h = 9.3 h, the grace dominates
    assert short.alert - last == 56 * 600


def test_default_morning_check_is_the_same_local_time_on_both_dst_nights() -> None:
    # Defaults: the morning check alerts at the latest usual first activity (08:00) + 1.5 h,
    # long before the gap rule (13 h usual night × 1.1 + 6 h). London's clocks go forward on
    # 29 March and back on 25 October 2026: the same 09:30 is 1 h closer / further in UTC.
    zone = "Europe/London"
    hours = {}
    for day in ((3, 21), (3, 28), (10, 24)):
        last = ts(zone, 2026, *day, 21, 30)
        alert = ladder(last, morning_routine(zone)).alert
        assert local_hm(alert, zone) == (9, 30), day
        hours[day] = (alert - last) / 3600
    assert hours == {(3, 21): 12.0, (3, 28): 11.0, (10, 24): 13.0}


def test_compute_deadline_with_default_ladder_matches_the_ladder_across_dst() -> None:
    zone = "Europe/London"
    last = datetime.fromtimestamp(ts(zone, 2026, 3, 28, 21, 30), UTC)
    d = compute_deadline(
        SignOfLife(last, "appliance", "kettle"),
        quiet_hours=12,
        timezone=zone,
        language=Language.EN,
        routine=morning_routine(zone),
    )
    assert local_hm(int(d.alert_after.timestamp()), zone) == (9, 30)
    assert d.critical_after is not None and d.critical_after - d.alert_after == timedelta(hours=6)
    assert "nothing since 03-28 21:30" in d.explanation


def test_morning_alert_is_flagged_and_explained_but_a_daytime_alert_is_not() -> None:
    zone = "Asia/Seoul"
    night = ts(zone, 2026, 3, 2, 21, 30)
    stages = ladder(night, morning_routine(zone))
    assert stages.morning_alert and local_hm(stages.alert, zone) == (9, 30)
    sign = SignOfLife(datetime.fromtimestamp(night, UTC), "appliance", "tv")
    d = compute_deadline(
        sign, quiet_hours=12, timezone=zone, language=Language.EN, routine=morning_routine(zone)
    )
    assert d.explanation == (
        "usually uses the kettle by 08:30; every usual day had started by 08:00; "
        "nothing since 03-02 21:30 (last: TV); quietest usual gap at this hour: 13 h."
    )
    ko = compute_deadline(sign, quiet_hours=12, timezone=zone, routine=morning_routine(zone))
    assert "늦어도 08:00까지" in ko.explanation
    # After a morning activity the next day's check is later than the gap rule: not a morning alert.
    day = ts(zone, 2026, 3, 3, 10, 0)
    assert not ladder(day, morning_routine(zone)).morning_alert
    day_sign = SignOfLife(datetime.fromtimestamp(day, UTC), "appliance", "tv")
    explained = compute_deadline(
        day_sign, quiet_hours=12, timezone=zone, language=Language.EN, routine=morning_routine(zone)
    ).explanation
    assert "every usual day" not in explained
