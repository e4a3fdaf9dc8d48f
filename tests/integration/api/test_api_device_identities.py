"""The dashboard's device identities: issue (or claim), rotate, revoke; the password once, never stored."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, MqttCredential
from gateway.auth.passwords import verify_password
from tests.factories import make_device
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]
BASE = "/api/v1/devices/identities"


def test_issue_rotate_revoke(app_client: TestClient, world: World, auth: Auth, engine: Engine) -> None:
    admin = auth("admin")
    with session_scope(engine) as s:
        make_device(s, household=None, external_id="seen-on-the-wire")
    issued = app_client.post(
        BASE, json={"vendor": "native", "external_id": "seen-on-the-wire"}, headers=admin
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["claimed"] is True and body["identity"]["username"] == "native:seen-on-the-wire"
    password = body["password"]
    assert any(password in line for line in body["setup"]["lines"])
    identity_id = body["identity"]["id"]
    with Session(engine) as s:
        row = s.get(MqttCredential, identity_id)
        assert (
            row is not None
            and password not in row.password_hash
            and verify_password(password, row.password_hash)
        )

    again = app_client.post(BASE, json={"vendor": "native", "external_id": "seen-on-the-wire"}, headers=admin)
    [problem] = again.json()["detail"]
    assert again.status_code == 422 and "already has credentials" in problem["msg"]
    # A code the dashboard words, on the field it is about.
    assert problem["type"] == "device_identity_refused" and problem["loc"] == ["body", "external_id"]
    bad = app_client.post(BASE, json={"vendor": "shelly", "external_id": "tele/x"}, headers=admin)
    assert bad.status_code == 422 and "reads as" in bad.json()["detail"][0]["msg"]

    rotated = app_client.post(f"{BASE}/{identity_id}/rotate", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["password"] != password
    listed = app_client.get(BASE, headers=admin).json()
    assert listed["total"] == 1 and "password" not in listed["items"][0]

    revoked = app_client.post(f"{BASE}/{identity_id}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["broker_told"] is True
    assert revoked.json()["identity"]["revoked_at"] is not None
    assert app_client.post(f"{BASE}/{identity_id}/rotate", headers=admin).json()["code"] == (
        "device_identity_state"
    )
    assert app_client.post(f"{BASE}/{identity_id}/revoke", headers=admin).status_code == 409
    missing = app_client.post(f"{BASE}/99999/revoke", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "device_identity_not_found"
    with Session(engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.object_type == AuditObject.MQTT_IDENTITY)).all()
        assert [e.action for e in entries] == [
            AuditAction.ISSUE_CREDENTIALS,
            AuditAction.ROTATE_CREDENTIALS,
            AuditAction.REVOKE_CREDENTIALS,
        ]
        assert {e.object_id for e in entries} == {identity_id}
