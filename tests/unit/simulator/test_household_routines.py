from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from simulator.appliances import APPLIANCE_LABELS_KO, PROFILES
from simulator.households import (
    EMERGENCY_REPLY_KO,
    DeviceSpec,
    HouseholdSpec,
    RoutineSlot,
    activity_events,
    demo_district,
    phone_behaviours,
    power_at,
    uses_on_day,
    with_habit_at,
)
from simulator.twilio_resources import is_e164

SEOUL = ZoneInfo("Asia/Seoul")
LONDON = ZoneInfo("Europe/London")
KETTLE = DeviceSpec("tasmota_KETTLE", "tasmota", "kettle")
TV = DeviceSpec("anbu-plug-tv", "native", "tv")
RICE = DeviceSpec("tasmota_RICE", "tasmota", "rice_cooker")


def household(timezone: str = "Asia/Seoul", *, routine=None, stop_at=None, seed=1) -> HouseholdSpec:
    return HouseholdSpec(
        code="TEST-001",
        resident_name="테스트",
        resident_phone="+821000000001",
        devices=(KETTLE, TV, RICE),
        routine=routine
        or (
            RoutineSlot(KETTLE.external_id, time(7, 0), time(8, 30)),
            RoutineSlot(TV.external_id, time(19, 0), time(19, 30)),
            RoutineSlot(RICE.external_id, time(11, 30), time(11, 45)),
        ),
        timezone=timezone,
        seed=seed,
        stop_at=stop_at,
    )


def switch_ons(events, device_id: str, threshold: float = 8.0) -> list[datetime]:
    """Times the device went above threshold (the gateway's notion of an activity edge)."""
    ons, was_on = [], False
    for dev, ts, watts in events:
        if dev != device_id:
            continue
        if watts > threshold and not was_on:
            ons.append(ts)
        was_on = watts > threshold
    return ons


def test_kettle_is_used_every_morning_in_local_time():
    home = household()
    start = datetime(2026, 3, 1, tzinfo=SEOUL)
    events = list(activity_events(home, start, start + timedelta(days=14), report_interval_s=300))
    ons = switch_ons(events, KETTLE.external_id)
    assert len(ons) == 14
    for on in ons:
        local = on.astimezone(SEOUL)
        assert time(7, 0) <= local.time() <= time(8, 30), local
        # a kettle boils for 3-4 minutes at ~1800 W
        assert power_at(home, KETTLE, on) == 1800.0
        assert power_at(home, KETTLE, on + timedelta(seconds=179)) == 1800.0
        assert power_at(home, KETTLE, on + timedelta(seconds=241)) == 0.0
    assert power_at(home, KETTLE, datetime(2026, 3, 2, 3, 0, tzinfo=SEOUL)) == 0.0  # 3 a.m.: off


def test_events_are_ordered_on_the_report_grid_plus_change_points():
    home = household()
    start = datetime(2026, 3, 2, 6, 0, tzinfo=SEOUL)
    events = list(activity_events(home, start, start + timedelta(hours=6), report_interval_s=600))
    times = [ts for _d, ts, _w in events]
    assert times == sorted(times)
    for device in home.devices:
        mine = [ts for d, ts, _w in events if d == device.external_id]
        grid = [ts for ts in mine if ts.timestamp() % 600 == 0]
        assert len(grid) == 36  # 6 h / 10 min, for every plug
        assert len(set(mine)) == len(mine)
        assert all(start <= ts < start + timedelta(hours=6) for ts in mine)
    assert all(ts.tzinfo is not None and ts.utcoffset() == timedelta(0) for ts in times)


def test_rice_cooker_cooks_then_keeps_warm():
    home = household()
    (use,) = [u for u in uses_on_day(home, date(2026, 3, 2)) if u.device == RICE.external_id]
    assert power_at(home, RICE, use.start + timedelta(minutes=10)) == 700.0
    assert power_at(home, RICE, use.start + timedelta(minutes=45)) == 40.0
    assert power_at(home, RICE, use.end) == 1.5  # standby after
    events = list(activity_events(home, use.start - timedelta(minutes=1), use.end + timedelta(minutes=1)))
    steps = [(ts, w) for d, ts, w in events if d == RICE.external_id and ts.timestamp() % 300 != 0]
    assert steps == [(use.start, 700.0), (use.start + timedelta(minutes=30), 40.0), (use.end, 1.5)]


def test_evening_tv_runs_past_midnight():
    late = (RoutineSlot(TV.external_id, time(23, 30), time(23, 40), duration_s=(7200, 7200)),)
    home = household(routine=late)
    assert power_at(home, TV, datetime(2026, 3, 3, 0, 30, tzinfo=SEOUL)) == 90.0
    assert power_at(home, TV, datetime(2026, 3, 3, 2, 0, tzinfo=SEOUL)) == 1.0


def test_window_crossing_midnight():
    home = household(routine=(RoutineSlot(KETTLE.external_id, time(23, 50), time(0, 10)),))
    (use,) = uses_on_day(home, date(2026, 3, 2))
    local = use.start.astimezone(SEOUL)
    assert (local.date(), local.time()) >= (date(2026, 3, 2), time(23, 50))
    assert (local.date(), local.time()) <= (date(2026, 3, 3), time(0, 10))


