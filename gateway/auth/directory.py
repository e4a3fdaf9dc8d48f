"""The brokers' view of the MQTT identities: an in-memory copy of ``mqtt_credential``, kept fresh.

A broker must answer "who is this?" at every connect without a database round trip in its event
loop (and without handing a flood of made-up usernames one query each). So a thread polls the one
``mqtt_credential_revision`` row (every ``poll_s``, default 1 s) and, when it moved, reads only the
rows changed since: an add, rotation or revocation from any process (CLI, API) reaches the broker
within about a second. Rotated and revoked usernames are reported to ``on_invalidated`` so the
broker can close their sessions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.enums import DeviceVendor
from core.models import MqttCredential
from core.settings import Settings
from gateway.auth.acl import TopicAcl, device_acl
from gateway.auth.credentials import current_revision

log = logging.getLogger(__name__)

POLL_S = 1.0


@dataclass(frozen=True)
class DeviceIdentity:
    username: str
    vendor: DeviceVendor
    external_id: str
    password_hash: str
    acl: TopicAcl

    @property
    def device(self) -> tuple[DeviceVendor, str] | None:
        """(vendor, id) the identity speaks for; None for a Zigbee2MQTT bridge (it speaks for many)."""
        return None if self.vendor == DeviceVendor.ZIGBEE2MQTT else (self.vendor, self.external_id)


class CredentialDirectory:
    """Thread-safe lookups (a dict replaced whole on change); start() runs the poller."""

    def __init__(self, engine: Engine, settings: Settings, *, poll_s: float = POLL_S) -> None:
        self._engine = engine
        self._settings = settings
        self._poll_s = poll_s
        self._identities: Mapping[str, DeviceIdentity] = {}
        self._revision = -1
        self._refreshed_at = -float("inf")
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_invalidated: Callable[[set[str]], object] | None = None

    def lookup(self, username: str) -> DeviceIdentity | None:
        return self._identities.get(username)

    @property
    def revision(self) -> int:
        return self._revision

    def __len__(self) -> int:
        return len(self._identities)

    def refresh_if_older(self, max_age_s: float = POLL_S) -> None:
        """For a process without the poller (the API answering HTTP hooks): at most one query a second."""
        now = time.monotonic()
        if now - self._refreshed_at >= max_age_s:
            self._refreshed_at = now
            self.refresh()

    def refresh(self) -> set[str]:
        """Load what changed since the last refresh; returns usernames rotated or revoked meanwhile."""
        with self._refresh_lock, Session(self._engine) as session:
            current = current_revision(session)
            if current == self._revision:
                return set()
            statement = select(MqttCredential)
            if self._revision >= 0:
                statement = statement.where(col(MqttCredential.revision) > self._revision)
            changed = session.exec(statement).all()
            invalidated = self._apply(changed, first=self._revision < 0)
            self._revision = current
        return invalidated

    def _apply(self, rows: Iterable[MqttCredential], *, first: bool) -> set[str]:
        identities = dict(self._identities)
        invalidated: set[str] = set()
        for row in rows:
            old = identities.pop(row.username, None)
            if old is not None and (row.revoked_at is not None or old.password_hash != row.password_hash):
                invalidated.add(row.username)
            if row.revoked_at is None:
                identities[row.username] = DeviceIdentity(
                    username=row.username,
                    vendor=row.vendor,
                    external_id=row.external_id,
                    password_hash=row.password_hash,
                    acl=device_acl(row.vendor, row.external_id, self._settings),
                )
        self._identities = identities
        if not first:
            log.info("MQTT identities reloaded: %d active, %d closed", len(identities), len(invalidated))
        return invalidated

    # --- the poller ----------------------------------------------------------------------------

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="anbu-mqtt-identities", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                invalidated = self.refresh()
            except Exception as exc:  # the database may be away for a while: keep the last copy
                log.warning("could not reload MQTT identities: %s", type(exc).__name__)
                continue
            if invalidated and self.on_invalidated is not None:
                try:
                    self.on_invalidated(invalidated)
                except Exception:
                    log.exception("could not close the sessions of rotated or revoked identities")
