"""No data is not inactivity: live, the quiet clock stands still while a household sends nothing.

The gateway adds a gap of more than 2 h (no reading from any of the household's devices) to the
watch when readings resume; the sweeper holds a deadline that falls inside such a silence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly import sweeper
from anomaly.deadlines import explain_data_gap
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, Language
from core.models import Case, Watch
from core.settings import Settings
from gateway.data_gaps import add_gaps
from gateway.ingest import InboundMessage, ingest_batch
from tests.factories import load, make_device, make_household

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)
H = timedelta(hours=1)


def send(engine: Engine, device: str, at: datetime, power_w: float) -> None:
    body = {"v": 1, "ts": at.isoformat(), "power_w": power_w}
    with session_scope(engine) as s:
        ingest_batch(
            s,
            [InboundMessage(f"anbu/{device}/reading", json.dumps(body).encode(), at)],
            now=at,
            settings=SETTINGS,
        )


def setup(engine: Engine, devices: tuple[str, ...] = ("kettle",)) -> int:
    """A household on the fixed 6 h rule (no routine yet)."""
    with session_scope(engine) as s:
        h = make_household(s, quiet_hours=6)
        for name in devices:
            make_device(s, household=h, external_id=name, appliance=name, on_threshold_w=20.0)
        assert h.id is not None
        return h.id


def reports(engine: Engine, device: str, start: datetime, end: datetime, power_w: float = 0.0) -> None:
    """A plug's periodic reports (every 30 min) from ``start`` until before ``end``."""
    at = start
    while at < end:
        send(engine, device, at, power_w)
        at += timedelta(minutes=30)


def sweep(engine: Engine, at: datetime) -> sweeper.SweepResult:
    return sweeper.tick(engine, ManualClock(at), SETTINGS)


def cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(Case.kind == CaseKind.INACTIVITY)).all())


def test_the_quiet_clock_stands_still_while_no_device_reports(engine: Engine, clock: ManualClock) -> None:
    hid = setup(engine)
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)  # the last sign of life: due at t0 + 6 h
    reports(engine, "kettle", t0 + timedelta(minutes=10), t0 + timedelta(minutes=41))  # 00:10, 00:40; silence
    assert load(engine, Watch, hid).alert_after == t0 + 6 * H

    held = sweep(engine, t0 + 6 * H)  # due, but nothing has reported since t0 + 40 min
    assert (held.held_data_gap, held.opened, cases(engine)) == (1, 0, [])

    last = t0 + timedelta(minutes=40)
    resumed = t0 + 9 * H
    send(engine, "kettle", resumed, 0.0)  # back, still unused: 8 h 20 min of no data
    w = load(engine, Watch, hid)
    assert w.data_gap_after == t0 and w.data_gap_s == (resumed - last).total_seconds()
    assert w.alert_after == t0 + 6 * H + (resumed - last)  # the fixed window counts without the gap
    assert w.last_activity_at == t0  # ... and the explanation still names the real last use,
    assert explain_data_gap(w.data_gap_s, Language.KO) in w.explanation  # saying what was not counted

    reports(engine, "kettle", resumed + timedelta(minutes=30), t0 + 15 * H)
    assert sweep(engine, w.alert_after - timedelta(minutes=1)).opened == 0
    assert sweep(engine, w.alert_after).opened == 1


def test_a_second_gap_adds_up_and_a_new_sign_of_life_starts_afresh(
    engine: Engine, clock: ManualClock
) -> None:
    hid = setup(engine)
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)
    send(engine, "kettle", t0 + 3 * H, 0.0)  # 3 h of silence
    send(engine, "kettle", t0 + 7 * H, 0.0)  # and 4 h more
    w = load(engine, Watch, hid)
    assert w.data_gap_s == 7 * 3600 and w.alert_after == t0 + 13 * H
    send(engine, "kettle", t0 + 8 * H, 1500.0)  # the resident: the earlier gaps no longer matter
    w = load(engine, Watch, hid)
    assert w.alert_after == t0 + 14 * H
    assert explain_data_gap(7 * 3600, Language.KO) not in w.explanation


