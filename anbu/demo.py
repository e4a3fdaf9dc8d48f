"""`anbu demo`: the whole loop on embedded defaults, with a simulated district.

Nothing here pretends. The district's history is fed through the real gateway ingest (the
same adapters, edges and watches as live traffic); live plugs publish through a real MQTT
broker; the wellness call goes through the real twilio library to the phone-network
emulator, which calls our signed webhooks back. Two residents have collapsed (issue 18: the
detector tells the two apart), and the only arrangement is *when*, so a newcomer sees both
within about a minute:

* GANGNAM-001 collapsed **in bed** (everything off): their last kettle use is just long enough
  ago that the household's quiet window (12 h) runs out about half a minute after start. Its
  seeded history reports hourly, too sparse to learn a routine from, so the first-cut fixed window
  is what applies, as for any household without one.
* GANGNAM-002 collapsed **while active**, with the TV left on. It has watched the TV every day for
  exactly 90 min, within a three-hour window around the same time of day (placed by the demo's
  clock), and its plugs have reported every 5 min, so the nightly refit (run once after seeding, as
  the worker would have at the last midnight) learns its routine and its TV's usual running time.
  Today's TV went on just long enough ago that the long-on rule (anomaly/long_on.py: 1.5 × usual +
  1 h) runs out about a minute after start; the case says why ("TV이(가) … 쉬지 않고 켜져 있습니다").
  The base-load ladder does not come first: its gap rule is at least 6 h after the switch-on, and
  the morning check (when the TV went on before 04:00) waits for the latest usual kettle + 1.5 h.
  The habit's window is wide so that a TV at night is not learned as a timer (anomaly/activity.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from anomaly import ladder
from anomaly.detector import DetectorParams
from core.clock import SYSTEM_CLOCK, Clock
from core.db import session_scope
from core.enums import Channel, DeviceStatus, DeviceVendor, Language, Role
from core.models import Contact, Device, Household, Organisation, Resident, Team
from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings, load_settings
from notifier import webhook_urls
from simulator.households import (
    HouseholdSpec,
    activity_events,
    demo_district,
    phone_behaviours,
    with_habit_at,
)
from simulator.plugs import SimulatedPlug

log = logging.getLogger("anbu.demo")

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_FROM_NUMBER = "+15005550006"
CASEWORKER_PHONE = "+821000009001"
HISTORY_DAYS = 21
HISTORY_REPORT_S = 3600.0  # hourly heartbeats in the seeded history; changes are always included
QUIET_HOURS = 16.0  # everyday households: generous, so the demo shows one real case, not noise
STOPPER_QUIET_HOURS = 12.0
STOPPER_LEAD = timedelta(seconds=30)  # the stopper's quiet window ends this long after start
# The resident who collapses while active (the TV left on): their household, TV habit and lead.
ACTIVE_INDEX = 1
ACTIVE_REPORT_S = 300.0  # their plugs' history reports every 5 min (Tasmota's default): a routine is learned
TV_USUAL = timedelta(minutes=90)  # every use of their TV lasts this long
TV_WINDOW = timedelta(hours=3)  # ... and starts somewhere in a window this wide (not a night timer)
ACTIVE_LEAD = timedelta(seconds=60)  # the long-on rule's deadline comes this long after start
ACTIVE_COLLAPSE_AFTER = timedelta(minutes=2)  # they collapse this long after switching the TV on


@dataclass(frozen=True)
class SeededDistrict:
    households: list[HouseholdSpec]
    stopper: HouseholdSpec | None  # collapsed in bed
    energy_wh: dict[str, float]  # each plug's counter at the end of history, so live data continues it
    active: HouseholdSpec | None = None  # collapsed while active, the TV left on
    tv_on: datetime | None = None  # when the active resident switched that TV on


def demo_settings(port: int) -> Settings:
    """Embedded everything; the phone network is the emulator (set up by run_demo)."""
    overrides: dict[str, object] = {
        "env": "dev",
        "http_port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "sweep_interval_s": 2.0,
        "escalation_interval_s": 1.0,
        "outbox_interval_s": 1.0,
    }
    if not os.environ.get("ANBU_DATA_DIR"):
        overrides["data_dir"] = Path("var/demo")
    if not os.environ.get("ANBU_MQTT_AUTH"):
        # The simulated plugs get their own credentials (anbu/provisioning.py): show the real thing.
        overrides["mqtt_auth"] = "required"
    return load_settings(**overrides)


def seed_district(
    engine: Engine, settings: Settings, specs: Sequence[HouseholdSpec], *, now: datetime
) -> SeededDistrict:
    """Create the organisation, users, households and devices, feed their history through ingest,
    then refit their routines as the worker would have at the last midnight."""
    from anomaly.training import retrain_household
    from api.users import create_user

    stopper = next((s for s in specs if s.is_stopper and s.collapse == "in_bed"), None)
    if stopper is not None:
        # The stopper's last kettle use starts exactly one quiet window before (start + lead).
        last_use = now - timedelta(hours=STOPPER_QUIET_HOURS) + STOPPER_LEAD
        stopper = stopper.stopping_at(last_use + timedelta(minutes=3))
    active, tv_on = _arrange_active(
        next((s for s in specs if s.is_stopper and s.collapse == "active"), None), now
    )
    arranged = {s.code: s for s in (stopper, active) if s is not None}
    households = [arranged.get(s.code, s) for s in specs]

    with session_scope(engine) as session:
        org = Organisation(name="강남구 안부돌봄 (데모)")
        session.add(org)
        session.flush()
        assert org.id is not None
        team = Team(organisation_id=org.id, name="역삼1동 복지팀")
        session.add(team)
        session.flush()
        assert team.id is not None
        create_user(
            session,
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            role=Role.ADMIN,
            display_name="데모 관리자",
            allow_weak_password=True,
            now=now,
        )
        create_user(
            session,
            username="kim.caseworker",
            password=os.urandom(12).hex(),
            role=Role.CASEWORKER,
            team_id=team.id,
            display_name="김복지 (데모)",
            phone=CASEWORKER_PHONE,
            now=now,
        )
        for spec in households:
            _add_household(session, spec, team_id=team.id, now=now)

    plugs: dict[str, SimulatedPlug] = {}
    for spec in households:
        start = now - timedelta(days=HISTORY_DAYS)
        spec_plugs = {
            d.external_id: SimulatedPlug(d.vendor, d.external_id, started_at=start, timezone=spec.timezone)
            for d in spec.devices
        }
        plugs.update(spec_plugs)
        # The stopper's history ends where its last kettle use begins (appended below, in order).
        in_bed = stopper is not None and spec.code == stopper.code
        end = spec.stop_at - timedelta(minutes=3) if in_bed and spec.stop_at is not None else now
        report_s = ACTIVE_REPORT_S if active is not None and spec.code == active.code else HISTORY_REPORT_S
        _ingest(engine, settings, _history_messages(spec, spec_plugs, start, end, report_s))
    if stopper is not None:
        assert stopper.stop_at is not None
        last_use = stopper.stop_at - timedelta(minutes=3)
        kettle = next(d for d in stopper.devices if d.appliance == "kettle")
        plug = plugs[kettle.external_id]
        final = [
            (plug.reading(last_use, 1800.0, periodic=False), last_use),
            (plug.reading(stopper.stop_at, 0.5, periodic=False), stopper.stop_at),
        ]
        _ingest(engine, settings, ((m.topic, m.payload.encode(), at) for m, at in final))
        # Then only standby, but the plugs keep reporting: a silence would be a data gap, which
        # holds the quiet clock (no data is not inactivity), not the case the demo shows.
        stopper_plugs = {d.external_id: plugs[d.external_id] for d in stopper.devices}
        after = stopper.stop_at + timedelta(seconds=1)
        _ingest(engine, settings, _history_messages(stopper, stopper_plugs, after, now))
    # The refit the worker would have made at each household's last local midnight (anomaly.training;
    # a household with too little history gets no routine and keeps its fixed quiet window).
    with session_scope(engine) as session:
        ids = session.exec(select(Household.id)).all()
    for household_id in ids:
        assert household_id is not None
        with session_scope(engine) as session:
            retrain_household(session, household_id, now, settings, DetectorParams())
    energy = {external_id: plug.meter.total_wh for external_id, plug in plugs.items()}
    return SeededDistrict(
        households=households, stopper=stopper, energy_wh=energy, active=active, tv_on=tv_on
    )


def _arrange_active(
    spec: HouseholdSpec | None, now: datetime
) -> tuple[HouseholdSpec | None, datetime | None]:
    """The resident who collapses while active: a daily TV habit whose use today started just long
    enough ago that the long-on rule's deadline (its switch-on + margin × usual + grace, the
    ladder's own parameters) comes :data:`ACTIVE_LEAD` after start; they collapse soon after."""
    if spec is None:
        return None, None
    tv = next(d for d in spec.devices if d.appliance == "tv")
    params = ladder.DEFAULT_LADDER  # what every live deadline uses
    margin = params.long_margin if params.long_margin is not None else 1.5  # off: no case
    usual_h = TV_USUAL.total_seconds() / 3600
    delay = timedelta(hours=max(margin * usual_h + params.long_grace_h, params.long_min_quiet_h))
    spec, tv_on = with_habit_at(
        spec, tv.external_id, now + ACTIVE_LEAD - delay, window=TV_WINDOW, duration=TV_USUAL
    )
    return spec.stopping_at(tv_on + ACTIVE_COLLAPSE_AFTER, "active"), tv_on


