"""Ingest benchmark: real Tasmota and Shelly payloads at QoS 1 through a real broker into the gateway.

Reports, in one run (see docs/benchmarks.md):
  1. reference: a bare paho-mqtt QoS 1 subscriber's receive rate on the same broker;
  2. the gateway's sustained end-to-end rate (``anbu gateway`` process: decoded, stored, watches
     updated, acked), and its ratio to the reference;
  3. publish-to-stored lag p50/p99 at a fixed offered load;
  4. the gateway process's peak RSS.
Publishers run in separate processes. Devices are assigned to households, so ON edges move watches.

    .venv/bin/python benchmarks/ingest.py [--broker mqtt://127.0.0.1:1883] [--database-url URL]

Lag is measured from outside the gateway: a monitor samples the stored row count every ~2 ms; the
k-th message counts as stored when the count first reaches k, and its lag is that instant minus its
scheduled publish time (publishers are paced, so the k-th message is published at t0 + k / rate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func
from sqlmodel import Session, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.db import make_engine, session_scope  # noqa: E402
from core.enums import DeviceStatus, DeviceVendor  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import ActivityEdge, Device, Household, Organisation, Reading, Team  # noqa: E402

DEVICES_PER_VENDOR = 100


def _client(broker: str, client_id: str) -> mqtt.Client:
    parts = urlsplit(broker)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    return client


def messages(tag: str, start_index: int, count: int, base: datetime) -> list[tuple[str, bytes]]:
    """Alternating real payload shapes: Tasmota SENSOR and Shelly Gen2 NotifyStatus, distinct timestamps."""
    out = []
    for k in range(start_index, start_index + count):
        device, step = k % DEVICES_PER_VENDOR, k // DEVICES_PER_VENDOR  # one (device, ts) per message
        power = 1520.4 if step % 2 else 0.0  # on/off: every other reading is an activity edge
        ts = base + timedelta(seconds=step)
        if k % 2 == 0:
            local = ts.astimezone(UTC) + timedelta(hours=9)
            body = {
                "Time": local.strftime("%Y-%m-%dT%H:%M:%S") + "+09:00",
                "ENERGY": {
                    "TotalStartTime": "2024-01-05T10:00:00",
                    "Total": 6.294 + step / 1000,
                    "Yesterday": 5.34,
                    "Today": 0.954,
                    "Period": 0,
                    "Power": power,
                    "ApparentPower": power,
                    "ReactivePower": 0,
                    "Factor": 0.99,
                    "Voltage": 227,
                    "Current": 0.1,
                },
            }
            out.append(
                (f"tele-{tag}/tasmota_{device:06X}/SENSOR", json.dumps(body, separators=(",", ":")).encode())
            )
        else:
            dev = f"shellyplusplugs-{device:012x}"
            body = {
                "src": dev,
                "dst": f"{dev}/events",
                "method": "NotifyStatus",
                "params": {"ts": ts.timestamp(), "switch:0": {"id": 0, "apower": power, "current": 0.071}},
            }
            out.append((f"shelly-{tag}/{dev}/events/rpc", json.dumps(body).encode()))
    return out


def publisher(
    broker: str, tag: str, index: int, count: int, stride: int, base_iso: str, rate: float, start_at: float
) -> None:
    """Publish messages index, index+stride, ... (``rate`` per second for this process, 0 = flat out)."""
    base = datetime.fromisoformat(base_iso)
    all_msgs = messages(tag, 0, count * stride, base)[index::stride]
    client = _client(broker, f"bench-pub-{tag}-{index}")
    client.loop_start()
    while time.time() < start_at:
        time.sleep(0.001)
    infos = []
    for i, (topic, payload) in enumerate(all_msgs):
        if rate:
            due = start_at + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def run_publishers(broker: str, tag: str, total: int, procs: int, base: datetime, rate: float = 0.0) -> float:
    start_at = time.time() + 1.0
    per = total // procs
    ps = [
        mp.Process(
            target=publisher, args=(broker, tag, i, per, procs, base.isoformat(), rate / procs, start_at)
        )
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return start_at


def bare_subscriber(
    broker: str, tag: str, total: int, ready: EventType, result: mp.Queue[tuple[int, float, float]]
) -> None:
    client = _client(broker, f"bench-sub-{tag}")
    times: list[float] = []

    def on_message(_c: object, _u: object, _m: object) -> None:
        times.append(time.time())

    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    client.subscribe([(f"tele-{tag}/+/SENSOR", 1), (f"shelly-{tag}/+/events/rpc", 1)])
    deadline = time.time() + 60
    while len(times) < total and time.time() < deadline:
        client.loop(0.1)
    client.disconnect()
    result.put((len(times), times[0] if times else 0.0, times[-1] if times else 0.0))


def reference_rate(broker: str, total: int, procs: int) -> float:
    tag = uuid.uuid4().hex[:8]
    ready = mp.Event()
    result: mp.Queue[tuple[int, float, float]] = mp.Queue()
    sub = mp.Process(target=bare_subscriber, args=(broker, tag, total, ready, result))
    sub.start()
    ready.wait(10)
    run_publishers(broker, tag, total, procs, datetime.now(UTC) - timedelta(hours=1))
    received, first, last = result.get(timeout=120)
    print(f"  bare subscriber received {received}/{total}", flush=True)
    sub.join()
    return received / (last - first) if received == total and last > first else float("nan")


def prepare_database(url: str, tag: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as s:
        org = Organisation(name=f"bench {tag}")
        s.add(org)
        s.flush()
        team = Team(organisation_id=org.id, name="bench")  # type: ignore[arg-type]
        s.add(team)
        s.flush()
        for d in range(DEVICES_PER_VENDOR):
            h = Household(team_id=team.id, code=f"B{tag[:6]}-{d:04d}", created_at=datetime.now(UTC))  # type: ignore[arg-type]
            s.add(h)
            s.flush()
            for vendor, ext in (
                (DeviceVendor.TASMOTA, f"tasmota_{d:06X}"),
                (DeviceVendor.SHELLY, f"shellyplusplugs-{d:012x}"),
            ):
                s.add(
                    Device(
                        vendor=vendor,
                        external_id=ext,
                        household_id=h.id,
                        status=DeviceStatus.ASSIGNED,
                        appliance="kettle",
                        created_at=datetime.now(UTC),
                    )
                )
    engine.dispose()


def stored(engine: object) -> int:
    with Session(engine) as s:  # type: ignore[arg-type]
        return int(s.exec(select(func.count()).select_from(Reading)).one())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument(
        "--lag-rate", type=float, default=20_000.0, help="offered load for the lag test (msg/s)"
    )
    parser.add_argument("--lag-seconds", type=float, default=5.0)
    parser.add_argument(
        "--private-broker",
        action="store_true",
        help="start a Mosquitto of our own with max_queued_messages raised (the default 1000 drops a flat-out stream)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="anbu-bench-"))
    broker_proc = None
    if args.private_broker:
        import getpass
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        conf = tmp / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n",
            encoding="utf-8",
        )
        broker_proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(0.5)
        args.broker = f"mqtt://127.0.0.1:{port}"
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    tag = uuid.uuid4().hex[:8]
    prepare_database(url, tag)

    print(f"reference: bare paho QoS1 subscriber, {args.messages} messages ...", flush=True)
    reference = reference_rate(args.broker, args.messages, args.publishers)

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
    env.update(
        {
            "ANBU_DATABASE_URL": url,
            "ANBU_MQTT_URL": args.broker,
            "ANBU_DATA_DIR": str(tmp),
            "ANBU_MQTT_CLIENT_ID": f"bench-gw-{tag}",
            "ANBU_MQTT_TASMOTA_PREFIX": f"tele-{tag}",
            "ANBU_MQTT_SHELLY_PREFIX": f"shelly-{tag}",
            "ANBU_MQTT_VENDORS": "tasmota,shelly",
        }
    )
    log = (tmp / "gateway.log").open("wb")
    gw = subprocess.Popen(
        [sys.executable, "-c", "from anbu.cli import main; raise SystemExit(main(['gateway']))"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    engine = make_engine(url)
    try:
        deadline = time.time() + 30
        while b"subscribed" not in (tmp / "gateway.log").read_bytes():
            if time.time() > deadline:
                raise SystemExit("gateway did not subscribe")
            time.sleep(0.05)

        print(f"gateway: {args.messages} messages flat out ...", flush=True)
        base = datetime.now(UTC) - timedelta(hours=20)
        threading.Thread(
            target=run_publishers, args=(args.broker, tag, args.messages, args.publishers, base), daemon=True
        ).start()
        t0 = time.time() + 1.0  # publishers start together one second after launch
        give_up = time.time() + 300
        while stored(engine) < args.messages:
            if time.time() > give_up:
                raise SystemExit(f"gateway stored only {stored(engine)} of {args.messages}")
            time.sleep(0.01)
        gateway_rate = args.messages / (time.time() - t0)

        print(f"lag: {args.lag_rate:.0f} msg/s offered for {args.lag_seconds} s ...", flush=True)
        lag_total = int(args.lag_rate * args.lag_seconds)
        lag_base = datetime.now(UTC) - timedelta(hours=10)
        before = stored(engine)
        samples: list[tuple[float, int]] = []
        box: list[float] = []
        pub = threading.Thread(
            target=lambda: box.append(
                run_publishers(args.broker, tag, lag_total, args.publishers, lag_base, args.lag_rate)
            ),
            daemon=True,
        )
        pub.start()
        deadline = time.time() + args.lag_seconds + 60
        while time.time() < deadline:
            n = stored(engine) - before
            samples.append((time.time(), n))
            if n >= lag_total:
                break
            time.sleep(0.002)
        pub.join()
        start_at = box[0]
        lags, j = [], 0
        for k in range(1, lag_total + 1):
            while j < len(samples) and samples[j][1] < k:
                j += 1
            if j == len(samples):
                break
            lags.append(samples[j][0] - (start_at + (k - 1) / args.lag_rate))
        lags.sort()
        with open(f"/proc/{gw.pid}/status") as fh:
            rss_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    finally:
        gw.terminate()
        gw.wait(30)
        log.close()
    with Session(engine) as s:
        edges = s.exec(select(func.count()).select_from(ActivityEdge)).one()
    report = {
        "database": url.split(":")[0],
        "messages": args.messages,
        "publisher_processes": args.publishers,
        "reference_msgs_per_s": round(reference),
        "gateway_msgs_per_s": round(gateway_rate),
        "ratio": round(gateway_rate / reference, 3),
        "lag_offered_msgs_per_s": args.lag_rate,
        "lag_stored": len(lags),
        "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
        "lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1] * 1000, 1) if lags else None,
        "gateway_peak_rss_mb": round(rss_kb / 1024, 1),
        "activity_edges": edges,
    }
    print(json.dumps(report, indent=2))
    if broker_proc is not None:
        broker_proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