def test_short_silences_and_one_device_still_reporting_are_not_gaps(
    engine: Engine, clock: ManualClock
) -> None:
    hid = setup(engine, ("kettle", "tv"))
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)
    send(engine, "kettle", t0 + 2 * H, 0.0)  # exactly 2 h: not more than the limit
    reports(engine, "tv", t0 + 2 * H, t0 + 7 * H)  # the TV plug keeps reporting (idle) ...
    send(engine, "kettle", t0 + 7 * H, 0.0)  # ... so the kettle's own 5 h silence is no data gap
    w = load(engine, Watch, hid)
    assert (w.data_gap_s, w.alert_after) == (0.0, t0 + 6 * H)
    assert sweep(engine, t0 + 7 * H).opened == 1  # the deadline was not held either


def test_a_gap_seen_by_two_gateways_is_counted_once(engine: Engine, clock: ManualClock) -> None:
    """After a power cut every plug comes back at once; a second gateway that saw the same gap
    (its view of the household's last reading taken before the first one committed) adds nothing."""
    hid = setup(engine, ("kettle", "tv"))
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)
    send(engine, "kettle", t0 + 5 * H, 0.0)  # the first gateway: a 5 h gap
    first = load(engine, Watch, hid)
    assert first.data_gap_s == 5 * 3600
    with session_scope(engine) as s:  # the second gateway, with its stale view of the gap
        assert add_gaps(s, {hid: (t0, t0 + 5 * H + timedelta(seconds=2))}, SETTINGS) == 0
    again = load(engine, Watch, hid)
    assert (again.data_gap_s, again.alert_after) == (first.data_gap_s, first.alert_after)


def test_a_gap_after_an_away_period_counts_from_its_end(engine: Engine, clock: ManualClock) -> None:
    """Back from an away period with no activity yet, the clock counts from the period's end; a
    data gap after it is held like any other."""
    from core.enums import MonitoringState, WatchStatus
    from core.models import Household

    hid = setup(engine)
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)
    ended = t0 + 48 * H
    with session_scope(engine) as s:  # an away period that ended; monitoring resumed
        household = s.get_one(Household, hid)
        household.monitoring, household.paused_until = MonitoringState.ACTIVE, ended
        w = s.get_one(Watch, hid)
        w.status = WatchStatus.UP
        s.add_all([household, w])
    send(engine, "kettle", ended + H, 0.0)  # plugs report after the return ...
    send(engine, "kettle", ended + 5 * H, 0.0)  # ... then 4 h of nothing, then again
    w = load(engine, Watch, hid)
    assert (w.data_gap_after, w.data_gap_s) == (ended, 4 * 3600)
    assert w.alert_after == ended + 6 * H + 4 * H  # from the end of the away period, gap held


def test_a_plug_whose_clock_fell_back_still_reports_so_the_alarm_is_not_held(
    engine: Engine, clock: ManualClock
) -> None:
    """Issue 14.2: silence is judged by when Anbu heard the plugs, not by the times they put on
    their readings. The kettle plug's clock falls back a day 30 minutes after the last use; it
    keeps reporting every 5 minutes, so the 6 h deadline is an alarm, on time."""
    hid = setup(engine)
    t0 = clock.now()
    send(engine, "kettle", t0, 2000.0)
    at = t0 + timedelta(minutes=5)
    while at <= t0 + 6 * H:
        device_ts = at if at < t0 + timedelta(minutes=30) else at - timedelta(days=1)
        body = {"v": 1, "ts": device_ts.isoformat(), "power_w": 0.0}
        with session_scope(engine) as s:
            message = InboundMessage("anbu/kettle/reading", json.dumps(body).encode(), at)
            ingest_batch(s, [message], now=at, settings=SETTINGS)
        at += timedelta(minutes=5)
    result = sweep(engine, t0 + 6 * H)
    assert (result.held_data_gap, result.opened) == (0, 1)
    assert [c.household_id for c in cases(engine)] == [hid]