def test_stopper_has_no_activity_after_stop():
    stop = datetime(2026, 3, 4, 7, 50, tzinfo=SEOUL)
    home = household(stop_at=stop)
    start = datetime(2026, 3, 1, tzinfo=SEOUL)
    events = list(activity_events(home, start, start + timedelta(days=7), report_interval_s=300))
    before = [e for e in events if e[1] < stop]
    after = [e for e in events if e[1] >= stop]
    assert any(w > 8 for _d, _t, w in before)
    assert after and all(w == PROFILES[home.device(d).appliance].standby_w for d, _t, w in after)
    # without the stop, the same household is active afterwards: the stop is what silenced it
    free = list(activity_events(household(), stop, start + timedelta(days=7)))
    assert any(w > 8 for _d, _t, w in free)


def test_use_in_progress_at_stop_time_ends_there():
    home = household()
    (kettle,) = [u for u in uses_on_day(home, date(2026, 3, 2)) if u.device == KETTLE.external_id]
    stop = kettle.start + timedelta(seconds=60)
    stopped = home.stopping_at(stop)
    assert power_at(stopped, KETTLE, stop - timedelta(seconds=1)) == 1800.0
    assert power_at(stopped, KETTLE, stop) == 0.0


@pytest.mark.parametrize(
    "day", [date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25)]
)
def test_routine_stays_in_local_time_across_dst(day: date):
    home = household("Europe/London")
    (kettle,) = [u for u in uses_on_day(home, day) if u.device == KETTLE.external_id]
    local = kettle.start.astimezone(LONDON)
    assert local.date() == day and time(7, 0) <= local.time() <= time(8, 30)
    summer = date(2026, 3, 29) <= day < date(2026, 10, 25)
    assert local.utcoffset() == timedelta(hours=1 if summer else 0)


def test_dst_transition_days_produce_clean_event_streams():
    for start in (datetime(2026, 3, 28, tzinfo=LONDON), datetime(2026, 10, 24, tzinfo=LONDON)):
        events = list(activity_events(household("Europe/London"), start, start + timedelta(days=3)))
        for device in (KETTLE, TV, RICE):
            times = [ts for d, ts, _w in events if d == device.external_id]
            assert times == sorted(set(times))
            assert len(switch_ons(events, device.external_id)) == 3  # once a day, no day lost or doubled


def test_slot_inside_the_spring_forward_gap_does_not_break():
    gap = (RoutineSlot(KETTLE.external_id, time(1, 0), time(1, 59)),)  # 01:00-02:00 does not exist
    (use,) = uses_on_day(household("Europe/London", routine=gap), date(2026, 3, 29))
    assert datetime(2026, 3, 29, 0, 0, tzinfo=UTC) <= use.start <= datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


def test_routines_are_deterministic_per_seed():
    start = datetime(2026, 3, 1, tzinfo=SEOUL)
    end = start + timedelta(days=3)
    assert list(activity_events(household(seed=1), start, end)) == list(
        activity_events(household(seed=1), start, end)
    )
    assert list(activity_events(household(seed=1), start, end)) != list(
        activity_events(household(seed=2), start, end)
    )


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="unknown device"):
        household(routine=(RoutineSlot("nope", time(7), time(8)),))
    with pytest.raises(ValueError, match="aware"):
        household(stop_at=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="unknown appliance"):
        DeviceSpec("x", "tasmota", "toaster")
    with pytest.raises(ValueError, match="probability"):
        RoutineSlot("x", time(7), time(8), probability=1.5)
    with pytest.raises(ValueError, match="aware"):
        power_at(household(), KETTLE, datetime(2026, 3, 1, 7, 30))
    with pytest.raises(ValueError, match="positive"):
        list(
            activity_events(
                household(),
                datetime(2026, 3, 1, tzinfo=UTC),
                datetime(2026, 3, 2, tzinfo=UTC),
                report_interval_s=0,
            )
        )


def test_demo_district_is_complete_and_fake():
    district = demo_district()
    assert [h.code for h in district] == [f"GANGNAM-{i:03d}" for i in range(1, 9)]
    assert [h.is_stopper for h in district] == [True] + [False] * 7
    assert district[0].phone.replies[0].speech == EMERGENCY_REPLY_KO
    assert [h.language for h in district].count("en") == 1
    phones = [h.resident_phone for h in district] + [c.phone for h in district for c in h.contacts]
    assert len(set(phones)) == len(phones) and all(is_e164(p) and p.startswith("+82100000") for p in phones)
    ids = [d.external_id for h in district for d in h.devices]
    assert len(set(ids)) == len(ids)
    assert {d.vendor for h in district for d in h.devices} == {"tasmota", "native"}
    for h in district:
        assert 1 <= len(h.contacts) <= 2 and h.timezone == "Asia/Seoul"
        assert any(d.appliance == "kettle" for d in h.devices) and all(d.label for d in h.devices)
        assert h.phone.kind == "answer" and h.phone.replies
    assert phone_behaviours(district)[district[0].resident_phone] == district[0].phone
    assert demo_district() == district  # the same seed gives the same district
    assert demo_district(seed=8) != district


