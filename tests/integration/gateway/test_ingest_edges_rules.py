"""Live edges follow replay's switch-on rule: plug programmes, and whole-house meters minus sub-meters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import EdgeKind
from core.models import ActivityEdge, Device, Watch
from core.settings import Settings
from gateway.ingest import InboundMessage, ingest_batch
from tests.factories import make_device, make_household

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)


def reading(device: str, ts: datetime, power_w: float, received: datetime) -> InboundMessage:
    body = {"v": 1, "ts": ts.isoformat(), "power_w": power_w}
    return InboundMessage(f"anbu/{device}/reading", json.dumps(body).encode(), received)


def run(engine: Engine, messages: list[InboundMessage], now: datetime) -> None:
    with session_scope(engine) as s:
        ingest_batch(s, messages, now=now, settings=SETTINGS)


def edges(engine: Engine) -> list[tuple[str, EdgeKind, datetime, float]]:
    with Session(engine) as s:
        rows = s.exec(
            select(ActivityEdge, Device)
            .join(Device, col(Device.id) == ActivityEdge.device_id)
            .order_by(col(ActivityEdge.ts), col(ActivityEdge.id))
        ).all()
        return [(d.external_id, e.kind, e.ts, e.power_w) for e, d in rows]


def house(engine: Engine) -> int:
    """A whole-house meter and a metered kettle in one household."""
    with session_scope(engine) as s:
        h = make_household(s)
        make_device(s, household=h, external_id="mains", appliance="aggregate")
        make_device(s, household=h, external_id="kettle", appliance="kettle", on_threshold_w=20.0)
        assert h.id is not None
        return h.id


def test_a_plug_back_on_soon_after_it_stopped_is_the_same_programme(
    engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        make_device(s, household=make_household(s), external_id="dw", appliance="dishwasher")
    t0 = clock.now()
    at = [t0 + timedelta(minutes=m) for m in (0, 1, 20, 21, 70, 101)]
    powers = [
        0.0,
        1900.0,
        2.0,
        1800.0,
        1.0,
        2000.0,
    ]  # heat, pause 19 min, heat again; 31 min after it stopped: a new run
    for t, w in zip(at, powers, strict=True):  # one batch each: the state is carried between them
        run(engine, [reading("dw", t, w, t)], t)
    assert edges(engine) == [
        ("dw", EdgeKind.ON, at[1], 1900.0),
        ("dw", EdgeKind.OFF, at[2], 2.0),
        ("dw", EdgeKind.OFF, at[4], 1.0),
        ("dw", EdgeKind.ON, at[5], 2000.0),
    ]


def test_an_unmetered_rise_on_the_whole_house_meter_is_a_sign_of_life(
    engine: Engine, clock: ManualClock
) -> None:
    hid = house(engine)
    t0 = clock.now()
    t1 = t0 + timedelta(minutes=1)
    run(engine, [reading("mains", t0, 300.0, t0), reading("kettle", t0, 0.0, t0)], t0)
    run(engine, [reading("mains", t1, 1300.0, t1)], t1)  # +1 kW that no sub-meter explains
    assert edges(engine) == [("mains", EdgeKind.ON, t1, 1000.0)]  # the step's size, as replay learns it
    with Session(engine) as s:
        watch = s.get(Watch, hid)
    assert watch is not None and watch.last_activity_at == t1


def test_a_sub_metered_switch_on_is_not_a_second_step_on_the_whole_house(
    engine: Engine, clock: ManualClock
) -> None:
    house(engine)
    t0 = clock.now()
    t1, t2 = t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)
    run(engine, [reading("mains", t0, 300.0, t0), reading("kettle", t0, 0.0, t0)], t0)
    # Same minute, whole house first in arrival order: the plug is still taken first.
    run(engine, [reading("mains", t1, 2300.0, t1), reading("kettle", t1, 2000.0, t1)], t1)
    # A later batch: the kettle's stored reading (30 s old) is subtracted.
    run(engine, [reading("mains", t1 + timedelta(seconds=30), 2310.0, t2)], t2)
    assert edges(engine) == [("kettle", EdgeKind.ON, t1, 2000.0)]


def test_a_sub_meter_reading_older_than_the_gap_is_not_subtracted(engine: Engine, clock: ManualClock) -> None:
    house(engine)
    t0 = clock.now()
    run(engine, [reading("kettle", t0, 2000.0, t0)], t0)
    later = [t0 + timedelta(minutes=m) for m in (4, 6)]
    run(engine, [reading("mains", later[0], 2300.0, later[0])], later[0])  # kettle 4 min old: 2300 - 2000
    # kettle 6 min old: unknown, not "still 2 kW": the full 2.3 kW is a step of 2 kW
    run(engine, [reading("mains", later[1], 2300.0, later[1])], later[1])
    got = edges(engine)
    assert [(d, k) for d, k, _t, _w in got] == [("kettle", EdgeKind.ON), ("mains", EdgeKind.ON)]
    assert got[1][2:] == (later[1], 2000.0)