def _add_household(session: Session, spec: HouseholdSpec, *, team_id: int, now: datetime) -> None:
    household = Household(
        team_id=team_id,
        code=spec.code,
        address=spec.address,
        timezone=spec.timezone,
        quiet_hours=STOPPER_QUIET_HOURS if spec.is_stopper else QUIET_HOURS,
        created_at=now - timedelta(days=HISTORY_DAYS),
    )
    session.add(household)
    session.flush()
    assert household.id is not None
    session.add(
        Resident(
            household_id=household.id,
            name=spec.resident_name,
            phone=spec.resident_phone,
            language=Language(spec.language),
            birth_year=spec.birth_year,
        )
    )
    for contact in spec.contacts:
        session.add(
            Contact(
                household_id=household.id,
                name=contact.name,
                relation=contact.relation,
                phone=contact.phone,
                tier=contact.tier,
                language=Language(contact.language),
                preferred_channel=Channel(contact.preferred_channel),
            )
        )
    for device in spec.devices:
        session.add(
            Device(
                vendor=DeviceVendor(device.vendor),
                external_id=device.external_id,
                household_id=household.id,
                status=DeviceStatus.ASSIGNED,
                appliance=device.appliance,
                on_threshold_w=device.on_threshold_w,
                created_at=now - timedelta(days=HISTORY_DAYS),
            )
        )


