"""Ingest benchmark: real Tasmota and Shelly payloads at QoS 1 through Mosquitto into ``anbu gateway``.

Reports, in one run (see docs/benchmarks.md):
  1. reference: a bare paho-mqtt QoS 1 subscriber draining a pre-loaded persistent session;
  2. the gateway draining the same pre-loaded backlog end to end (decoded, stored, watches
     updated, PUBACK after commit), and its ratio to the reference;
  3. publish-to-stored lag p50/p99/max at each ``--lag-rates`` offered load (live, paced);
  4. the gateway process's peak RSS and CPU.

    .venv/bin/python benchmarks/ingest.py [--database-url URL | --pg-server URL] [--edge-every N]

"Drain" mode measures the subscriber alone: the backlog is published (untimed) into the broker's
queue for a disconnected persistent session, then the subscriber connects and is timed from its
first to its last message. The load generator is a raw-socket publisher (benchmarks/mqtt_raw.py),
cheap enough that it does not eat the subscriber's CPU during the lag runs.

Lag is measured from outside the gateway: a monitor reads ``max(reading.id)`` about every 2 ms; the
k-th message counts as stored when that first covers it, and its lag is that instant minus the
instant the publisher actually wrote it to its socket (stamped at each write). The publisher is
paced (message k is due at t0 + k / rate); how late it was against that schedule is reported on
its own (``publisher_late_*``): it is the load generator's delay, not the gateway's.
"""

from __future__ import annotations

import argparse
import getpass
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, func, text
from sqlmodel import Session, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.mqtt_raw import RawPublisher, encode_publish  # noqa: E402
from core.db import make_engine, session_scope  # noqa: E402
from core.enums import DeviceStatus, DeviceVendor  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import ActivityEdge, Device, Household, Organisation, Team  # noqa: E402
from gateway.reading_time import MAX_FIRST_BEHIND as MAX_CLOCK_BEHIND  # noqa: E402

DEVICES_PER_VENDOR = 100
READING_INTERVAL_S = 30  # a plug's report period (distinct device timestamps)
TOTAL_FROM = datetime(2024, 1, 5, 10, 0, tzinfo=UTC).timestamp()  # Tasmota's TotalStartTime below
# The newest device time of a run stays this far before the run's start: never "in the future".
NEWEST_MARGIN = timedelta(minutes=1)
# The oldest readings are received this long after the plan is made, at most (the whole benchmark).
RUN_TIME_SLACK = timedelta(hours=1)


# --- load --------------------------------------------------------------------------------------


