"""A private Mosquitto 2.0 configured by `anbu broker mosquitto-config`, with the dynamic-security plugin.

Started by the test on a free loopback port, persisting into the test's directory; killable with
SIGKILL and restartable. ``DynsecTrustedBroker`` puts a gateway behind it and changes identities
the way `anbu devices add|rotate|revoke` does (database, then Mosquitto live).
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import Clock
from core.models import MqttCredential
from core.settings import Settings
from gateway.auth import credentials
from gateway.auth.acl import device_acl
from gateway.auth.dynsec import Identity
from gateway.auth.live import announce_issued, announce_revoked
from gateway.auth.mosquitto_config import DEFAULT_PLUGIN, Generated, Listener, generate
from gateway.service import Gateway
from tests.integration.gateway.mqtt_helpers import wait_until
from tests.integration.gateway.trust_harness import IdentityChanges

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None or not DEFAULT_PLUGIN.exists(),
    reason="mosquitto or its dynamic-security plugin is not installed",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def active_identities(engine: Engine, settings: Settings) -> list[Identity]:
    with Session(engine) as session:
        rows = session.exec(select(MqttCredential).where(col(MqttCredential.revoked_at).is_(None))).all()
        return [
            Identity(r.username, r.password_hash, device_acl(r.vendor, r.external_id, settings)) for r in rows
        ]


class MosquittoProcess:
    """A Mosquitto of our own on a loopback *port*, from *config*, logging to ``root/mosquitto.log``.

    ``stop`` is SIGTERM (Mosquitto saves its persistence file on the way out), ``kill`` SIGKILL
    (it saves nothing since its last autosave); either way ``start`` brings it back."""

    def __init__(self, root: Path, port: int, config: Path) -> None:
        self.root = root
        self.port = port
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._accepts, timeout=15, what="private mosquitto listening")

    def _accepts(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited ({self.proc.returncode}): {self.log()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no chance to save anything on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


class DynsecMosquitto(MosquittoProcess):
    """The broker process. ``generate`` writes its configuration from the database's identities."""

    def __init__(
        self, root: Path, settings: Settings, engine: Engine, *, gateways: int = 1, **listener: Any
    ) -> None:
        port = free_port()
        self.listener = Listener("127.0.0.1", port, **listener)
        self.generated: Generated = generate(
            root,
            settings,
            active_identities(engine, settings),
            [self.listener],
            user=getpass.getuser(),
            gateways=gateways,
        )
        super().__init__(root, port, self.generated.files[0])

    @property
    def env(self) -> dict[str, str]:
        return self.generated.env


@dataclass
class DynsecTrustedBroker(IdentityChanges):
    """Mosquitto + dynamic-security, a gateway behind it, identities changed live."""

    engine: Engine
    clock: Clock
    base_settings: Settings
    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    gateway: Gateway = field(init=False)
    settings: Settings = field(init=False)
    _stoppers: list[Callable[[], Any]] = field(default_factory=list)

    def start(self) -> None:
        self.mosquitto = DynsecMosquitto(self.root, self.base_settings, self.engine)
        self.mosquitto.start()
        self._stoppers.append(self.mosquitto.stop)
        self.port = self.mosquitto.port
        env = self.mosquitto.env
        self.settings = self.base_settings.model_copy(
            update={
                "mqtt_url": env["ANBU_MQTT_URL"],
                "mqtt_client_id": env["ANBU_MQTT_CLIENT_ID"],
                "mqtt_dynsec_url": env["ANBU_MQTT_DYNSEC_URL"],
            }
        )
        self.gateway = Gateway(self.settings, self.engine, self.clock)
        self.gateway.start()
        self._stoppers.append(self.gateway.stop)
        assert self.gateway.wait_connected(15), self.mosquitto.log()[-2000:]

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            stop()

    def issued(self, issued: credentials.Issued, *, rotated: bool) -> None:
        announce_issued(self.settings, issued, rotated=rotated)

    def revoked(self, username: str) -> None:
        assert announce_revoked(self.settings, username) is None