def _history_messages(
    spec: HouseholdSpec,
    plugs: dict[str, SimulatedPlug],
    start: datetime,
    end: datetime,
    report_s: float = HISTORY_REPORT_S,
) -> Iterator[tuple[str, bytes, datetime]]:
    last_report: dict[str, datetime] = {}
    for external_id, ts, power in activity_events(spec, start, end, report_interval_s=report_s):
        previous = last_report.get(external_id)
        periodic = previous is None or ts - previous >= timedelta(seconds=report_s)
        if periodic:
            last_report[external_id] = ts
        message = plugs[external_id].reading(ts, power, periodic=periodic)
        yield message.topic, message.payload.encode(), ts


def _ingest(engine: Engine, settings: Settings, messages: Iterable[tuple[str, bytes, datetime]]) -> None:
    """Through the gateway's own ingest, as if each message had arrived when it was sent."""
    from gateway.ingest import InboundMessage, ingest_batch

    for batch in _chunks(iter(messages), 2000):
        with session_scope(engine) as session:
            ingest_batch(
                session,
                [InboundMessage(topic, payload, received_at=ts) for topic, payload, ts in batch],
                now=batch[-1][2],
                settings=settings,
            )


def _chunks(
    items: Iterator[tuple[str, bytes, datetime]], size: int
) -> Iterator[list[tuple[str, bytes, datetime]]]:
    chunk: list[tuple[str, bytes, datetime]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def is_seeded(engine: Engine) -> bool:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Household)).one()) > 0


