from __future__ import annotations

import asyncio
import os
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from simulator.twilio_emulator import TwilioEmulator

from .fake_anbu_webhooks import FakeAnbuWebhooks

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test_auth_token_0123456789abcdef"
OUR_NUMBER = "+15005550006"


class EmulatorHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The real requests-based client, with *.twilio.com rewritten to the emulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname and parts.hostname.endswith(".twilio.com"):
            url = self.base_url + parts.path + ("?" + parts.query if parts.query else "")
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


@pytest.fixture
def webhooks() -> Iterator[FakeAnbuWebhooks]:
    app = FakeAnbuWebhooks(AUTH_TOKEN)
    app.start()
    yield app
    app.stop()


@pytest.fixture
def emulator() -> Iterator[TwilioEmulator]:
    emu = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, webhook_timeout_s=0.5)
    emu.start()
    yield emu
    emu.stop()


def twilio_client(emulator: TwilioEmulator, token: str = AUTH_TOKEN) -> Client:
    return Client(ACCOUNT_SID, token, environment={}, http_client=EmulatorHttpClient(emulator.base_url))


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return twilio_client(emulator)


@pytest.fixture
def mqtt_broker() -> Iterator[tuple[str, int]]:
    """(host, port) of ANBU_TEST_MQTT_URL if set, else an amqtt broker started in-process on a free port."""
    url = os.environ.get("ANBU_TEST_MQTT_URL")
    if url:
        parts = urllib.parse.urlsplit(url)
        yield parts.hostname or "127.0.0.1", parts.port or 1883
        return
    yield from _in_process_amqtt()


def _in_process_amqtt() -> Iterator[tuple[str, int]]:
    from amqtt.broker import Broker

    ready = threading.Event()
    state: dict[str, object] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()

        async def main() -> None:
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}},
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                    },
                }
            )
            await broker.start()
            state["port"] = broker._servers["default"].instance.sockets[0].getsockname()[1]
            done = asyncio.Event()
            state["stop"] = lambda: loop.call_soon_threadsafe(done.set)
            ready.set()
            await done.wait()
            await broker.shutdown()

        try:
            loop.run_until_complete(main())
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=serve, name="amqtt-test-broker", daemon=True)
    thread.start()
    assert ready.wait(10) and "port" in state, "in-process amqtt broker did not start"
    yield "127.0.0.1", int(state["port"])  # type: ignore[call-overload]
    state["stop"]()  # type: ignore[operator]
    thread.join(timeout=10)