def test_demo_district_arguments():
    small = demo_district(households=3, stopper_index=2)
    assert [h.is_stopper for h in small] == [False, False, True]
    assert small[1].language == "en"  # the last is the stopper, so the one before speaks English
    with pytest.raises(ValueError):
        demo_district(households=0)
    with pytest.raises(ValueError):
        demo_district(households=3, stopper_index=3)


def test_every_appliance_has_a_korean_label():
    assert set(APPLIANCE_LABELS_KO) == set(PROFILES)


def test_a_resident_who_collapses_while_active_leaves_the_tv_on():
    """Issue 18: in bed (the default) everything is off from the collapse; while active, what a
    person leaves on (the TV) stays on, what ends by itself (the kettle) finishes, nothing starts."""
    home = household()
    (tv,) = [u for u in uses_on_day(home, date(2026, 3, 2)) if u.device == TV.external_id]
    stop = tv.start + timedelta(minutes=20)
    in_bed, active = home.stopping_at(stop), home.stopping_at(stop, "active")
    assert (in_bed.collapse, active.collapse) == ("in_bed", "active")
    later = stop + timedelta(hours=6)
    assert power_at(in_bed, TV, later) == PROFILES["tv"].standby_w
    assert power_at(active, TV, later) == 90.0  # still on, hours past its usual end
    assert power_at(active, TV, tv.start + timedelta(hours=23, minutes=59)) == 90.0  # for a day
    # Nothing starts after the collapse: the next morning's kettle never comes.
    next_day = [u for u in uses_on_day(active, date(2026, 3, 3)) if u.start >= stop]
    assert next_day == []


def test_a_use_that_ends_by_itself_finishes_after_an_active_collapse():
    home = household()
    (kettle,) = [u for u in uses_on_day(home, date(2026, 3, 2)) if u.device == KETTLE.external_id]
    active = home.stopping_at(kettle.start + timedelta(seconds=60), "active")
    (finished,) = [u for u in uses_on_day(active, date(2026, 3, 2)) if u.device == KETTLE.external_id]
    assert finished.end == kettle.end  # the kettle switches itself off, as it always does
    assert not PROFILES["kettle"].stays_on and PROFILES["tv"].stays_on


def test_the_demo_district_stopper_can_collapse_while_active():
    district = demo_district(collapse="active")
    assert [h.collapse for h in district] == ["active"] + ["in_bed"] * 7
    assert demo_district()[0].collapse == "in_bed"


def test_the_demo_district_has_a_second_stopper_who_collapses_while_active():
    """Issue 18: the demo shows both kinds of collapse; the active one has only a kettle and a TV,
    so nothing but the TV (no rice cooker keeping warm) is left on."""
    district = demo_district(active_index=1)
    assert [(h.is_stopper, h.collapse) for h in district[:3]] == [
        (True, "in_bed"),
        (True, "active"),
        (False, "in_bed"),
    ]
    assert sorted(d.appliance for d in district[1].devices) == ["kettle", "tv"]
    assert district[1].phone.replies[0].speech == EMERGENCY_REPLY_KO
    assert district[-1].language == "en" and district[1].language == "ko"
    assert demo_district(households=2, active_index=1)[1].language == "ko"  # no English stopper
    with pytest.raises(ValueError):
        demo_district(active_index=0)  # the in-bed stopper's
    with pytest.raises(ValueError):
        demo_district(households=2, active_index=2)


@pytest.mark.parametrize("hour", [0, 1, 2, 5, 12, 19, 23])
def test_a_habit_can_be_placed_so_that_one_use_starts_at_a_given_second(hour: int):
    """The demo places the TV habit by its clock: one use starts at exactly the second asked for
    (also just after midnight, where that use is the previous day's draw); every other day's use
    starts within the window around that time of day and lasts exactly the duration."""
    home = household()
    at = datetime(2026, 3, 10, hour, 7, 31, 999, tzinfo=SEOUL)
    moved, start = with_habit_at(
        home, TV.external_id, at, window=timedelta(hours=3), duration=timedelta(minutes=90)
    )
    assert start == at.replace(microsecond=0)
    assert [s for s in moved.routine if s.device != TV.external_id] == [
        s for s in home.routine if s.device != TV.external_id
    ]
    others = [
        u
        for day in range(1, 20)
        for u in uses_on_day(moved, date(2026, 3, 10) - timedelta(days=day))
        if u.device == TV.external_id
    ]
    assert len(others) == 19  # every day
    for use in others:
        assert use.end - use.start == timedelta(minutes=90)
        # within three hours of the same time of day
        apart = (use.start - start).total_seconds() % 86400
        assert min(apart, 86400 - apart) <= 3 * 3600
    with pytest.raises(KeyError):
        with_habit_at(home, "nope", at, window=timedelta(hours=1), duration=timedelta(hours=1))