def run_demo(*, port: int, households: int, clock: Clock = SYSTEM_CLOCK) -> int:
    from anbu import runtime
    from anbu.provisioning import provision_plugs, simulator_for
    from simulator.twilio_emulator import TwilioEmulator

    base = demo_settings(port)
    if not os.environ.get("ANBU_DATABASE_URL"):
        # The default demo database is rebuilt on every run, so the story starts fresh.
        shutil.rmtree(base.data_dir, ignore_errors=True)
    # A fresh token each run, shared only with the emulator: a token in the source would let
    # anyone who can reach the demo sign a webhook ("괜찮아요" from the resident's number).
    twilio_token = secrets.token_hex(16)
    emulator = TwilioEmulator(DEV_TWILIO_ACCOUNT_SID, twilio_token)
    emulator.start()
    settings = base.model_copy(
        update={
            "twilio_account_sid": DEV_TWILIO_ACCOUNT_SID,
            "twilio_auth_token": twilio_token,
            "twilio_from_number": DEMO_FROM_NUMBER,
            "twilio_api_base": emulator.base_url,
            "transport": "twilio",
        }
    )
    running = runtime.Running()
    running.add("twilio emulator", emulator.stop)
    try:
        engine = runtime.open_database(settings)
        now = clock.now()
        if is_seeded(engine):
            log.warning("database already has households: reusing it (the stopper story needs a fresh one)")
            specs: list[HouseholdSpec] = []
            energy: dict[str, float] = {}
        else:
            print(f"seeding {households} households with {HISTORY_DAYS} days of history…", flush=True)
            district = seed_district(engine, settings, _district(households), now=now)
            specs = district.households
            energy = district.energy_wh
        emulator.set_behaviours(phone_behaviours(specs))
        # Where the simulated family's replies to our texts go ("1 4821": they take the case on).
        emulator.set_sms_url(DEMO_FROM_NUMBER, settings.effective_public_base_url + webhook_urls.SMS_INBOUND)
        # Before the broker starts, so it knows every plug's identity from its first connection.
        plug_credentials = provision_plugs(engine, settings, specs, now=clock.now())
        identity = runtime.start_broker(settings, running, engine)
        gateway = runtime.start_gateway(settings, engine, clock, running, identity)
        ticks = runtime.start_ticks(settings, engine, clock, running, start=False)
        if specs:
            sim = simulator_for(
                settings, specs, plug_credentials, report_interval_s=30.0, initial_energy_wh=energy
            )
            sim.start()
            running.add("simulator", sim.stop)
        print(_banner(settings, emulator.base_url), flush=True)
        runtime.serve_api(
            settings, engine, clock, gateway=gateway, ticks=ticks, role="demo", on_serving=ticks.start
        )
    finally:
        running.stop()
    return 0


def _district(households: int) -> list[HouseholdSpec]:
    """The demo's district: the first resident collapses in bed, the second (if any) while active."""
    return demo_district(
        households=households, active_index=ACTIVE_INDEX if households > ACTIVE_INDEX else None
    )


def _banner(settings: Settings, emulator_url: str) -> str:
    url = settings.effective_public_base_url
    broker = "embedded" if settings.uses_embedded_broker else settings.mqtt_endpoint.host
    auth = "each plug with its own credentials" if settings.mqtt_auth_required else "no device authentication"
    return (
        "\n"
        f"  Anbu demo is running — dashboard: {url}/\n"
        f"  Log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (exists only with ANBU_ENV=dev).\n"
        f"  Database: {settings.effective_database_url}   MQTT broker: {broker} ({auth})\n"
        f"  Phone-network emulator: {emulator_url}/_emulator/calls  and  /_emulator/messages\n"
        "  Two residents have collapsed. GANGNAM-001 in bed, everything off: in about half a minute\n"
        "  its quiet window runs out. GANGNAM-002 in front of the TV, which is still on: in about a\n"
        "  minute it has been on far longer than it usually is (the long-on rule). Each household is\n"
        "  flagged with its explanation, the AI wellness call is placed, family and caseworker are\n"
        '  notified, and a daughter or son takes the case on by texting back the alert\'s code ("1 4821").\n'
        "  Ctrl-C to stop.\n"
    )
