"""No-loss benchmark (issue 14): the fault campaign's loss checks, larger than the tests run them.

A private Mosquitto with the durability Anbu documents (``gateway.auth.mosquitto_config.durability_lines``),
``anbu gateway`` processes as deployed, plugs of four clock kinds, and three faults:

  outage        plugs publish while the gateway is stopped; it starts and drains the backlog
  gateway-kill  a live stream; the gateway is SIGKILLed three times, restarted at once each time
  broker-kill   a live stream; Mosquitto is SIGKILLed once and restarted on its own files
  backlog-broker-kill
                plugs publish while the gateway is stopped; Mosquitto is SIGKILLed with all of it
                queued, restarted, then the gateway starts (a crash loses at most what arrived
                since the broker's last save: ``--broker-plugs`` sets how often it saves)

Clock kinds: ``right`` (native JSON, the device's time is now), ``1970`` (a Tasmota that never
synced NTP), ``3-days-behind`` (a Tasmota whose clock is three days slow) and ``none`` (Shelly
Gen1, which sends no time). Each message carries its own value, so the count is per message:
*lost* = acknowledged by the broker (PUBACK) but never stored; *doubled* = stored more than once.
The reference is what the broker acknowledged in the same run: the figure is stored ÷ acknowledged
(1.000 = nothing lost).

The second part measures what that durability costs the broker: the rate at which it takes QoS 1
messages queued for an offline persistent session, and its CPU a message, with ``persistence
false`` (the reference), Mosquitto's default autosave (every 1800 s) and the documented
``autosave_on_changes``.

    .venv/bin/python benchmarks/no_loss.py [--pg-server URL] [--plugs 5] [--messages 120] [--rate 100]
        [--broker-plugs N] [--cost-messages 10000] [--cost-intervals 1,10,100] [--skip-scenarios]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine
from sqlmodel import Session, col, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ingest import Gateway, drop_postgres, fresh_postgres, process_cpu_s  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Device, Reading  # noqa: E402
from gateway.auth.mosquitto_config import autosave_every, durability_lines  # noqa: E402

KINDS = ("right", "1970", "3-days-behind", "none")
SEOUL = timedelta(hours=9)  # the Tasmota payloads' local time (SetOption52 style offset)
START_TIMEOUT_S = 120.0  # a gateway restarted on a busy machine (imports, migrations check)
STALL_S = 90.0  # no new reading stored for this long: the scenario is over, whatever is missing is lost


# --- the broker ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """A Mosquitto of our own on a free loopback port; killed and restarted on the same files."""

    def __init__(self, root: Path, persistence: list[str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        self.root, self.port = root, _free_port()
        self.conf = root / "mosquitto.conf"
        lines = [
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 0",  # unlimited: the default 1000 would drop a backlog itself
            "max_queued_bytes 0",
            "set_tcp_nodelay true",
            *persistence,
        ]
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def cpu_s(self) -> float:
        assert self.proc is not None
        return process_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


# --- the plugs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plug:
    kind: str
    external_id: str
    topic: str


def plugs_for(tag: str, scenario: str, per_kind: int) -> list[Plug]:
    out = []
    for n in range(per_kind):
        name = f"{scenario[:4]}{n}{tag[:6]}"
        out += [
            Plug("right", f"nl-{name}", f"anbu-{tag}/nl-{name}/reading"),
            Plug("1970", f"tasmota_70{name}", f"tele-{tag}/tasmota_70{name}/SENSOR"),
            Plug("3-days-behind", f"tasmota_3d{name}", f"tele-{tag}/tasmota_3d{name}/SENSOR"),
            Plug("none", f"shellyplug-s-{name}", f"shellies-{tag}/shellyplug-s-{name}/relay/0/power"),
        ]
    return out


def payload(plug: Plug, k: int, value: int, started: datetime) -> bytes:
    """Message *k* of a plug: its own *value*, and a device time as its clock kind has it.

    The Tasmota clocks advance a minute a message (a plug reporting every minute, its backlog
    replayed fast), so every reading has a time of its own, as on a real plug.
    """
    if plug.kind == "right":
        now = datetime.now(UTC)
        return json.dumps({"v": 1, "ts": now.isoformat(), "power_w": float(value)}).encode()
    if plug.kind == "none":
        return b"%d" % value
    if plug.kind == "1970":
        device_time = datetime(1970, 1, 1, 0, 5) + timedelta(minutes=k)
        stamp = device_time.strftime("%Y-%m-%dT%H:%M:%S")
    else:
        device_time = (started - timedelta(days=3) + SEOUL).replace(tzinfo=None) + timedelta(minutes=k)
        stamp = device_time.strftime("%Y-%m-%dT%H:%M:%S") + "+09:00"
    energy = {"Power": value, "ApparentPower": value, "Voltage": 227, "Current": 0.1, "Today": 0.9}
    return json.dumps({"Time": stamp, "ENERGY": energy}, separators=(",", ":")).encode()


# --- the publisher -------------------------------------------------------------------------------


class Publisher:
    """All plugs' messages through one QoS 1 client that counts the broker's acknowledgements.

    Like a plug it retries every second or two; paho resends what was in flight after a reconnect
    and sends what was queued while the broker was away (``on_publish`` tells which arrived).
    """

    def __init__(self, url: str, inflight: int = 20) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"nl-pub-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_inflight_messages_set(inflight)
        self.connected = threading.Event()
        self.acked: set[int] = set()
        self._lock = threading.Lock()
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.on_disconnect = lambda *_a: self.connected.clear()
        self.client.on_publish = self._on_publish
        port = int(url.rsplit(":", 1)[1])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise SystemExit("publisher could not connect")

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self.acked.add(mid)

    def send(self, topic: str, body: bytes) -> int:
        self.connected.wait(60)  # a plug waits for its broker; what paho already holds it resends
        return self.client.publish(topic, body, qos=1).mid

    def wait_acked(self, mids: list[int], timeout: float = 300) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                missing = len(set(mids) - self.acked)
            if not missing:
                break
            time.sleep(0.1)
        with self._lock:
            return len(set(mids) & self.acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Stream:
    """The messages of one scenario, published paced in a thread; ``progress`` counts them."""

    publisher: Publisher
    plugs: list[Plug]
    per_plug: int
    rate: float
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    mids: list[int] = field(default_factory=list)
    progress: int = 0

    @property
    def total(self) -> int:
        return len(self.plugs) * self.per_plug

    def run(self) -> None:
        t0 = time.monotonic()
        for k in range(self.per_plug):
            for plug in self.plugs:
                due = t0 + self.progress / self.rate if self.rate else 0.0
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                self.mids.append(self.publisher.send(plug.topic, payload(plug, k, k + 1, self.started)))
                self.progress += 1

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


# --- counting ------------------------------------------------------------------------------------


def stored_values(engine: Engine, plugs: list[Plug]) -> dict[str, Counter[float]]:
    ids = [p.external_id for p in plugs]
    with Session(engine) as s:
        rows = s.exec(
            select(Device.external_id, Reading.power_w)
            .join(Reading, col(Reading.device_id) == col(Device.id))
            .where(col(Device.external_id).in_(ids))
        ).all()
    out: dict[str, Counter[float]] = {i: Counter() for i in ids}
    for external_id, power in rows:
        if power is not None:
            out[external_id][float(power)] += 1
    return out


def settle(engine: Engine, plugs: list[Plug], expected: int) -> float:
    """Wait until every message is stored or nothing new is stored for STALL_S; seconds waited."""
    t0 = time.monotonic()
    last_n, last_change = -1, time.monotonic()
    while True:
        n = sum(sum(c.values()) for c in stored_values(engine, plugs).values())
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        if n >= expected or time.monotonic() - last_change > STALL_S:
            return last_change - t0
        time.sleep(0.5)


def verdict(engine: Engine, plugs: list[Plug], per_plug: int, acked: int, sent: int) -> dict[str, Any]:
    values = stored_values(engine, plugs)
    by_kind: dict[str, dict[str, int]] = {}
    for plug in plugs:
        row = by_kind.setdefault(plug.kind, {"sent": 0, "stored_once": 0, "lost": 0, "doubled": 0})
        got = values[plug.external_id]
        row["sent"] += per_plug
        for v in range(1, per_plug + 1):
            n = got.get(float(v), 0)
            row["stored_once"] += n >= 1
            row["lost"] += n == 0
            row["doubled"] += max(0, n - 1)
    stored = sum(r["stored_once"] for r in by_kind.values())
    return {
        "sent": sent,
        "acknowledged_by_broker": acked,
        "stored_once": stored,
        "ratio_stored_to_acknowledged": round(stored / acked, 4) if acked else None,
        "by_clock": by_kind,
    }


# --- the scenarios -------------------------------------------------------------------------------


@dataclass
class Rig:
    broker: Broker
    gateway: Gateway
    engine: Engine
    tag: str
    per_kind: int
    per_plug: int
    rate: float


def scenario(
    rig: Rig,
    name: str,
    faults: Callable[[Stream], None],
    *,
    gateway_down: bool = False,
    while_queued: Callable[[], None] | None = None,
) -> dict[str, Any]:
    plugs = plugs_for(rig.tag, name, rig.per_kind)
    publisher = Publisher(rig.broker.url)
    stream = Stream(publisher, plugs, rig.per_plug, 0.0 if gateway_down else rig.rate)
    try:
        if gateway_down:
            rig.gateway.stop()
        thread = stream.start()
        faults(stream)
        thread.join()
        acked = publisher.wait_acked(stream.mids)
        if while_queued is not None:
            while_queued()  # everything acknowledged and queued for the stopped gateway
        if gateway_down:
            rig.gateway.start(START_TIMEOUT_S)
        waited = settle(rig.engine, plugs, stream.total)
    finally:
        publisher.close()
    result = verdict(rig.engine, plugs, rig.per_plug, acked, stream.total)
    result["settled_s_after_last_ack"] = round(waited, 1)
    return {name: result}


def at_progress(stream: Stream, share: float) -> None:
    while stream.progress < stream.total * share:
        time.sleep(0.01)


def gateway_kills(rig: Rig) -> Callable[[Stream], None]:
    def faults(stream: Stream) -> None:
        for share in (0.25, 0.5, 0.75):
            at_progress(stream, share)
            assert rig.gateway.proc is not None
            rig.gateway.proc.send_signal(signal.SIGKILL)
            rig.gateway.proc.wait(10)
            rig.gateway.start(START_TIMEOUT_S)

    return faults


def broker_restart(rig: Rig) -> None:
    rig.broker.kill9()
    rig.broker.start()


def broker_kill(rig: Rig) -> Callable[[Stream], None]:
    def faults(stream: Stream) -> None:
        at_progress(stream, 0.5)
        broker_restart(rig)

    return faults


# --- what the durability costs -------------------------------------------------------------------


def queue_in(broker: Broker, messages: int) -> tuple[float, float]:
    """(msg/s, broker µs CPU/msg) for QoS 1 messages queued for an offline persistent session."""
    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="nl-cost-sub",
        protocol=MQTTProtocolVersion.MQTTv311,
        clean_session=False,
    )
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    sub.subscribe("cost/#", qos=1)
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    pub = Publisher(broker.url, inflight=100)
    cpu0, t0 = broker.cpu_s(), time.monotonic()
    mids = [pub.send(f"cost/{k % 50}", b'{"v":1,"power_w":12.5}') for k in range(messages)]
    got = pub.wait_acked(mids)
    elapsed, cpu = time.monotonic() - t0, broker.cpu_s() - cpu0
    pub.close()
    if got != messages:
        raise SystemExit(f"the broker acknowledged {got} of {messages}")
    return messages / elapsed, cpu / messages * 1e6


def durability_cost(tmp: Path, messages: int, intervals: list[int]) -> dict[str, Any]:
    modes: list[tuple[str, str, list[str]]] = [
        ("persistence false (reference)", "reference", ["persistence false"]),
        (
            "default autosave (1800 s)",
            "default",
            ["persistence true", f"persistence_location {tmp / 'default' / 'data'}/"],
        ),
    ]
    for every in intervals:
        label = (
            "autosave_on_changes, every change (documented)"
            if every == 1
            else f"autosave every {every} changes"
        )
        lines = [
            line if line != "autosave_interval 1" else f"autosave_interval {every}"
            for line in durability_lines(tmp / f"every{every}" / "data")
        ]
        modes.append((label, f"every{every}", lines))
    out: dict[str, Any] = {}
    reference = 0.0
    for label, folder, lines in modes:
        broker = Broker(tmp / folder, lines)
        broker.start()
        try:
            rate, cpu = queue_in(broker, messages)
        finally:
            broker.stop()
        reference = reference or rate
        out[label] = {
            "msgs_per_s": round(rate),
            "ratio": round(rate / reference, 3),
            "broker_cpu_us_per_msg": round(cpu, 1),
        }
    return out


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg-server", help="PostgreSQL server URL without database: a fresh one is made and dropped"
    )
    parser.add_argument("--plugs", type=int, default=5, help="plugs of each clock kind, per scenario")
    parser.add_argument("--messages", type=int, default=120, help="messages each plug sends, per scenario")
    parser.add_argument("--rate", type=float, default=100.0, help="msg/s of the live streams (all plugs)")
    parser.add_argument(
        "--cost-messages", type=int, default=10_000, help="messages of the durability-cost part (0: skip)"
    )
    parser.add_argument(
        "--cost-intervals",
        default="1,10,100",
        help="autosave_interval values (changes between saves) to measure besides the default",
    )
    parser.add_argument(
        "--broker-plugs",
        type=int,
        default=0,
        help="the fleet the scenarios' broker is sized for, as `anbu broker mosquitto-config --plugs` "
        "(default: the benchmark's plugs; 6000 saves every 100 changes)",
    )
    parser.add_argument("--skip-scenarios", action="store_true", help="the durability-cost part only")
    args = parser.parse_args()
    if 4 * args.plugs * args.messages >= 60_000:
        raise SystemExit("one publisher's message ids wrap at 65,535: use fewer --plugs or --messages")

    tmp = Path(tempfile.mkdtemp(prefix="anbu-noloss-"))
    tag = uuid.uuid4().hex[:8]
    pg_name = f"anbu_noloss_{tag}"
    url = fresh_postgres(args.pg_server, pg_name) if args.pg_server else f"sqlite:///{tmp / 'noloss.db'}"
    report: dict[str, Any] = {
        "database": url.split(":")[0],
        "plugs_per_clock": args.plugs,
        "messages_per_plug": args.messages,
    }
    fleet = args.broker_plugs or 4 * args.plugs
    every = autosave_every(fleet)
    report["broker_sized_for_plugs"], report["autosave_interval"] = fleet, every
    broker = Broker(tmp / "broker", durability_lines(tmp / "broker" / "data", every))
    gateway: Gateway | None = None
    engine: Engine | None = None
    try:
        upgrade(url)
        engine = make_engine(url)
        broker.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
        env.update(
            {
                "ANBU_ENV": "dev",
                "ANBU_DATABASE_URL": url,
                "ANBU_MQTT_URL": broker.url,
                "ANBU_MQTT_AUTH": "off",
                "ANBU_DATA_DIR": str(tmp),
                "ANBU_HEALTH_PORT": "0",
                "ANBU_MQTT_CLIENT_ID": f"nl-gw-{tag}",
                "ANBU_MQTT_SESSION_EXPIRY_S": "3600",
                "ANBU_MQTT_NATIVE_PREFIX": f"anbu-{tag}",
                "ANBU_MQTT_TASMOTA_PREFIX": f"tele-{tag}",
                "ANBU_MQTT_SHELLY_GEN1_PREFIX": f"shellies-{tag}",
                "ANBU_MQTT_VENDORS": "native,tasmota,shelly_gen1",
                # Each plug's stream is this benchmark's load, not a flood to cut (gateway/flood.py).
                "ANBU_DEVICE_RATE_BURST": "1000000000",
            }
        )
        gateway = Gateway(env, tmp / "gateway.log")
        gateway.start(START_TIMEOUT_S)
        rig = Rig(broker, gateway, engine, tag, args.plugs, args.messages, args.rate)
        if not args.skip_scenarios:
            report["scenarios"] = {}
            print("outage: a backlog published while the gateway is stopped ...", flush=True)
            report["scenarios"] |= scenario(rig, "outage", lambda _s: None, gateway_down=True)
            print("gateway-kill: a live stream, the gateway SIGKILLed three times ...", flush=True)
            report["scenarios"] |= scenario(rig, "gateway-kill", gateway_kills(rig))
            print("broker-kill: a live stream, Mosquitto SIGKILLed once ...", flush=True)
            report["scenarios"] |= scenario(rig, "broker-kill", broker_kill(rig))
            print("backlog-broker-kill: Mosquitto SIGKILLed with a backlog queued ...", flush=True)
            report["scenarios"] |= scenario(
                rig,
                "backlog-broker-kill",
                lambda _s: None,
                gateway_down=True,
                while_queued=lambda: broker_restart(rig),
            )
        gateway.stop()
        broker.stop()
        if args.cost_messages:
            print(
                f"durability cost: {args.cost_messages} messages queued for an offline session ...",
                flush=True,
            )
            report["durability_cost"] = durability_cost(
                tmp / "cost", args.cost_messages, [int(n) for n in args.cost_intervals.split(",")]
            )
        print(json.dumps(report, indent=2))
    finally:
        if gateway is not None:
            gateway.stop()
        broker.stop()
        if engine is not None:
            engine.dispose()
        if args.pg_server:
            drop_postgres(args.pg_server, pg_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
