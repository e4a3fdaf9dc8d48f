"""`anbu devices add|rotate|revoke`: the password is shown once, only a hash is kept, every change is audited."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from anbu.cli import main
from core.db import make_engine, session_scope
from core.enums import AuditAction, AuditObject, DeviceStatus
from core.models import AuditEntry, Device, MqttCredential
from gateway.auth.passwords import verify_password
from tests.factories import make_device, make_household
from tests.integration.cli.conftest import run as _run


@pytest.fixture
def identity_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANBU_MQTT_DEVICE_URL", "mqtt://192.168.0.10:1883")
    assert main(["db", "upgrade"]) == 0
    return db_url


def test_add_prints_credentials_once_with_the_vendors_setup_line(
    identity_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = _run(capsys, "devices", "add", "kettle-hh0042", "--vendor", "tasmota", "--json")
    assert code == 0
    issued = json.loads(out)
    assert issued["username"] == "tasmota:kettle-hh0042" and len(issued["password"]) == 32
    [line] = issued["setup"]["lines"]
    assert line == (
        "Backlog MqttHost 192.168.0.10; MqttPort 1883; MqttUser tasmota:kettle-hh0042; "
        f"MqttPassword {issued['password']}; Topic kettle-hh0042"
    )
    with Session(make_engine(identity_db)) as s:
        row = s.exec(select(MqttCredential)).one()
        assert issued["password"] not in row.password_hash and verify_password(
            issued["password"], row.password_hash
        )
        [entry] = s.exec(select(AuditEntry)).all()
        assert (entry.action, entry.object_type, entry.object_id, entry.user_id, entry.client) == (
            AuditAction.ISSUE_CREDENTIALS,
            AuditObject.MQTT_IDENTITY,
            row.id,
            0,
            "console",
        )


def test_add_claims_a_pending_device_and_assigns_it(
    identity_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with session_scope(make_engine(identity_db)) as s:
        household_id = make_household(s).id
        device_id = make_device(s, household=None, external_id="plug-7").id
    capsys.readouterr()
    code, out, _ = _run(
        capsys,
        "devices",
        "add",
        "plug-7",
        "--vendor",
        "native",
        "--household",
        str(household_id),
        "--appliance",
        "kettle",
    )
    assert code == 0 and "claimed pending device native:plug-7" in out and "password:" in out
    with Session(make_engine(identity_db)) as s:
        device = s.get(Device, device_id)
        assert device is not None and device.status == DeviceStatus.ASSIGNED


def test_rotate_and_revoke(identity_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "devices", "add", "node1", "--vendor", "esphome", "--json")
    first = json.loads(_run(capsys, "devices", "add", "node2", "--vendor", "esphome", "--json")[1])
    code, out, _ = _run(capsys, "devices", "rotate", "esphome:node2", "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["password"] != first["password"]
    assert 'password: "' + rotated["password"] + '"' in "\n".join(rotated["setup"]["lines"])
    code, out, _ = _run(capsys, "devices", "revoke", "node2", "--vendor", "esphome")
    assert code == 0 and "revoked" in out
    code, _, err = _run(capsys, "devices", "rotate", "esphome:node2")
    assert code == 2 and "revoked" in err
    with Session(make_engine(identity_db)) as s:
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()]
    assert actions == [
        AuditAction.ISSUE_CREDENTIALS,
        AuditAction.ISSUE_CREDENTIALS,
        AuditAction.ROTATE_CREDENTIALS,
        AuditAction.REVOKE_CREDENTIALS,
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "tele/x", "--vendor", "shelly"], "reads as"),
        (["add", "k", "--vendor", "native", "--appliance", "tv"], "--appliance needs --household"),
        (["add", "k", "--vendor", "native", "--household", "999", "--appliance", "tv"], "no household"),
        (["rotate", "nobody"], "VENDOR:ID"),
        (["revoke", "tasmota:nobody"], "no MQTT identity"),
    ],
)
def test_errors_are_clear_and_change_nothing(
    identity_db: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, "devices", *argv)
    assert code == 2 and message in err
    with Session(make_engine(identity_db)) as s:
        assert s.exec(select(MqttCredential)).all() == [] and s.exec(select(AuditEntry)).all() == []