def messages(
    tag: str, start_index: int, count: int, base: datetime, edge_every: int = 1
) -> list[tuple[str, bytes]]:
    """Alternating real payload shapes: Tasmota SENSOR and Shelly Gen2 NotifyStatus, distinct timestamps.

    Each plug reports every ``READING_INTERVAL_S`` and switches on/off every ``edge_every`` of
    its readings (120: on for an hour, off for an hour; 1: every reading is an edge, the most
    edge rows, though a plug back on within 30 min of stopping is the same programme, so then
    only its first switch-on moves the watch).
    """
    out = []
    for k in range(start_index, start_index + count):
        device, step = k % DEVICES_PER_VENDOR, k // DEVICES_PER_VENDOR  # one (device, ts) per message
        power = 1520.4 if (step // edge_every) % 2 else 0.0
        ts = base + timedelta(seconds=READING_INTERVAL_S * step)
        if k % 2 == 0:
            local = ts.astimezone(UTC) + timedelta(hours=9)
            body: dict[str, Any] = {
                "Time": local.strftime("%Y-%m-%dT%H:%M:%S") + "+09:00",
                "ENERGY": {
                    "TotalStartTime": "2024-01-05T10:00:00",
                    # Rising with device time across runs, never repeating (a counter a plug keeps).
                    "Total": round(6.294 + (ts.timestamp() - TOTAL_FROM) / READING_INTERVAL_S / 1000, 3),
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


def run_span(count: int) -> timedelta:
    """Device time a run of *count* messages covers: one step of ``READING_INTERVAL_S`` per
    ``DEVICES_PER_VENDOR`` messages (see :func:`messages`), the last step included."""
    steps = -(-count // DEVICES_PER_VENDOR)
    return timedelta(seconds=READING_INTERVAL_S * steps)


def run_bases(counts: list[int], now: datetime) -> list[datetime]:
    """The first device time of each run, back to back, oldest first, the newest reading
    ``NEWEST_MARGIN`` before *now*.

    Every run's readings are distinct from every other run's: a (device, time) seen twice is a
    duplicate the gateway stores once, and the run waiting for it times out (issue 15.6: three
    lag rates two hours apart, each spanning up to 8 h, stored 49,000 of 50,000 and then timed
    out; the last run reached into the future, where device times are not believed). All of
    them must also lie within the window the gateway believes a device clock (``MAX_CLOCK_BEHIND``).
    """
    spans = [run_span(c) for c in counts]
    oldest = now - NEWEST_MARGIN - sum(spans, timedelta(0))
    if now - oldest > MAX_CLOCK_BEHIND - RUN_TIME_SLACK:
        hours = (now - oldest).total_seconds() / 3600
        raise SystemExit(
            f"the runs need {hours:.1f} h of distinct device time, more than the "
            f"{(MAX_CLOCK_BEHIND - RUN_TIME_SLACK).total_seconds() / 3600:.0f} h the gateway believes "
            "a device clock (less an hour for the benchmark itself): "
            "use fewer --messages, lower --lag-rates or a shorter --lag-seconds"
        )
    bases, at = [], oldest
    for span in spans:
        bases.append(at)
        at += span
    return bases


def _publish_process(
    broker: str, msgs: list[tuple[str, bytes]], rate: float, up: mp.Queue[Any], down: mp.Queue[float]
) -> None:
    parts = urlsplit(broker)
    packets = [encode_publish(t, p, k % 65535 + 1) for k, (t, p) in enumerate(msgs)]
    pub = RawPublisher(
        parts.hostname or "127.0.0.1",
        parts.port or 1883,
        f"bench-pub-{uuid.uuid4().hex[:8]}",
        parts.username,
        parts.password,
    )
    up.put("ready")  # encoded and connected: only now does the schedule start
    writes = pub.send(packets, rate, down.get(timeout=300))
    ok = pub.wait_acked(len(packets), 120)
    pub.close()
    up.put((ok, writes))


def publish(broker: str, msgs: list[tuple[str, bytes]], rate: float = 0.0) -> tuple[mp.Process, float]:
    """Publish from a separate process (its CPU is not ours): (process, scheduled time of message 0)."""
    up: mp.Queue[Any] = mp.Queue()
    down: mp.Queue[float] = mp.Queue()
    proc = mp.Process(target=_publish_process, args=(broker, msgs, rate, up, down))
    proc.start()
    if up.get(timeout=300) != "ready":
        raise SystemExit("publisher failed to start")
    start_at = time.time() + 0.2
    down.put(start_at)
    proc.up = up  # type: ignore[attr-defined]
    return proc, start_at


def finish(proc: mp.Process) -> list[tuple[int, float]]:
    """Wait for the publisher; returns its socket writes: (index of the first message, wall time)."""
    ok, writes = proc.up.get(timeout=300)  # type: ignore[attr-defined]
    proc.join()
    if not ok:
        raise SystemExit("the broker did not acknowledge every published message")
    return list(writes)


def _pct_ms(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank, rounded down) of sorted seconds, in ms."""
    return round(values[max(0, int(len(values) * q) - 1)] * 1000, 1)


def lag_figures(
    samples: list[tuple[float, int]],
    writes: list[tuple[int, float]],
    count: int,
    start_at: float,
    rate: float,
) -> dict[str, float]:
    """Lag of each of *count* messages: first sample whose stored count covers it − its actual send.

    *samples*: (wall time, messages stored so far), in time order. *writes*: the publisher's socket
    writes, (index of the first message in the write, wall time just before it), in order. Also
    reports the publisher's lateness (actual send − scheduled ``start_at + index / rate``) and, for
    comparison with older runs, the lag counted from the schedule (which charges the publisher's
    lateness to the gateway). Messages never seen stored are missing from the lag lists (``stored``).
    """
    lags, from_schedule, late = [], [], []
    j = w = 0
    for index in range(count):
        while w + 1 < len(writes) and writes[w + 1][0] <= index:
            w += 1
        sent_at = writes[w][1]
        scheduled = start_at + index / rate
        late.append(sent_at - scheduled)
        while j < len(samples) and samples[j][1] < index + 1:
            j += 1
        if j < len(samples):
            lags.append(samples[j][0] - sent_at)
            from_schedule.append(samples[j][0] - scheduled)
    lags.sort()
    from_schedule.sort()
    late.sort()
    out: dict[str, float] = {"stored": len(lags)}
    if lags:
        out |= {
            "lag_p50_ms": _pct_ms(lags, 0.5),
            "lag_p99_ms": _pct_ms(lags, 0.99),
            "lag_max_ms": _pct_ms(lags, 1.0),
            "lag_from_schedule_p99_ms": _pct_ms(from_schedule, 0.99),
        }
    out |= {
        "publisher_late_p50_ms": _pct_ms(late, 0.5),
        "publisher_late_p99_ms": _pct_ms(late, 0.99),
        "publisher_late_max_ms": _pct_ms(late, 1.0),
    }
    return out


# --- reference: a bare paho QoS 1 subscriber ----------------------------------------------------


def _bare_subscriber(
    broker: str,
    client_id: str,
    filters: list[str],
    total: int,
    subscribed: EventType,
    result: mp.Queue[tuple[int, float, float, float]],
) -> None:
    parts = urlsplit(broker)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    times: list[float] = []
    client.on_message = lambda _c, _u, _m: times.append(time.time())
    client.on_subscribe = lambda *_a: subscribed.set()
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.subscribe([(f, 1) for f in filters])
    cpu0 = time.process_time()
    deadline = time.time() + 300
    while len(times) < total and time.time() < deadline:
        client.loop(0.1)
    cpu = time.process_time() - cpu0
    client.disconnect()
    result.put((len(times), times[0] if times else 0.0, times[-1] if times else 0.0, cpu))


def reference_drain(
    broker: str, tag: str, msgs: list[tuple[str, bytes]], publisher: str | None = None
) -> tuple[float, float]:
    """Pre-load a persistent session with *msgs*, then time a stock paho QoS 1 subscriber draining it.

    *broker* is the subscriber's URL, *publisher* the load generator's (with --auth each has its own
    credentials)."""
    filters = [f"tele-{tag}/+/SENSOR", f"shelly-{tag}/+/events/rpc"]
    client_id = f"bench-ref-{tag}"
    # 1: create the session (subscribe, disconnect) so the broker queues for it.
    parts = urlsplit(broker)
    setup = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if parts.username:
        setup.username_pw_set(parts.username, parts.password)
    setup.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    setup.loop_start()
    info = setup.subscribe([(f, 1) for f in filters])
    time.sleep(0.5)
    setup.disconnect()
    setup.loop_stop()
    del info
    # 2: pre-load the backlog (untimed).
    finish(publish(publisher or broker, msgs)[0])
    # 3: drain.
    subscribed = mp.Event()
    result: mp.Queue[tuple[int, float, float, float]] = mp.Queue()
    sub = mp.Process(
        target=_bare_subscriber, args=(broker, client_id, filters, len(msgs), subscribed, result)
    )
    sub.start()
    received, first, last, cpu = result.get(timeout=400)
    sub.join()
    print(f"  bare subscriber drained {received}/{len(msgs)} ({cpu / max(received, 1) * 1e6:.1f} µs CPU/msg)")
    if received != len(msgs) or last <= first:
        return float("nan"), float("nan")
    return (received - 1) / (last - first), cpu / received * 1e6


# --- the gateway ---------------------------------------------------------------------------------


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


class Gateway:
    """An ``anbu gateway`` process with its own log; started and stopped by the benchmark."""

    def __init__(self, env: dict[str, str], log_path: Path, repo: Path = REPO) -> None:
        self._env = env
        self._log_path = log_path
        self._repo = repo
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        offset = self._log_path.stat().st_size if self._log_path.exists() else 0
        with self._log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from anbu.cli import main; raise SystemExit(main(['gateway']))"],
                cwd=self._repo,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.time() + timeout_s
        while b"subscribed" not in self._log_path.read_bytes()[offset:]:
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"gateway did not subscribe; see {self._log_path}")
            time.sleep(0.02)

    def cpu_s(self) -> float:
        assert self.proc is not None
        return process_cpu_s(self.proc.pid)

    def thread_cpu_s(self) -> dict[str, float]:
        """CPU seconds per thread id (``/proc/<pid>/task``): where the gateway's CPU goes."""
        assert self.proc is not None
        out: dict[str, float] = {}
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                name = task.name  # Python 3.11 does not name OS threads: the tid it is
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended meanwhile
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            out[name] = out.get(name, 0.0) + cpu
        return out

    def peak_rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


class StoredMonitor:
    """Reads how many readings are stored, cheaply: max(id), on its own autocommit connection.

    Not core.db's engine: its SQLite BEGIN IMMEDIATE would take the write lock from the gateway.
    """

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self._conn = self._engine.connect()

    def max_id(self) -> int:
        return int(self._conn.execute(text("SELECT coalesce(max(id), 0) FROM reading")).scalar_one())

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


def gateway_drain(
    gateway: Gateway, monitor: StoredMonitor, broker: str, msgs: list[tuple[str, bytes]]
) -> tuple[float, float, list[float]]:
    """Stop the (subscribed) gateway, pre-load its session, start it, time the drain.

    Returns (msg/s, µs CPU/msg, µs CPU/msg of each thread, largest first).
    """
    gateway.stop()
    finish(publish(broker, msgs)[0])
    base = monitor.max_id()
    target = base + len(msgs)
    gateway.start()
    cpu0 = gateway.cpu_s()
    threads0 = gateway.thread_cpu_s()
    first_at, first_n = 0.0, 0
    give_up = time.time() + 600
    while True:
        n = monitor.max_id()
        now = time.time()
        if not first_at and n > base:
            first_at, first_n = now, n
        if n >= target:
            break
        if now > give_up:
            raise SystemExit(f"gateway stored only {n - base} of {len(msgs)}")
        time.sleep(0.002)
    cpu = gateway.cpu_s() - cpu0
    per_thread = [
        round((cpu_s - threads0.get(tid, 0.0)) / len(msgs) * 1e6, 1)
        for tid, cpu_s in gateway.thread_cpu_s().items()
    ]
    threads = sorted((cpu for cpu in per_thread if cpu > 0), reverse=True)
    return (target - first_n) / (now - first_at), cpu / len(msgs) * 1e6, threads


def lag_run(
    gateway: Gateway, monitor: StoredMonitor, broker: str, msgs: list[tuple[str, bytes]], rate: float
) -> dict[str, float]:
    base = monitor.max_id()
    cpu0 = gateway.cpu_s()
    proc, start_at = publish(broker, msgs, rate)
    samples: list[tuple[float, int]] = []
    deadline = start_at + len(msgs) / rate + 120
    while time.time() < deadline:
        n = monitor.max_id() - base
        samples.append((time.time(), n))
        if n >= len(msgs):
            break
        time.sleep(0.002)
    writes = finish(proc)
    cpu = gateway.cpu_s() - cpu0
    figures = lag_figures(samples, writes, len(msgs), start_at, rate)
    if figures["stored"] < len(msgs):
        print(f"  only {figures['stored']} of {len(msgs)} stored within the time limit")
    return {
        "offered_msgs_per_s": rate,
        "messages": len(msgs),
        **figures,
        "gateway_cpu_us_per_msg": round(cpu / len(msgs) * 1e6, 1),
    }


# --- setup -------------------------------------------------------------------------------------


def private_broker(tmp: Path, nodelay: bool) -> tuple[subprocess.Popen[bytes], str]:
    """A Mosquitto of our own: unlimited queues (the default 1000 drops a backlog), loopback only."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\npersistence false\n"
        + ("set_tcp_nodelay true\n" if nodelay else ""),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    return proc, f"mqtt://127.0.0.1:{port}"


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class BrokerUrls:
    """Who connects with what: one URL for everyone without auth; with --auth each its own account."""

    publisher: str
    reference: str
    gateway: str
    gateway_client_id: str | None = None  # with --auth: the account's (the broker's ACL names it)


def private_dynsec_broker(tmp: Path, nodelay: bool, tag: str) -> tuple[subprocess.Popen[bytes], BrokerUrls]:
    """The same broker with authentication and topic ACLs on: Mosquitto's dynamic-security plugin as
    `anbu broker mosquitto-config` sets it up (deny by default, use_username_as_clientid), the
    gateway's account and role from it; a publisher allowed the bench topics and a reference reader
    with the gateway's role. Queues and persistence as private_broker, so only authorisation differs."""
    from core.settings import Settings
    from gateway.auth.acl import TopicAcl
    from gateway.auth.dynsec import GATEWAY_ROLE, client_entry, role
    from gateway.auth.mosquitto_config import DEFAULT_PLUGIN, Listener, generate
    from gateway.auth.passwords import generate_password, hash_password

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        _env_file=None,
        mqtt_tasmota_prefix=f"tele-{tag}",
        mqtt_shelly_prefix=f"shelly-{tag}",
        mqtt_vendors="tasmota,shelly",
    )
    root = tmp / "dynsec"
    generated = generate(root, settings, [], [Listener("127.0.0.1", port)], user=getpass.getuser())
    config_path = root / "dynamic-security.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    pub_password, ref_password = generate_password(), generate_password()
    config["roles"].append(role("bench-publisher", TopicAcl((f"tele-{tag}/#", f"shelly-{tag}/#"), ())))
    config["clients"] += [
        client_entry("bench-pub", hash_password(pub_password), ["bench-publisher"]),
        client_entry("bench-ref", hash_password(ref_password), [GATEWAY_ROLE]),
    ]
    config_path.write_text(json.dumps(config), encoding="utf-8")
    conf = tmp / "mosquitto-auth.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nper_listener_settings false\nallow_anonymous false\n"
        f"plugin {DEFAULT_PLUGIN}\nplugin_opt_config_file {config_path}\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\npersistence false\n"
        + ("set_tcp_nodelay true\n" if nodelay else "")
        + f"listener {port} 127.0.0.1\nuse_username_as_clientid true\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    base = f"127.0.0.1:{port}"
    return proc, BrokerUrls(
        publisher=f"mqtt://bench-pub:{pub_password}@{base}",
        reference=f"mqtt://bench-ref:{ref_password}@{base}",
        gateway=generated.env["ANBU_MQTT_URL"],
        gateway_client_id=generated.env["ANBU_MQTT_CLIENT_ID"],
    )


def fresh_postgres(server_url: str, name: str) -> str:
    admin = create_engine(server_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rstrip("/") + "/" + name


def drop_postgres(server_url: str, name: str) -> None:
    admin = create_engine(server_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="an empty database; default: a fresh SQLite file in a temp dir"
    )
    parser.add_argument(
        "--pg-server",
        help="PostgreSQL server URL without database (postgresql+psycopg://postgres@127.0.0.1:5432): "
        "a fresh database is created for the run and dropped after",
    )
    parser.add_argument("--messages", type=int, default=100_000, help="backlog size of the drain runs")
    parser.add_argument(
        "--edge-every", type=int, default=1, help="a plug switches every N readings (1 = worst)"
    )
    parser.add_argument("--lag-rates", default="20000", help="comma-separated offered loads (msg/s)")
    parser.add_argument("--lag-seconds", type=float, default=5.0)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--gateway-repo",
        help="run the gateway from another checkout (e.g. `git archive HEAD` unpacked) for an A/B comparison",
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        help="authentication and topic ACLs on: Mosquitto's dynamic-security plugin, every client its own account",
    )
    parser.add_argument(
        "--broker-nagle",
        action="store_true",
        help="leave Mosquitto's set_tcp_nodelay off (its default): small packets wait for Nagle",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="anbu-bench-"))
    tag = uuid.uuid4().hex[:8]
    pg_name = f"anbu_bench_{tag}"
    if args.auth:
        broker_proc, urls = private_dynsec_broker(tmp, not args.broker_nagle, tag)
    else:
        broker_proc, broker_url = private_broker(tmp, not args.broker_nagle)
        urls = BrokerUrls(broker_url, broker_url, broker_url)
    broker = urls.publisher  # the load generator's URL everywhere below
    if args.pg_server:
        url = fresh_postgres(args.pg_server, pg_name)
    else:
        url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    gateway: Gateway | None = None
    monitor: StoredMonitor | None = None
    try:
        prepare_database(url, tag)
        rates = [float(r) for r in args.lag_rates.split(",")]
        lag_counts = [int(rate * args.lag_seconds) for rate in rates]
        # The drain, then each lag run: distinct device times, oldest first (run_bases).
        drain_base, *lag_bases = run_bases([args.messages, *lag_counts], datetime.now(UTC))
        drain_msgs = messages(tag, 0, args.messages, drain_base, args.edge_every)
        report: dict[str, Any] = {
            "database": url.split(":")[0],
            "messages": args.messages,
            "edge_every": args.edge_every,
            "broker_tcp_nodelay": not args.broker_nagle,
            "auth": args.auth,
        }
        if not args.skip_reference:
            print(f"reference: stock paho QoS 1 subscriber draining {args.messages} messages ...", flush=True)
            # The same messages the gateway drains (a bare subscriber stores nothing).
            broker_cpu = process_cpu_s(broker_proc.pid)
            ref_rate, ref_cpu = reference_drain(urls.reference, tag, drain_msgs, publisher=broker)
            # The broker's CPU for each message taken in and handed out (the ACL checks are here).
            report["broker_cpu_us_per_msg_reference"] = round(
                (process_cpu_s(broker_proc.pid) - broker_cpu) / len(drain_msgs) * 1e6, 1
            )
            report["reference_msgs_per_s"] = round(ref_rate)
            report["reference_cpu_us_per_msg"] = round(ref_cpu, 1)

        env = {k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}
        env.update(
            {
                "ANBU_DATABASE_URL": url,
                "ANBU_MQTT_URL": urls.gateway,
                "ANBU_MQTT_AUTH": "required" if args.auth else "off",
                "ANBU_DATA_DIR": str(tmp),
                "ANBU_MQTT_CLIENT_ID": urls.gateway_client_id or f"bench-gw-{tag}",
                "ANBU_MQTT_TASMOTA_PREFIX": f"tele-{tag}",
                "ANBU_MQTT_SHELLY_PREFIX": f"shelly-{tag}",
                "ANBU_MQTT_VENDORS": "tasmota,shelly",
                # Each simulated plug sends hundreds of messages within seconds: the benchmark
                # measures ingest, not the flood limit (whose per-message check it still pays).
                "ANBU_DEVICE_RATE_BURST": "1000000000",
            }
        )
        gateway = Gateway(env, tmp / "gateway.log", Path(args.gateway_repo) if args.gateway_repo else REPO)
        monitor = StoredMonitor(url)
        gateway.start()  # creates the persistent session the backlog is queued for
        print(f"gateway: draining {args.messages} messages ...", flush=True)
        broker_cpu = process_cpu_s(broker_proc.pid)
        gw_rate, gw_cpu, gw_threads = gateway_drain(gateway, monitor, broker, drain_msgs)
        report["broker_cpu_us_per_msg_gateway"] = round(
            (process_cpu_s(broker_proc.pid) - broker_cpu) / len(drain_msgs) * 1e6, 1
        )
        report["gateway_msgs_per_s"] = round(gw_rate)
        report["gateway_cpu_us_per_msg"] = round(gw_cpu, 1)
        report["gateway_thread_cpu_us_per_msg"] = gw_threads
        if "reference_msgs_per_s" in report:
            report["ratio"] = round(gw_rate / report["reference_msgs_per_s"], 3)
        report["lag"] = []
        for rate, count, base in zip(rates, lag_counts, lag_bases, strict=True):
            print(f"lag: {rate:.0f} msg/s offered for {args.lag_seconds} s ...", flush=True)
            report["lag"].append(
                lag_run(gateway, monitor, broker, messages(tag, 0, count, base, args.edge_every), rate)
            )
        report["gateway_peak_rss_mb"] = round(gateway.peak_rss_mb(), 1)
        gateway.stop()
        with Session(make_engine(url)) as s:
            report["activity_edges"] = s.exec(select(func.count()).select_from(ActivityEdge)).one()
        print(json.dumps(report, indent=2))
    finally:
        if gateway is not None:
            gateway.stop()
        if monitor is not None:
            monitor.close()
        broker_proc.terminate()
        broker_proc.wait(10)
        if args.pg_server:
            drop_postgres(args.pg_server, pg_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
