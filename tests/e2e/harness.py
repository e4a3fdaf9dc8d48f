"""A whole Anbu in one test process: broker, gateway, API server, emulator; ticks driven by the test."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy import Engine

from anomaly import sweeper
from api.app import create_app
from core.clock import SYSTEM_CLOCK
from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings
from gateway.service import Gateway
from notifier import outbox
from notifier.transports.factory import make_transport
from simulator.twilio_emulator import TwilioEmulator
from tests.factories import TEST_SECRET_KEY
from tests.ticks import run_notifier_ticks

# The emulator signs webhooks with this token and our API checks them with it.
E2E_TWILIO_TOKEN = "e2e-twilio-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_api(settings: Settings, engine: Engine, port: int) -> Iterator[None]:
    """Our app on 127.0.0.1:*port* in a thread for as long as the block runs (started first)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine, SYSTEM_CLOCK), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert server.started, "API server did not start"
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class System:
    settings: Settings
    engine: Engine
    emulator: TwilioEmulator
    gateway: Gateway

    def tick(self) -> None:
        """One round of every periodic job, as the scheduler would run them."""
        sweeper.tick(self.engine, SYSTEM_CLOCK, self.settings)
        run_notifier_ticks(self.engine, SYSTEM_CLOCK, self.settings)
        outbox.tick(self.engine, SYSTEM_CLOCK, self.settings, make_transport(self.settings))

    def run_until(self, done: Callable[[], bool], timeout: float, every: float = 0.3) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            if done():
                return True
            time.sleep(every)
        return done()


@contextmanager
def running_system(engine: Engine, *, mqtt_url: str, embedded: bool) -> Iterator[System]:
    """Start everything that runs on its own (gateway, API, emulator); the caller drives ticks."""
    api_port = free_port()
    emulator = TwilioEmulator(DEV_TWILIO_ACCOUNT_SID, E2E_TWILIO_TOKEN)
    emulator.start()
    overrides: dict[str, Any] = {
        "env": "test",
        "secret_key": TEST_SECRET_KEY,
        "http_port": api_port,
        "public_base_url": f"http://127.0.0.1:{api_port}",
        "mqtt_client_id": f"anbu-e2e-{uuid.uuid4().hex[:8]}",
        "mqtt_session_expiry_s": 60,
        "twilio_account_sid": DEV_TWILIO_ACCOUNT_SID,
        "twilio_auth_token": E2E_TWILIO_TOKEN,
        "twilio_from_number": "+15005550006",
        "twilio_api_base": emulator.base_url,
        "transport": "twilio",
    }
    if embedded:
        overrides["mqtt_embedded_port"] = int(mqtt_url.rsplit(":", 1)[1])
    else:
        overrides["mqtt_url"] = mqtt_url
    settings = Settings(**overrides)
    try:
        with serving_api(settings, engine, api_port):
            gateway = Gateway(settings, engine, SYSTEM_CLOCK)
            gateway.start()
            try:
                assert gateway.wait_connected(10), "gateway did not connect to the broker"
                yield System(settings=settings, engine=engine, emulator=emulator, gateway=gateway)
            finally:
                gateway.stop()
    finally:
        emulator.stop()
