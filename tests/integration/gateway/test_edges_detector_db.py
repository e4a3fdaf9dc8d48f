"""gateway/edges.py's detect_edges on its own: what it hands the house level, which households
switched a plug, what an unassigned device leaves behind, and the stored detector states.

test_ingest_edges_rules.py checks the edges through ingest_batch; the house observations and
the switched households (which the gateway's house-on and long-on rules read) were checked only
by the live-versus-replay tests, which take minutes. Both dialects.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from anomaly.activity import StepState
from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceStatus, EdgeKind
from core.models import Device, Household
from gateway.edges import DeviceRule, Edge, HouseObservations, PowerReading, detect_edges, load_states
from tests.factories import make_device, make_household

CH = "0"


class Home:
    """A household with a whole-house meter, a lamp and a kettle; another with only a lamp; a third
    with a whole-house meter and no lamp; and a kettle plug not assigned to anyone."""

    def __init__(self, engine: Engine) -> None:
        with session_scope(engine) as s:
            h, h2, h3 = make_household(s), make_household(s), make_household(s)
            devices = {
                "mains": make_device(s, household=h, appliance="aggregate"),
                "lamp": make_device(s, household=h, appliance="lamp", on_threshold_w=8.0),
                "kettle": make_device(s, household=h, appliance="kettle", on_threshold_w=20.0),
                "lamp2": make_device(s, household=h2, appliance="lamp", on_threshold_w=8.0),
                "mains3": make_device(s, household=h3, appliance="aggregate"),
                "spare": make_device(s, household=None, appliance="kettle", on_threshold_w=20.0),
            }
            assert h.id is not None and h2.id is not None and h3.id is not None
            self.h, self.h2, self.h3 = h.id, h2.id, h3.id
            self.id = {name: d.id for name, d in devices.items() if d.id is not None}
            self.rules = {
                d.id: DeviceRule(d.appliance, d.on_threshold_w, d.household_id)
                for d in devices.values()
                if d.id is not None
            }
        self.index = 0

    def readings(self, at: datetime, **watts: float) -> list[PowerReading]:
        out = []
        for name, w in watts.items():
            self.index += 1
            out.append(PowerReading(self.index, self.id[name], CH, at, w))
        return out


def unix(at: datetime) -> int:
    return int(at.timestamp())


def test_the_house_level_sees_the_unmetered_rest_and_whether_a_lamp_is_on(
    engine: Engine, clock: ManualClock
) -> None:
    home = Home(engine)
    t0 = clock.now()
    t1, t2 = t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)
    batch = (
        home.readings(t0, mains=300.0, lamp=0.0, kettle=0.0)
        + home.readings(t1, mains=330.0, lamp=30.0)
        + home.readings(t2, mains=2330.0, kettle=2000.0)
    )
    house: HouseObservations = {}
    switched: set[int] = set()
    with session_scope(engine) as s:
        edges = detect_edges(s, batch, home.rules, house, switched)
    # The whole-house meter minus the lamp and kettle stays at the 300 W base: no step of its own.
    assert edges == [
        Edge(home.h, home.id["lamp"], CH, t1, EdgeKind.ON, 30.0),
        Edge(home.h, home.id["kettle"], CH, t2, EdgeKind.ON, 2000.0),
    ]
    # One observation per reading time, its last state: the rest of the house, and a lamp on.
    assert house == {home.h: [(unix(t0), 300.0, False), (unix(t1), 300.0, True), (unix(t2), 300.0, True)]}
    assert switched == {home.h}


def test_a_household_without_a_whole_house_meter_still_reports_its_lamps(
    engine: Engine, clock: ManualClock
) -> None:
    home = Home(engine)
    t0 = clock.now()
    t1 = t0 + timedelta(minutes=1)
    house: HouseObservations = {}
    with session_scope(engine) as s:
        detect_edges(s, home.readings(t0, lamp2=0.0) + home.readings(t1, lamp2=12.0), home.rules, house)
    assert house == {home.h2: [(unix(t0), None, False), (unix(t1), None, True)]}


def test_a_household_without_lamp_plugs_says_so_rather_than_that_they_are_off(
    engine: Engine, clock: ManualClock
) -> None:
    home = Home(engine)
    t0 = clock.now()
    house: HouseObservations = {}
    with session_scope(engine) as s:
        detect_edges(s, home.readings(t0, mains3=300.0), home.rules, house)
    assert house == {home.h3: [(unix(t0), 300.0, None)]}  # None: no lamp, TV or heater plug


def test_switched_households_are_those_whose_plugs_went_on_or_off(engine: Engine, clock: ManualClock) -> None:
    home = Home(engine)
    t0 = clock.now()
    at = [t0 + timedelta(minutes=m) for m in range(5)]

    def run(readings: list[PowerReading]) -> tuple[list[Edge], set[int]]:
        switched: set[int] = set()
        with session_scope(engine) as s:
            return detect_edges(s, readings, home.rules, None, switched), switched

    assert run(home.readings(at[0], mains=300.0, lamp2=0.0)) == ([], set())
    # A whole-house step is an edge, but it switches no plug.
    assert run(home.readings(at[1], mains=2300.0)) == (
        [Edge(home.h, home.id["mains"], CH, at[1], EdgeKind.ON, 2000.0)],
        set(),
    )
    assert run(home.readings(at[2], lamp2=30.0))[1] == {home.h2}
    # Off: the edge carries the power it fell to.
    assert run(home.readings(at[3], lamp2=2.0)) == (
        [Edge(home.h2, home.id["lamp2"], CH, at[3], EdgeKind.OFF, 2.0)],
        {home.h2},
    )
    # Back on within its programme: no edge, but the household did switch a plug.
    assert run(home.readings(at[4], lamp2=30.0)) == ([], {home.h2})


def test_an_unassigned_plug_makes_no_edge_but_keeps_its_state(engine: Engine, clock: ManualClock) -> None:
    home = Home(engine)
    t0 = clock.now()
    t1 = t0 + timedelta(minutes=1)
    house: HouseObservations = {}
    switched: set[int] = set()
    with session_scope(engine) as s:
        edges = detect_edges(
            s, home.readings(t0, spare=0.0) + home.readings(t1, spare=2000.0), home.rules, house, switched
        )
    assert edges == [] and house == {} and switched == set()
    with Session(engine) as s:
        states = load_states(s, {home.id["spare"]})
    # Once assigned it continues from here: on since t1, not a new switch-on.
    assert states == {(home.id["spare"], CH): StepState(unix(t1), 2000.0, True, None, unix(t1))}


def test_a_whole_house_reading_alone_subtracts_what_earlier_batches_left_on(
    engine: Engine, clock: ManualClock
) -> None:
    """The lamp went on in an earlier batch: the mains reporting alone still see it (its stored
    state), both for their own step and for the house level's "a lamp is on"."""
    home = Home(engine)
    t0 = clock.now()
    t1, t2, t3 = (t0 + timedelta(minutes=m) for m in (1, 2, 3))

    def run(readings: list[PowerReading], house: HouseObservations | None = None) -> list[Edge]:
        rules = {r.device_id: home.rules[r.device_id] for r in readings}  # as ingest: the batch's devices
        with session_scope(engine) as s:
            return detect_edges(s, readings, rules, house)

    run(home.readings(t0, mains=300.0, lamp=0.0, kettle=0.0))
    plugs_only: HouseObservations = {}
    run(home.readings(t1, lamp=30.0, kettle=0.0), plugs_only)
    assert plugs_only == {home.h: [(unix(t1), None, True)]}  # no whole-house reading then: no level
    # 2330 W less the lamp's 30 W: a 2000 W step above the 300 W base, not 2030 W.
    assert run(home.readings(t2, mains=2330.0)) == [
        Edge(home.h, home.id["mains"], CH, t2, EdgeKind.ON, 2000.0)
    ]
    house: HouseObservations = {}
    assert run(home.readings(t3, mains=2330.0), house) == []
    assert house == {home.h: [(unix(t3), 2300.0, True)]}


