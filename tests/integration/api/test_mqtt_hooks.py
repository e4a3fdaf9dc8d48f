"""The HTTP auth hooks, called as EMQX 5 calls them (docs/security.md has the EMQX configuration).

EMQX's HTTP authenticator and authorizer POST a JSON body rendered from the configured template
(``{"username": "${username}", "password": "${password}", "clientid": "${clientid}"}`` and
``{"username": ..., "clientid": ..., "topic": "${topic}", "action": "${action}"}``), with the
configured headers, and read ``result`` from a 200 JSON answer (anything else is "ignore").
An absent username or password is rendered as "".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor
from core.settings import Settings
from gateway.auth import credentials
from tests.factories import prod_settings

SECRET = "hook-secret-0123456789abcdef"
GATEWAY_URL = "mqtt://anbu-gateway:gateway-password-0123456789@emqx:1883"
EMQX_HEADERS = {"Content-Type": "application/json", "X-Anbu-Hook-Secret": SECRET}


def _settings(**overrides: Any) -> Settings:
    return prod_settings(**{"mqtt_url": GATEWAY_URL, "mqtt_hook_secret": SECRET, **overrides})


@pytest.fixture
def emqx(sqlite_engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), sqlite_engine, clock)) as client:
        yield client


def _add(engine: Engine, clock: ManualClock, vendor: DeviceVendor, device: str) -> credentials.Issued:
    with session_scope(engine) as s:
        return credentials.add(s, vendor, device, settings=_settings(), now=clock.now())


def authn(client: TestClient, username: str = "", password: str = "", clientid: str = "c1") -> str:
    body = {"username": username, "password": password, "clientid": clientid}
    response = client.post("/api/v1/mqtt/authn", json=body, headers=EMQX_HEADERS)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    result: str = response.json()["result"]
    assert response.json()["is_superuser"] is False
    return result


def authz(client: TestClient, username: str, topic: str, action: str, clientid: str = "c1") -> str:
    body = {"username": username, "clientid": clientid, "topic": topic, "action": action}
    response = client.post("/api/v1/mqtt/authz", json=body, headers=EMQX_HEADERS)
    assert response.status_code == 200
    return str(response.json()["result"])


def test_only_known_devices_and_the_gateway_connect(
    emqx: TestClient, sqlite_engine: Engine, clock: ManualClock
) -> None:
    plug = _add(sqlite_engine, clock, DeviceVendor.TASMOTA, "kettle")
    assert authn(emqx, plug.username, plug.password) == "allow"
    assert authn(emqx) == "deny"  # anonymous
    wrong = plug.password[:-1] + ("y" if plug.password.endswith("x") else "x")  # never the right one
    assert authn(emqx, plug.username, wrong) == "deny"
    assert authn(emqx, "tasmota:nobody", plug.password) == "deny"
    assert authn(emqx, "anbu-gateway", "gateway-password-0123456789", "anbu-gateway") == "allow"
    assert authn(emqx, "anbu-gateway", "wrong", "anbu-gateway") == "deny"
    # The gateway's client ids are reserved, even for a device with valid credentials.
    assert authn(emqx, plug.username, plug.password, clientid="anbu-gateway") == "deny"
    assert authn(emqx, plug.username, plug.password, clientid="anbu-gateway-2") == "deny"


def test_a_device_publishes_and_reads_only_its_own_topics(
    emqx: TestClient, sqlite_engine: Engine, clock: ManualClock
) -> None:
    plug = _add(sqlite_engine, clock, DeviceVendor.TASMOTA, "kettle").username
    assert authz(emqx, plug, "tele/kettle/SENSOR", "publish") == "allow"
    assert authz(emqx, plug, "tele/victim/SENSOR", "publish") == "deny"
    assert authz(emqx, plug, "anbu/victim/reading", "publish") == "deny"
    assert authz(emqx, plug, "cmnd/kettle/#", "subscribe") == "allow"
    for stolen in ("#", "tele/#", "tele/+/SENSOR", "cmnd/+/POWER", "$share/g/tele/+/SENSOR"):
        assert authz(emqx, plug, stolen, "subscribe") == "deny", stolen


def test_the_gateway_reads_every_device_topic_and_publishes_only_probes(emqx: TestClient) -> None:
    for topic_filter in (
        "tele/+/SENSOR",
        "anbu/+/reading",
        "$share/anbu/zigbee2mqtt/#",
        "anbu-gateway/probe/g1",
    ):
        assert authz(emqx, "anbu-gateway", topic_filter, "subscribe") == "allow", topic_filter
    assert authz(emqx, "anbu-gateway", "anbu-gateway/probe/g1", "publish") == "allow"
    assert authz(emqx, "anbu-gateway", "tele/kettle/SENSOR", "publish") == "deny"


def test_a_revoked_device_loses_its_rights_at_once(
    emqx: TestClient, sqlite_engine: Engine, clock: ManualClock
) -> None:
    plug = _add(sqlite_engine, clock, DeviceVendor.NATIVE, "plug")
    assert authz(emqx, plug.username, "anbu/plug/reading", "publish") == "allow"
    with session_scope(sqlite_engine) as s:
        credentials.revoke(s, credentials.find(s, plug.username), now=clock.now())
    emqx.app.state.mqtt_directory.refresh()  # type: ignore[attr-defined]  # what the next request a second later does
    assert authz(emqx, plug.username, "anbu/plug/reading", "publish") == "deny"
    assert authn(emqx, plug.username, plug.password) == "deny"


def test_without_a_secret_nothing_is_answered(
    emqx: TestClient, sqlite_engine: Engine, clock: ManualClock
) -> None:
    body = {"username": "", "password": "", "clientid": "c"}
    for headers in ({}, {"X-Anbu-Hook-Secret": "wrong-secret-0123456789"}):
        assert emqx.post("/api/v1/mqtt/authn", json=body, headers=headers).status_code == 403
        response = emqx.post(
            "/api/v1/mqtt/authz", json={**body, "topic": "#", "action": "subscribe"}, headers=headers
        )
        assert response.status_code == 403


def test_the_hooks_are_off_without_the_setting(sqlite_engine: Engine, clock: ManualClock) -> None:
    with TestClient(create_app(_settings(mqtt_hook_secret=None), sqlite_engine, clock)) as client:
        assert client.post("/api/v1/mqtt/authn", json={}, headers=EMQX_HEADERS).status_code == 404


def test_with_auth_off_anonymous_devices_publish_but_read_nothing(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    with TestClient(create_app(_settings(env="dev", mqtt_auth="off"), sqlite_engine, clock)) as client:
        assert authn(client) == "allow"
        assert authz(client, "", "tele/anything/SENSOR", "publish") == "allow"
        assert authz(client, "", "#", "subscribe") == "deny"
        assert authn(client, clientid="anbu-gateway") == "deny"


def test_a_malformed_request_is_a_clear_422(emqx: TestClient) -> None:
    response = emqx.post(
        "/api/v1/mqtt/authz", json={"username": "x", "topic": "t", "action": "fly"}, headers=EMQX_HEADERS
    )
    assert response.status_code == 422
