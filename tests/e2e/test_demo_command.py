"""`anbu demo` as a newcomer runs it: within 120 s both collapsed residents' inactivity cases are
open through the API (login demo/demo) — the one in bed by its quiet window, the one in front of
the TV by the long-on rule, saying so (issue 18) — and `anbu stats --json` counts calls and
notifications."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from twilio.request_validator import RequestValidator

from notifier import webhook_urls
from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANBU = [sys.executable, "-m", "anbu.cli"]


def test_demo_shows_the_whole_loop_within_two_minutes(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "ANBU_DATA_DIR": str(tmp_path / "var"),
        "ANBU_MQTT_EMBEDDED_PORT": str(free_port()),
    }
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [*ANBU, "demo", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        token = _login(base, proc, deadline=started + 90)
        headers = {"Authorization": f"Bearer {token}"}
        stats: dict[str, object] = {}
        open_inactivity: list[dict[str, object]] = []
        while time.monotonic() - started < 120:
            active = {"status": ["open", "acknowledged"]}  # the family may be quick
            cases = httpx.get(f"{base}/api/v1/cases", params=active, headers=headers).json()
            open_inactivity = [c for c in cases["items"] if c["kind"] == "inactivity"]
            out = subprocess.run(
                [*ANBU, "stats", "--json"], env=env, capture_output=True, text=True, check=True
            )
            stats = json.loads(out.stdout)
            if len(open_inactivity) >= 2 and stats["call_attempts"] >= 2 and stats["notifications"] >= 1:  # type: ignore[operator]
                break
            time.sleep(2)
        assert len(open_inactivity) >= 2, (
            f"not both inactivity cases within 120 s: {open_inactivity}; log:\n{_tail(tmp_path)}"
        )
        assert all(c["explanation"] for c in open_inactivity)
        # One resident collapsed in front of the TV: the long-on rule's words (explain.long_on).
        tv = [c for c in open_inactivity if "쉬지 않고 켜져 있습니다" in str(c["explanation"])]
        assert len(tv) == 1 and str(tv[0]["explanation"]).startswith("TV"), open_inactivity
        assert stats["call_attempts"] >= 2, stats  # type: ignore[operator]
        assert stats["notifications"] >= 1, stats  # type: ignore[operator]
        assert stats["readings"] > 1000, stats  # type: ignore[operator]  # weeks of seeded history
        _forged_checkin_is_refused(base, tmp_path / "demo.db")
        _the_family_takes_the_case_on_with_the_code(base, headers, str(open_inactivity[0]["id"]), tmp_path)
        # The live plugs publish through the broker with device authentication on, each with its
        # own credentials (anbu/provisioning.py): the gateway hears them, none is refused.
        gateways = cast(list[dict[str, Any]], stats["gateways"])
        received = sum(int(g["received"]) for g in gateways)
        assert received > 0, f"no live message reached the gateway; log:\n{_tail(tmp_path)}"
        log_text = (tmp_path / "demo.log").read_text(errors="replace")
        assert "each plug with its own credentials" in log_text
        assert "connection refused" not in log_text, _tail(tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _forged_checkin_is_refused(base: str, db: Path) -> None:
    """Issue 13.1: the demo once signed its webhooks with a token published in the source, so a
    forged "괜찮아요" from a resident's number recorded a check-in. Each run now has its own."""
    with sqlite3.connect(db) as con:
        (phone,) = con.execute(
            "SELECT phone FROM resident WHERE phone IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
    params = {"From": phone, "Body": "괜찮아요", "MessageSid": "SMforged0001"}
    signature = RequestValidator("dev-insecure-twilio-token").compute_signature(
        base + webhook_urls.SMS_INBOUND, params
    )
    response = httpx.post(
        base + webhook_urls.SMS_INBOUND, data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403, response.text
    with sqlite3.connect(db) as con:  # the handler never ran: the message id was not even recorded
        seen = con.execute(
            "SELECT count(*) FROM inbound_message WHERE message_sid = 'SMforged0001'"
        ).fetchone()
    assert seen == (0,)


def _the_family_takes_the_case_on_with_the_code(
    base: str, headers: dict[str, str], case_id: str, tmp_path: Path
) -> None:
    """Issue 13.2: the simulated daughter texts back "1 <code>" from our alert, through the
    phone-network emulator, and that (not a bare "1") acknowledges the case."""
    deadline = time.monotonic() + 60
    case: dict[str, Any] = {}
    while time.monotonic() < deadline:
        case = httpx.get(f"{base}/api/v1/cases/{case_id}", headers=headers).json()
        if case["status"] != "open":
            break
        time.sleep(2)
    assert case.get("status") == "acknowledged", f"not acknowledged: {case}; log:\n{_tail(tmp_path)}"
    assert str(case["acknowledged_by"]).startswith("contact:")


def _login(base: str, proc: subprocess.Popen[bytes], *, deadline: float) -> str:
    while time.monotonic() < deadline:
        assert proc.poll() is None, "anbu demo exited early"
        try:
            r = httpx.post(f"{base}/api/v1/auth/token", data={"username": "demo", "password": "demo"})
            if r.status_code == 200:
                return str(r.json()["access_token"])
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the demo's API never accepted demo/demo")


def _tail(tmp_path: Path) -> str:
    return "\n".join((tmp_path / "demo.log").read_text(errors="replace").splitlines()[-40:])
