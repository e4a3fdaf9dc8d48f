"""Runs a district of simulated households against an MQTT broker, in real time.

One paho client per plug (so each plug has its own Last Will, as real devices do). Every
``tick_s`` the runner asks each household's routine for each plug's power *now* and publishes
a reading when the power changed or the report interval has passed (QoS 1). Availability is
published retained on every connect (``Online``/``online``) and set as the Last Will
(``Offline``/``offline``); a graceful :meth:`Simulator.stop` publishes it too.

Stopper households stop at ``stop_at`` (a datetime) or ``stop_after_s`` seconds after start.
``time_source`` gives "now" (default: the wall clock) so tests can drive the simulation.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from simulator.appliances import profile
from simulator.households import DeviceSpec, HouseholdSpec, power_at
from simulator.plugs import MqttMessage, SimulatedPlug

log = logging.getLogger(__name__)

POWER_CHANGE_W = 2.0  # like Tasmota's PowerDelta: report at once when power moves by more than this
MAX_QUEUED_PER_PLUG = 1000  # a plug's memory is small: while the broker is away, older data is lost


@dataclass(frozen=True)
class SimulatorStats:
    published: int  # handed to the MQTT client (sent, or queued until the broker is back)
    acked: int  # acknowledged by the broker (QoS 1 PUBACK)
    failed: int  # refused by the client (queue full, error)
    connected: int  # plugs currently connected


@dataclass
class _Plug:
    household: HouseholdSpec
    device: DeviceSpec
    plug: SimulatedPlug
    client: mqtt.Client
    last_power_w: float | None = None
    last_report_at: datetime | None = None
    last_at: datetime | None = None
    connected: bool = False


class Simulator:
    def __init__(
        self,
        households: Sequence[HouseholdSpec],
        *,
        mqtt_host: str,
        mqtt_port: int,
        report_interval_s: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_ca_file: str | None = None,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        time_source: Callable[[], datetime] | None = None,
        stop_at: datetime | None = None,
        stop_after_s: float | None = None,
        tick_s: float = 1.0,
        client_id_prefix: str = "anbu-sim",
        initial_energy_wh: Mapping[str, float] | None = None,
    ) -> None:
        """``initial_energy_wh``: meter readings to continue from, by device external id (e.g.
        where seeded history ended, so counters do not jump); others get a stable made-up value.
        ``credentials``: each plug's own MQTT (username, password) by external id, as a real plug is
        configured with its own (plugs not listed use ``username``/``password``). ``tls_ca_file``:
        the CA that signed the broker's certificate (default: the system's)."""
        if report_interval_s <= 0 or tick_s <= 0:
            raise ValueError("report_interval_s and tick_s must be positive")
        if stop_at is not None and stop_at.tzinfo is None:
            raise ValueError("stop_at must be aware")
        self.households = list(households)
        self._host, self._port = mqtt_host, mqtt_port
        self._interval = timedelta(seconds=report_interval_s)
        self._credentials = (username, password)
        self._plug_credentials = dict(credentials or {})
        self._tls = tls
        self._tls_ca_file = tls_ca_file
        self._now = time_source or (lambda: datetime.now(UTC))
        self._stop_at, self._stop_after_s = stop_at, stop_after_s
        self._tick_s = tick_s
        self._client_id_prefix = client_id_prefix
        self._initial_energy_wh = dict(initial_energy_wh or {})
        self._plugs: list[_Plug] = []
        self._step_lock = threading.Lock()  # one step at a time (held while calling paho)
        self._counts_lock = threading.Lock()  # counters and flags; never held while calling paho
        self._published = self._acked = self._failed = 0
        self._stopping = threading.Event()
        self._lifecycle_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, *, wait_connected_s: float = 10.0) -> None:
        """Connects every plug (waiting up to ``wait_connected_s``) and starts publishing.

        If the broker is not reachable the plugs keep retrying in the background, like devices.
        """
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        started = self._now()
        self._apply_stop_time(started)
        self._plugs = [self._make_plug(h, d, started) for h in self.households for d in h.devices]
        for state in self._plugs:
            state.client.connect_async(self._host, self._port, keepalive=30)
            state.client.loop_start()
        deadline = time.monotonic() + wait_connected_s
        while self.stats().connected < len(self._plugs) and time.monotonic() < deadline:
            self._stopping.wait(0.05)
        if self.stats().connected < len(self._plugs):
            log.warning("only %d of %d plugs connected so far", self.stats().connected, len(self._plugs))
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="anbu-simulator", daemon=True)
        self._thread.start()
        log.info("simulating %d households, %d plugs", len(self.households), len(self._plugs))

    def stop(self, *, announce_offline: bool = True) -> None:
        """Stops publishing; by default each plug says it is going offline before disconnecting."""
        self._stopping.set()
        with self._lifecycle_lock:  # stop() may race with run_forever()'s own stop(): one does the work
            if self._thread is not None:
                self._thread.join(timeout=10)
                self._thread = None
            pending = [
                (state, self._publish(state, state.plug.offline()))
                for state in self._plugs
                if announce_offline and state.connected
            ]
            for _state, info in pending:
                if info is not None:
                    with contextlib.suppress(RuntimeError, ValueError):  # the Last Will says the same
                        info.wait_for_publish(timeout=2.0)
            for state in self._plugs:
                state.client.disconnect()
                state.client.loop_stop()
            self._plugs = []

    def run_forever(self) -> None:
        """For ``anbu simulate``: run until Ctrl-C, SIGTERM, or :meth:`stop` from another thread."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: self._stopping.set())
        self.start()
        try:
            while not self._stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            log.info("interrupted")
        finally:
            self.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def stats(self) -> SimulatorStats:
        with self._counts_lock:
            return SimulatorStats(
                published=self._published,
                acked=self._acked,
                failed=self._failed,
                connected=sum(1 for p in self._plugs if p.connected),
            )

    # -- publishing ---------------------------------------------------------------------------

    def step(self, now: datetime | None = None) -> int:
        """Publishes whatever is due at ``now`` (default: the time source); returns how many."""
        with self._step_lock:
            now = now or self._now()
            sent = 0
            for state in self._plugs:
                try:
                    sent += self._step_plug(state, now)
                except Exception:  # one broken plug must not stop the others
                    log.exception("plug %s: step failed", state.device.external_id)
            return sent

    def _step_plug(self, state: _Plug, now: datetime) -> int:
        if state.last_at is not None and now < state.last_at:
            return 0  # the time source went backwards: wait until it catches up
        power = power_at(state.household, state.device, now)
        periodic = state.last_report_at is None or now - state.last_report_at >= self._interval
        changed = state.last_power_w is None or abs(power - state.last_power_w) > POWER_CHANGE_W
        if not (periodic or changed):
            return 0
        message = state.plug.reading(now, power, periodic=periodic)
        state.last_at, state.last_power_w = now, power
        if periodic:
            state.last_report_at = now
        return 1 if self._publish(state, message) is not None else 0

    def _publish(self, state: _Plug, message: MqttMessage) -> mqtt.MQTTMessageInfo | None:
        info = state.client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        with self._counts_lock:
            if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self._published += 1  # NO_CONN with QoS 1: queued until reconnected
                return info
            self._failed += 1
        log.warning("plug %s: publish refused (%s)", state.device.external_id, info.rc)
        return None

    def _loop(self) -> None:
        while not self._stopping.wait(self._tick_s):
            try:
                self.step()
            except Exception:  # keep simulating whatever happens
                log.exception("simulation step failed")

    # -- set-up -------------------------------------------------------------------------------

    def _apply_stop_time(self, started: datetime) -> None:
        moment = self._stop_at
        if moment is None and self._stop_after_s is not None:
            moment = started + timedelta(seconds=self._stop_after_s)
        if moment is not None:
            self.households = [h.stopping_at(moment) if h.is_stopper else h for h in self.households]
            log.info("stopper households stop at %s", moment.isoformat())

    def _make_plug(self, household: HouseholdSpec, device: DeviceSpec, started: datetime) -> _Plug:
        plug = SimulatedPlug(
            device.vendor,
            device.external_id,
            started_at=started,
            timezone=household.timezone,
            initial_energy_wh=self._initial_energy_wh.get(
                device.external_id, _initial_energy_wh(device.external_id)
            ),
            power_factor=profile(device.appliance).power_factor,
        )
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{self._client_id_prefix}-{device.external_id}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        username, password = self._plug_credentials.get(device.external_id, self._credentials)
        if username is not None:
            client.username_pw_set(username, password)
        if self._tls:
            client.tls_set(ca_certs=self._tls_ca_file)
        will = plug.offline()
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.max_queued_messages_set(MAX_QUEUED_PER_PLUG)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        state = _Plug(household, device, plug, client)
        client.on_connect = lambda c, _u, _f, rc, _p: self._on_connect(state, rc)
        client.on_disconnect = lambda c, _u, _f, rc, _p: self._on_disconnect(state, rc)
        client.on_publish = lambda c, _u, _mid, _rc, _p: self._on_publish()
        return state

    def _on_connect(self, state: _Plug, reason_code: Any) -> None:
        if reason_code.is_failure:
            log.warning("plug %s: connection refused (%s)", state.device.external_id, reason_code)
            return
        with self._counts_lock:
            state.connected = True
        self._publish(state, state.plug.online())  # retained, as Tasmota does on every connect

    def _on_disconnect(self, state: _Plug, reason_code: Any) -> None:
        with self._counts_lock:
            state.connected = False
        if not self._stopping.is_set():
            log.warning("plug %s: disconnected (%s)", state.device.external_id, reason_code)

    def _on_publish(self) -> None:
        with self._counts_lock:
            self._acked += 1


def _initial_energy_wh(external_id: str) -> float:
    """A plausible meter reading for a plug that has been in use for months (stable per device)."""
    digest = hashlib.sha256(external_id.encode()).digest()
    return 5000.0 + int.from_bytes(digest[:4], "big") % 45000
