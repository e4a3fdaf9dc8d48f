"""The whole check-in loop, end to end:

simulated plug → MQTT broker → gateway → DB → sweeper → inactivity case → escalation →
AI call through the real twilio library → Twilio emulator → signed webhooks → reply
classified → caseworker and family notified.

Once on the embedded defaults (SQLite + in-process broker), once on Mosquitto + PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.enums import CallOutcome, CaseEventType, CaseKind, CaseStatus, DeviceVendor, Severity, WatchStatus
from core.models import CallAttempt, Case, CaseEvent, Notification, Watch
from core.settings import parse_mqtt_url
from simulator.phone_scenarios import Behaviour, Reply
from simulator.plugs import SimulatedPlug
from tests.conftest import TEST_MQTT_URL, needs_mqtt, needs_postgres
from tests.e2e.harness import System, running_system
from tests.factories import make_device, make_household, make_team, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESIDENT = "+821000001234"
CASEWORKER = "+821000009999"
QUIET_SECONDS = 6


def _seed(engine: Engine) -> tuple[int, str]:
    device_id = f"e2e-kettle-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as s:
        team = make_team(s)
        make_user(s, team=team, phone=CASEWORKER)
        household = make_household(s, team=team, resident_phone=RESIDENT, quiet_hours=QUIET_SECONDS / 3600)
        make_device(s, household=household, vendor=DeviceVendor.NATIVE, external_id=device_id)
        assert household.id is not None
        return household.id, device_id


def _publish_kettle_use(mqtt_url: str, device_id: str) -> None:
    """The simulator's own plug encoder, over a real MQTT connection, at QoS 1."""
    ep = parse_mqtt_url(mqtt_url)
    now = datetime.now(UTC)
    plug = SimulatedPlug("native", device_id, started_at=now - timedelta(minutes=5))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-plug-{uuid.uuid4().hex[:6]}")
    client.connect(ep.host, ep.port)
    client.loop_start()
    try:
        for message in (plug.reading(now, 1850.0), plug.reading(now + timedelta(seconds=1), 0.4)):
            client.publish(message.topic, message.payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def _run_loop(system: System, household_id: int, device_id: str, mqtt_url: str) -> None:
    system.emulator.set_behaviour(
        RESIDENT, Behaviour(replies=(Reply.say("도와주세요 넘어져서 못 일어나겠어요", 0.9),) * 2)
    )
    _publish_kettle_use(mqtt_url, device_id)

    def watching() -> bool:
        with Session(system.engine) as s:
            w = s.get(Watch, household_id)
            return w is not None and w.status == WatchStatus.UP and w.last_activity_at is not None

    assert system.run_until(watching, timeout=15), "the kettle use never reached the household's watch"

    def notified_everyone() -> bool:
        with Session(system.engine) as s:
            sent = s.exec(select(Notification).where(Notification.household_id == household_id)).all()
            return {n.to_address for n in sent if n.provider_sid} >= {CASEWORKER} and len(sent) >= 2

    assert system.run_until(notified_everyone, timeout=60), "caseworker and family were not notified"

    with Session(system.engine) as s:
        [case] = s.exec(select(Case).where(Case.household_id == household_id)).all()
        assert case.kind == CaseKind.INACTIVITY
        assert case.status == CaseStatus.OPEN
        assert case.severity == Severity.CRITICAL  # the resident asked for help
        assert case.explanation
        [call] = s.exec(select(CallAttempt).where(CallAttempt.case_id == case.id)).all()
        assert call.provider_sid and call.provider_sid.startswith("CA")
        assert call.outcome == CallOutcome.EMERGENCY
        assert "넘어져서" in call.transcript
        events = [e.type for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()]
        for expected in (CaseEventType.OPENED, CaseEventType.CALL_OUTCOME, CaseEventType.NOTIFICATION_SENT):
            assert expected in events, f"missing {expected} in {events}"
        family = {n.to_address for n in s.exec(select(Notification)).all()} - {CASEWORKER}
        assert family, "no family member was notified"

    # The emulator really called: it heard our script and every webhook accepted its signature.
    [record] = [c for c in system.emulator.calls() if c.to == RESIDENT]
    said = " ".join(record.said)
    assert "안부" in said  # the agency names itself first
    assert record.webhooks and all(ex.status is not None and ex.status < 300 for ex in record.webhooks), [
        (ex.purpose, ex.status) for ex in record.webhooks
    ]
    texts = {m.to for m in system.emulator.messages()}
    assert CASEWORKER in texts and family <= texts

    # And a forged webhook changes nothing.
    before = _snapshot(system.engine, household_id)
    url = f"{system.settings.effective_public_base_url}/api/v1/twilio/voice/gather?code={call.code}"
    forged = httpx.post(
        url, data={"Digits": "1", "CallSid": call.provider_sid}, headers={"X-Twilio-Signature": "AAAA"}
    )
    assert forged.status_code == 403
    assert _snapshot(system.engine, household_id) == before


def _snapshot(engine: Engine, household_id: int) -> tuple[object, ...]:
    with Session(engine) as s:
        case = s.exec(select(Case).where(Case.household_id == household_id)).one()
        events = len(s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all())
        return (case.status, case.severity, case.version, events)


def test_whole_loop_on_embedded_defaults(sqlite_engine: Engine, embedded_broker: str) -> None:
    household_id, device_id = _seed(sqlite_engine)
    with running_system(sqlite_engine, mqtt_url=embedded_broker, embedded=True) as system:
        _run_loop(system, household_id, device_id, embedded_broker)


@needs_mqtt
@needs_postgres
def test_whole_loop_on_mosquitto_and_postgresql(postgres_engine: Engine) -> None:
    assert TEST_MQTT_URL is not None
    household_id, device_id = _seed(postgres_engine)
    with running_system(postgres_engine, mqtt_url=TEST_MQTT_URL, embedded=False) as system:
        started = time.monotonic()
        _run_loop(system, household_id, device_id, TEST_MQTT_URL)
        assert time.monotonic() - started < 90
