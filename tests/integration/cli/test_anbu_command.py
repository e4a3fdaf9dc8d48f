"""The `anbu` command's admin and tool subcommands, run in-process against a fresh database."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.clock import SystemClock
from core.db import make_engine, session_scope
from core.enums import DeviceStatus, Role
from core.models import Device, RejectedMessage, User
from gateway.status import STATUS_INTERVAL_S, status_row
from tests.factories import EPOCH, make_device, make_household
from tests.integration.cli.conftest import run as _run


def test_db_upgrade_then_stats_json_counts_everything(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "db", "upgrade")[0] == 0
    with session_scope(make_engine(db_url)) as s:
        h = make_household(s)
        plug = make_device(s, household=h, external_id="kettle-1")
        plug.online = False
        make_device(s, household=None)
        for _ in range(2):
            s.add(
                RejectedMessage(
                    received_at=datetime(2026, 3, 2, tzinfo=UTC),
                    topic="anbu/kettle-1/reading",
                    payload_excerpt="{",
                    payload_size=1,
                    reason="invalid JSON",
                    device_key="native:kettle-1",
                )
            )
    code, out, _ = _run(capsys, "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    for key in (
        "households",
        "devices",
        "readings",
        "rejected_messages",
        "open_cases",
        "call_attempts",
        "notifications",
    ):
        assert key in stats
    assert (stats["households"], stats["devices"], stats["pending_devices"], stats["open_cases"]) == (
        1,
        2,
        1,
        0,
    )
    assert stats["rejected_by_device"] == {"native:kettle-1": 2}
    assert (stats["devices_online"], stats["devices_offline"]) == (0, 1)


def test_user_add_hashes_the_password_and_refuses_duplicates(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "db", "upgrade")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    code, out, _ = _run(capsys, "user", "add", "Admin.Lee", "--role", "admin", "--password-stdin")
    assert code == 0 and "created user" in out
    with Session(make_engine(db_url)) as s:
        user = s.exec(select(User)).one()
        assert user.username == "admin.lee" and user.role == Role.ADMIN
        assert "a-long-password" not in user.password_hash and user.password_hash.startswith("$argon2")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    code, _, err = _run(capsys, "user", "add", "admin.lee", "--role", "admin", "--password-stdin")
    assert code == 2 and "already taken" in err


def test_user_add_refuses_a_short_password(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "db", "upgrade")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = _run(capsys, "user", "add", "someone", "--role", "admin", "--password-stdin")
    assert code == 2 and "password" in err


def test_pending_devices_are_listed_and_can_be_assigned(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "db", "upgrade")
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        h = make_household(s)
        pending = make_device(s, household=None, external_id="tasmota_ABCDEF")
        ids = (pending.id, h.id)
    code, out, _ = _run(capsys, "devices", "pending", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert row["external_id"] == "tasmota_ABCDEF" and row["id"] == ids[0]
    code, _, _ = _run(capsys, "devices", "assign", str(ids[0]), str(ids[1]), "--appliance", "kettle")
    assert code == 0
    with Session(engine) as s:
        device = s.get_one(Device, ids[0])
        assert (device.household_id, device.status, device.appliance) == (
            ids[1],
            DeviceStatus.ASSIGNED,
            "kettle",
        )
    assert json.loads(_run(capsys, "devices", "pending", "--json")[1]) == []
    code, _, err = _run(capsys, "devices", "assign", "9999", str(ids[1]))
    assert code == 2 and err.startswith("error:")


def test_pending_devices_are_listed_a_page_at_a_time(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "db", "upgrade")
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        for n in range(5):
            make_device(s, household=None, external_id=f"flood-{n}").last_seen_at = EPOCH + timedelta(
                minutes=n
            )
    code, out, err = _run(capsys, "devices", "pending", "--json", "--limit", "2", "--offset", "1")
    assert code == 0
    assert [row["external_id"] for row in json.loads(out)] == ["flood-3", "flood-2"]
    assert "showing 2-3 of 5 pending devices" in err
    code, out, err = _run(capsys, "devices", "pending")
    assert code == 0 and out.count("flood-") == 5 and err == ""
    with pytest.raises(SystemExit):
        _run(capsys, "devices", "pending", "--limit", "0")


def test_classify_prints_one_line_per_input_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "replies.jsonl"
    lines = [{"text": "네 괜찮아요"}, {"text": "도와주세요 넘어졌어요"}, {"text": "안 괜찮아요"}, {"nope": 1}]
    src.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
        + "\nnot json\n\n"
        + '{"text": "괜찮아요"}\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "classify", "--jsonl", str(src))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r.get("intent") for r in rows[:3]] == ["ok", "emergency", "unwell"]
    assert rows[0]["text"] == "네 괜찮아요" and 0 <= rows[0]["confidence"] <= 1
    # A blank line is answered too, so output line n always belongs to input line n.
    assert "error" in rows[3] and "error" in rows[4] and "blank" in rows[5]["error"]
    assert rows[6]["text"] == "괜찮아요"
    assert len(rows) == 7


def test_classify_reports_self_harm_risk_and_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "replies.jsonl"
    src.write_text('{"text": "죽고 싶어요"}\n{"text": "응"}\n', encoding="utf-8")
    code, out, _ = _run(capsys, "classify", "--jsonl", str(src))
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 0
    assert (first["intent"], first["risk"], first["source"]) == ("emergency", "self_harm", "self_harm_phrase")
    assert second["intent"] != "emergency" and second["risk"] is None and second["source"] == "short_answer"


def test_classify_eval_reports_per_intent_language_and_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ko = tmp_path / "set_ko.csv"
    ko.write_text(
        "text,intent,risk,tags\n괜찮아요,ok,,plain\n살려주세요,emergency,,plain\n"
        "죽고 싶어요,emergency,self_harm,self-harm\n여보세요?,unclear,,plain\n",
        encoding="utf-8",
    )
    en = tmp_path / "set_en.csv"
    en.write_text("text,intent,risk,tags\nI'm fine,ok,,plain\nhelp,emergency,,short\n", encoding="utf-8")
    code, out, _ = _run(capsys, "classify", "--eval", str(ko), str(en), "--split", "all", "--json")
    report = json.loads(out)
    assert code == 0 and report["n"] == 6 and report["accuracy"] == 1.0
    assert report["per_language"]["ko"]["self_harm"] == {
        "precision": 1.0,
        "recall": 1.0,
        "support": 1,
        "emergency_recall": 1.0,
    }
    assert report["per_tag"]["short"] == {"n": 1, "correct": 1}
    assert "mistakes" not in report  # only with --mistakes
    code, out, _ = _run(capsys, "classify", "--eval", str(ko), "--split", "all")
    assert code == 0 and "self_harm" in out and out.startswith("split all: 4 replies")


def test_classify_eval_refuses_a_missing_file_or_an_empty_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "classify", "--eval", str(tmp_path / "nope_ko.csv"))
    assert code == 1 and "cannot read" in err
    empty = tmp_path / "empty_ko.csv"
    empty.write_text("text,intent,risk,tags\n", encoding="utf-8")
    code, _, err = _run(capsys, "classify", "--eval", str(empty))
    assert code == 1 and "no rows" in err


def test_decode_prints_observations_or_errors_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "msgs.jsonl"
    sensor = '{"Time":"2026-03-01T09:00:00","ENERGY":{"Total":6.294,"Power":2635}}'
    rows_in = [
        {"topic": "tele/kettle1/SENSOR", "payload": sensor},
        {"topic": "tele/kettle1/LWT", "payload": "Offline"},
        {"topic": "tele/kettle1/SENSOR", "payload": "{not json"},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows_in) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "decode", "--jsonl", str(src))
    assert code == 0
    first, second, third = (json.loads(line) for line in out.splitlines())
    [obs] = first["observations"]
    assert (
        obs["device_id"] == "kettle1" and obs["power_w"] == 2635 and obs["energy_wh"] == pytest.approx(6294)
    )
    assert obs["ts"].startswith("2026-03-01T00:00:00")  # 09:00 in Seoul, stored as UTC
    [lwt] = second["observations"]
    assert lwt["online"] is False and lwt["power_w"] is None
    assert "error" in third


def test_decode_follows_the_output_contract_for_every_vendor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "vendors.jsonl"
    rows_in = [
        {"topic": "shellies/shellyplug-s-7E0E6C/relay/0/energy", "payload": "7260"},
        {
            "topic": "shellyplusplugs-e465b8b7a1c4/events/rpc",
            "payload": {
                "method": "NotifyStatus",
                "params": {"ts": 1714550502, "switch:0": {"apower": 1520.4}},
            },
        },
        {"topic": "zigbee2mqtt/living_room/kettle_plug", "payload": {"power": 9.8, "energy": 12.5}},
        {"topic": "zigbee2mqtt/bridge/state", "payload": {"state": "offline"}},
        {"topic": "athom-plug/sensor/power/state", "payload": "nan"},
        {"topic": "athom-plug/status", "payload": "offline"},
        {"topic": "zigbee2mqtt/kettle/set", "payload": {"state": "ON"}},
        {"topic": "tele/kettle1/SENSOR", "payload": "x" * 70_000},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows_in) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "decode", "--jsonl", str(src))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(rows_in)
    keys = {"device_id", "channel", "power_w", "energy_wh", "online", "ts"}
    for row in rows[:7]:
        assert all(set(obs) == keys for obs in row["observations"])
    [gen1], [gen2], [z2m], [bridge], [esp_nan], [esp_status] = (r["observations"] for r in rows[:6])
    assert (gen1["device_id"], gen1["power_w"], gen1["energy_wh"]) == ("shellyplug-s-7E0E6C", None, 121.0)
    assert (gen2["power_w"], gen2["energy_wh"], gen2["ts"]) == (1520.4, None, "2024-05-01T08:01:42+00:00")
    assert (z2m["device_id"], z2m["power_w"], z2m["energy_wh"]) == ("living_room/kettle_plug", 9.8, 12500.0)
    assert (bridge["device_id"], bridge["online"]) == (None, False)
    assert (esp_nan["power_w"], esp_nan["energy_wh"], esp_nan["online"]) == (None, None, None)
    assert (esp_status["device_id"], esp_status["online"]) == ("athom-plug", False)
    assert rows[6] == {"observations": []}
    assert "payload too large" in rows[7]["error"]


def test_decode_prints_exactly_one_line_per_input_line_even_blank_or_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mixed.jsonl"
    sensor = {"topic": "tele/kettle1/SENSOR", "payload": {"ENERGY": {"Power": 12}}}
    total_only = {"topic": "tele/kettle1/SENSOR", "payload": {"ENERGY": {"Total": 1.5}}}
    lines = [
        json.dumps(sensor).encode(),
        b"",  # blank line: must still get an answer, or every later output shifts by one
        b"   \t",
        b"{not json",
        b"[1, 2]",
        b'{"topic": "tele/kettle1/SENSOR"}',
        b"\xff\xfe broken bytes",
        json.dumps(total_only).encode(),
        json.dumps({"topic": "tele/kettle1/STATE", "payload": {"Time": "2026-03-01T09:00:00"}}).encode(),
    ]
    src.write_bytes(b"\n".join(lines) + b"\n")
    code, out, _ = _run(capsys, "decode", "--jsonl", str(src))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(lines)
    assert rows[0]["observations"][0]["power_w"] == 12
    assert rows[1] == {"error": "line 2: blank line"} and rows[2] == {"error": "line 3: blank line"}
    assert rows[3]["error"].startswith("line 4: invalid JSON")
    assert rows[4] == {"error": "line 5: expected a JSON object"}
    assert rows[5]["error"].startswith("line 6: each line needs 'topic'")
    assert rows[6] == {"error": "line 7: not valid UTF-8"}
    # Carried fields only: an energy total alone gives no power, a STATE heartbeat neither.
    [total] = rows[7]["observations"]
    assert (total["power_w"], total["energy_wh"], total["online"]) == (None, 1500.0, None)
    [state] = rows[8]["observations"]
    assert (state["power_w"], state["energy_wh"], state["online"]) == (None, None, None)
    assert state["ts"] == "2026-03-01T00:00:00+00:00"


def test_decode_honours_a_custom_tasmota_fulltopic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANBU_MQTT_TASMOTA_FULLTOPIC", "tasmota/%topic%/%prefix%/")
    src = tmp_path / "custom.jsonl"
    rows_in = [
        {"topic": "tasmota/kettle1/tele/SENSOR", "payload": {"ENERGY": {"Power": 5}}},
        {"topic": "tele/kettle1/SENSOR", "payload": {"ENERGY": {"Power": 5}}},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows_in) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "decode", "--jsonl", str(src))
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["observations"][0]["device_id"] == "kettle1"
    assert second == {"error": "line 2: unknown topic"}


def test_decode_of_a_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "decode", "--jsonl", str(tmp_path / "nope.jsonl"))
    assert code == 1 and out == ""
    assert "cannot read" in err and "nope.jsonl" in err


def test_stats_json_lists_every_gateway_and_marks_the_silent_one_stale(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "db", "upgrade")
    now = SystemClock().now()  # `anbu stats` reads the system clock
    with session_scope(make_engine(db_url)) as s:
        for client_id, age_s, stored in (("gw-fresh", 1, 500), ("gw-silent", 3 * STATUS_INTERVAL_S + 60, 7)):
            s.add(
                status_row(
                    client_id,
                    None,
                    {
                        "connected": True,
                        "generation": 2,
                        "messages_per_s": 12.5,
                        "batch_ms_p50": 3.0,
                        "batch_ms_p99": 9.0,
                        "queue_depth": 1,
                        "received": stored + 10,
                        "stored": stored,
                        "duplicates": 4,
                        "rejected": 6,
                        "batches": 3,
                    },
                    now - timedelta(seconds=age_s),
                )
            )
    code, out, _ = _run(capsys, "stats", "--json")
    assert code == 0
    gateways = {g["client_id"]: g for g in json.loads(out)["gateways"]}
    assert set(gateways) == {"gw-fresh", "gw-silent"}
    assert gateways["gw-fresh"]["stale"] is False and gateways["gw-silent"]["stale"] is True
    fresh = gateways["gw-fresh"]
    assert (fresh["connected"], fresh["msgs_per_s"], fresh["stored"], fresh["duplicates"]) == (
        True,
        12.5,
        500,
        4,
    )
    assert datetime.fromisoformat(fresh["updated_at"]).tzinfo is not None
