"""`anbu broker mosquitto-config` and `anbu broker sync` against a private Mosquitto with the plugin."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from anbu.cli import main
from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor
from core.models import MqttCredential
from gateway.auth import credentials, dynsec
from gateway.auth.credentials import CredentialError
from gateway.auth.live import announce_issued, sync
from tests.factories import prod_settings
from tests.integration.gateway.mosquitto_harness import (
    DynsecMosquitto,
    active_identities,
    free_port,
    needs_mosquitto,
)
from tests.integration.gateway.mqtt_helpers import unique
from tests.integration.gateway.trust_harness import connect

BASE = prod_settings()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `anbu` command run in tmp_path on an upgraded SQLite database of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANBU_DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    assert main(["db", "upgrade"]) == 0


@pytest.mark.usefixtures("cli_database")
def test_the_cli_writes_the_three_files_privately_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "add", "kettle", "--vendor", "tasmota"]) == 0
    out = tmp_path / "broker"
    argv = [
        "broker",
        "mosquitto-config",
        "--out",
        str(out),
        "--listen",
        "127.0.0.1:1884",
        "--host",
        "10.0.0.5",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    conf = (out / "mosquitto.conf").read_text()
    for line in (
        "allow_anonymous false",
        "use_username_as_clientid true",
        "autosave_on_changes true",
        "autosave_interval 1",
        "persistence true",
        "listener 1884 127.0.0.1",
    ):
        assert line in conf.splitlines(), line
    config = json.loads((out / "dynamic-security.json").read_text())
    assert config["defaultACLAccess"] == dynsec.DEFAULT_ACL_ACCESS
    assert {c["username"] for c in config["clients"]} == {"anbu-admin", "anbu-gateway", "tasmota:kettle"}
    env = dict(
        line.split("=", 1)
        for line in (out / "anbu.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert env["ANBU_MQTT_URL"].startswith("mqtt://anbu-gateway:") and env["ANBU_MQTT_URL"].endswith(
        "@10.0.0.5:1884"
    )
    assert env["ANBU_MQTT_DYNSEC_URL"].startswith("mqtt://anbu-admin:")
    for private in ("dynamic-security.json", "anbu.env"):
        assert stat.S_IMODE((out / private).stat().st_mode) == 0o600, private
    assert main(argv) == 2 and "--force" in capsys.readouterr().err
    assert main(["broker", "mosquitto-config", "--out", str(tmp_path / "x"), "--listen", ""]) == 2


@pytest.mark.usefixtures("cli_database")
def test_the_cli_sizes_for_the_fleet_it_is_told_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["broker", "mosquitto-config", "--listen", "127.0.0.1:1884"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--plugs", "6000"]) == 0
    assert "sized for 6000 plugs: saved every 100 change(s)" in capsys.readouterr().out
    assert "autosave_interval 100" in (tmp_path / "b" / "mosquitto.conf").read_text().splitlines()
    # No --plugs: sized for the identities there are (none yet: one plug, every change saved).
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    assert "sized for 1 plugs: saved every 1 change(s)" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "d"), "--plugs", "0"]) == 2
    assert "--plugs must be at least 1" in capsys.readouterr().err


@needs_mosquitto
def test_an_add_mosquitto_refuses_is_undone(
    tmp_path: Path, sqlite_engine: Engine, clock: ManualClock
) -> None:
    settings = BASE.model_copy(update={"mqtt_dynsec_url": f"mqtt://anbu-admin:wrong@127.0.0.1:{free_port()}"})
    with pytest.raises(CredentialError, match="nothing changed"), session_scope(sqlite_engine) as s:
        issued = credentials.add(s, DeviceVendor.NATIVE, "plug", settings=settings, now=clock.now())
        announce_issued(settings, issued)
    with Session(sqlite_engine) as s:
        assert s.exec(select(MqttCredential)).all() == []


@needs_mosquitto
def test_sync_removes_what_anbu_revoked_and_reports_what_mosquitto_lacks(
    tmp_path: Path, sqlite_engine: Engine, clock: ManualClock
) -> None:
    with session_scope(sqlite_engine) as s:
        kept = credentials.add(s, DeviceVendor.TASMOTA, "kept", settings=BASE, now=clock.now())
        gone = credentials.add(s, DeviceVendor.TASMOTA, "gone", settings=BASE, now=clock.now())
    broker = DynsecMosquitto(tmp_path / "m", BASE, sqlite_engine)  # knows both from its initial file
    broker.start()
    settings = BASE.model_copy(update={"mqtt_dynsec_url": broker.env["ANBU_MQTT_DYNSEC_URL"]})
    try:
        plug = connect("127.0.0.1", broker.port, username=gone.username, password=gone.password)
        assert plug.connack == 0
        # Revoked while Mosquitto was not told (say it was down), and one added behind its back.
        with session_scope(sqlite_engine) as s:
            credentials.revoke(s, credentials.find(s, gone.username), now=clock.now())
            credentials.add(s, DeviceVendor.NATIVE, "late", settings=BASE, now=clock.now())
        report = sync(settings, active_identities(sqlite_engine, settings))
        assert report.removed == ["tasmota:gone"] and report.missing == ["native:late"]
        assert report.refreshed == 0  # roles already match the settings
        assert plug.disconnected.wait(10), "the revoked plug is still connected"
        plug.close()
        assert connect("127.0.0.1", broker.port, username=gone.username, password=gone.password).connack != 0
        still = connect("127.0.0.1", broker.port, username=kept.username, password=kept.password)
        assert still.connack == 0
        still.close()
        # Topic settings changed: the device roles follow.
        moved = settings.model_copy(update={"mqtt_tasmota_prefix": unique("tele")})
        assert sync(moved, active_identities(sqlite_engine, moved)).refreshed == 1
    finally:
        broker.stop()
