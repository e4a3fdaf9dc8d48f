"""Connectivity apart from activity, on both dialects: silence and wills mark plugs offline; a household
whose plugs are all offline gets a staff-only device_offline case, cleared when a plug is back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CaseEventType,
    CaseKind,
    CaseStatus,
    DeviceVendor,
    MonitoringState,
    RecipientKind,
    Role,
    Severity,
)
from core.models import CallAttempt, Case, CaseEvent, Device, Household, Notification
from core.settings import Settings
from gateway import connectivity
from gateway.ingest import InboundMessage, ingest_batch
from notifier import lifecycle
from tests.factories import make_device, make_household, make_team, make_user
from tests.ticks import run_notifier_ticks

SETTINGS = Settings(
    _env_file=None, offline_silence_factor=3.0, offline_min_silence_s=600, offline_default_interval_s=300
)


def reading(external_id: str, received: datetime, power: float = 0.0) -> InboundMessage:
    body = json.dumps({"v": 1, "power_w": power}).encode()
    return InboundMessage(f"anbu/{external_id}/reading", body, received)


def status(external_id: str, word: str, received: datetime) -> InboundMessage:
    return InboundMessage(f"anbu/{external_id}/status", word.encode(), received)


def ingest(engine: Engine, *messages: InboundMessage) -> None:
    with session_scope(engine) as session:
        ingest_batch(session, list(messages), now=messages[-1].received_at, settings=SETTINGS)


def household_with_plugs(engine: Engine, *external_ids: str) -> int:
    with session_scope(engine) as s:
        team = make_team(s)
        make_user(s, team=team, role=Role.CASEWORKER)
        h = make_household(s, team=team)
        for external_id in external_ids:
            make_device(s, household=h, external_id=external_id)
        assert h.id is not None
        return h.id


def plug(engine: Engine, external_id: str) -> Device:
    with Session(engine) as s:
        return s.exec(
            select(Device).where(Device.vendor == DeviceVendor.NATIVE, Device.external_id == external_id)
        ).one()


def offline_cases(engine: Engine, household_id: int) -> list[Case]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Case).where(Case.household_id == household_id, Case.kind == CaseKind.DEVICE_OFFLINE)
            )
        )


def test_ingest_learns_the_usual_interval_and_any_message_means_online(
    engine: Engine, clock: ManualClock
) -> None:
    household_with_plugs(engine, "tv1")
    start = clock.now()
    ingest(engine, status("tv1", "offline", start))
    assert plug(engine, "tv1").online is False
    for minute in range(1, 6):
        ingest(engine, reading("tv1", start + timedelta(minutes=minute)))
    device = plug(engine, "tv1")
    assert device.online is True  # a reading from the plug itself proves it is connected
    assert device.report_interval_s is not None and abs(device.report_interval_s - 60.0) < 1e-6
    # The broker's "offline" will does not count as hearing from the plug.
    ingest(engine, status("tv1", "offline", start + timedelta(minutes=7)))
    after_will = plug(engine, "tv1")
    assert after_will.online is False and after_will.last_seen_at == start + timedelta(minutes=5)
    assert after_will.report_interval_s == device.report_interval_s


def test_silence_marks_a_plug_offline_only_after_its_limit(engine: Engine, clock: ManualClock) -> None:
    household_with_plugs(engine, "kettle1")
    ingest(engine, reading("kettle1", clock.now()))
    clock.advance(timedelta(seconds=899))  # not learned yet: 3 x 300 s assumed
    assert connectivity.tick(engine, clock, SETTINGS).went_silent == 0
    assert plug(engine, "kettle1").online is True
    clock.advance(timedelta(seconds=2))
    assert connectivity.tick(engine, clock, SETTINGS).went_silent == 1
    assert plug(engine, "kettle1").online is False
    assert connectivity.tick(engine, clock, SETTINGS).went_silent == 0  # already offline: counted once


def test_all_plugs_offline_opens_a_staff_only_case_cleared_when_one_is_back(
    engine: Engine, clock: ManualClock
) -> None:
    household_id = household_with_plugs(engine, "kettle2", "tv2")
    t0 = clock.now()
    ingest(engine, reading("kettle2", t0), reading("tv2", t0))

    ingest(engine, status("kettle2", "offline", t0 + timedelta(seconds=10)))
    clock.advance(timedelta(seconds=10))
    connectivity.tick(engine, clock, SETTINGS)
    assert offline_cases(engine, household_id) == []  # the TV still reports: not every plug is offline

    clock.advance(timedelta(seconds=900))  # the TV has been silent past its limit too
    result = connectivity.tick(engine, clock, SETTINGS)
    assert (result.went_silent, result.opened) == (1, 1)
    [case] = offline_cases(engine, household_id)
    assert (case.status, case.severity) == (CaseStatus.OPEN, Severity.WARNING)
    assert "플러그" in case.explanation  # staff-facing text from the catalogue, Korean by default
    assert connectivity.tick(engine, clock, SETTINGS).opened == 0  # one case, not one per tick

    # The escalation engine tells staff; it never calls the resident or messages family.
    for _ in range(3):
        run_notifier_ticks(engine, clock, SETTINGS)
        clock.advance(timedelta(minutes=30))
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(CallAttempt)).one() == 0
        kinds = set(s.exec(select(Notification.recipient_kind)).all())
    assert kinds == {RecipientKind.USER}  # the caseworker, nobody else

    ingest(engine, reading("tv2", clock.now()))
    assert connectivity.tick(engine, clock, SETTINGS).cleared == 1
    [cleared] = offline_cases(engine, household_id)
    assert (cleared.status, cleared.clear_reason) == (CaseStatus.CLEARED, "device_back_online")


def test_an_acknowledged_case_notes_its_plug_back_once_not_every_tick(
    engine: Engine, clock: ManualClock
) -> None:
    """A case a caseworker took stays acknowledged when a plug is back (she decides when it is
    over); connectivity notes the plug's return on it. It noted it again on every 30 s tick, a
    CLEARED event and a new version each time, for as long as nobody resolved the case."""
    household_id = household_with_plugs(engine, "kettle3")
    ingest(engine, reading("kettle3", clock.now()))
    clock.advance(timedelta(seconds=1200))
    assert connectivity.tick(engine, clock, SETTINGS).opened == 1
    [case] = offline_cases(engine, household_id)
    with session_scope(engine) as s:
        lifecycle.acknowledge(s, s.get_one(Case, case.id), actor="kim", now=clock.now())
    ingest(engine, reading("kettle3", clock.now()))
    cleared = []
    for _ in range(4):
        clock.advance(timedelta(seconds=30))
        cleared.append(connectivity.tick(engine, clock, SETTINGS).cleared)
    assert cleared == [1, 0, 0, 0]
    [case] = offline_cases(engine, household_id)
    assert (case.status, case.clear_reason) == (CaseStatus.ACKNOWLEDGED, "device_back_online")
    with Session(engine) as s:
        events = s.exec(select(CaseEvent.type).where(CaseEvent.case_id == case.id)).all()
    assert events.count(CaseEventType.CLEARED) == 1


def test_paused_household_and_unheard_plugs_open_no_case(engine: Engine, clock: ManualClock) -> None:
    paused_id = household_with_plugs(engine, "p1")
    unheard_id = household_with_plugs(engine, "never-heard")
    with session_scope(engine) as s:
        household = s.get(Household, paused_id)
        assert household is not None
        household.monitoring = MonitoringState.PAUSED
    ingest(engine, status("p1", "offline", clock.now()))
    clock.advance(timedelta(hours=2))
    connectivity.tick(engine, clock, SETTINGS)
    assert offline_cases(engine, paused_id) == []
    assert offline_cases(engine, unheard_id) == []  # never heard: unknown, not offline


def test_zigbee2mqtt_bridge_offline_takes_its_devices_offline(engine: Engine, clock: ManualClock) -> None:
    now = clock.now()
    with session_scope(engine) as session:
        ingest_batch(
            session,
            [
                InboundMessage("zigbee2mqtt/kitchen/kettle", b'{"power": 0}', now),
                InboundMessage("zigbee2mqtt/tv_plug", b'{"power": 3}', now),
                InboundMessage(
                    "zigbee2mqtt/bridge/state", b'{"state":"offline"}', now + timedelta(seconds=1)
                ),
            ],
            now=now,
            settings=SETTINGS,
        )
    with Session(engine) as s:
        devices = s.exec(select(Device).where(Device.vendor == DeviceVendor.ZIGBEE2MQTT)).all()
        assert sorted((d.external_id, d.online) for d in devices) == [
            ("kitchen/kettle", False),
            ("tv_plug", False),
        ]


def test_zigbee2mqtt_device_heard_after_the_bridge_went_offline_stays_online(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    messages = [
        InboundMessage("zigbee2mqtt/tv_plug", b'{"power": 3}', now),
        InboundMessage("zigbee2mqtt/bridge/state", b"offline", now),
        InboundMessage("zigbee2mqtt/kettle", b'{"power": 0}', now + timedelta(seconds=1)),
    ]
    with session_scope(engine) as session:
        result = ingest_batch(session, messages, now=now, settings=SETTINGS)
    assert result.ignored == 1  # the bridge message concerns no single device
    with Session(engine) as s:
        devices = s.exec(select(Device).where(Device.vendor == DeviceVendor.ZIGBEE2MQTT)).all()
        assert sorted((d.external_id, d.online) for d in devices) == [("kettle", True), ("tv_plug", False)]