def test_a_retired_plugs_last_reading_is_not_taken_off_the_whole_house(
    engine: Engine, clock: ManualClock
) -> None:
    """A plug retired from the household keeps its stored state, but is no longer one of its sub-meters."""
    home = Home(engine)
    with session_scope(engine) as s:
        old = make_device(s, household=s.get(Household, home.h), appliance="heater", on_threshold_w=20.0)
        assert old.id is not None
        old_id, old_rule = old.id, DeviceRule(old.appliance, old.on_threshold_w, old.household_id)
    t0 = clock.now()
    with session_scope(engine) as s:
        detect_edges(s, [PowerReading(0, old_id, CH, t0, 500.0)], {old_id: old_rule})
    with session_scope(engine) as s:
        device = s.get(Device, old_id)
        assert device is not None
        device.status = DeviceStatus.RETIRED
    house: HouseObservations = {}
    mains = {home.id["mains"]: home.rules[home.id["mains"]]}
    with session_scope(engine) as s:
        detect_edges(s, home.readings(t0 + timedelta(minutes=1), mains=800.0), mains, house)
    # The whole 800 W is the unmetered rest: the retired heater's 500 W is not taken off it.
    assert house == {home.h: [(unix(t0 + timedelta(minutes=1)), 800.0, None)]}
