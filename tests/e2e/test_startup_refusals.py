"""Production refuses to start in a state that silently fails people (issue 13), tested as processes:
each bad setting makes `anbu up` / `api` / `worker` exit non-zero with a message naming the setting,
before anything is opened or served. A correct production setting does start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import free_port
from tests.factories import PROD_PUBLIC_BASE_URL, TEST_SECRET_KEY

pytestmark = [pytest.mark.e2e]

ANBU = [sys.executable, "-m", "anbu.cli"]
TWILIO = {
    "ANBU_TWILIO_ACCOUNT_SID": "AC" + "7" * 32,
    "ANBU_TWILIO_AUTH_TOKEN": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "ANBU_TWILIO_FROM_NUMBER": "+15005550006",
}


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_ENV": "prod",
        "ANBU_SECRET_KEY": TEST_SECRET_KEY,
        "ANBU_PUBLIC_BASE_URL": PROD_PUBLIC_BASE_URL,
        "ANBU_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        "ANBU_HTTP_PORT": str(free_port()),
        "ANBU_MQTT_EMBEDDED_PORT": str(free_port()),
        **settings,
    }


def _refused(command: str, env: dict[str, str], tmp_path: Path) -> str:
    """Run the role; it must exit by itself, non-zero, without a traceback. Returns stderr."""
    done = subprocess.run([*ANBU, command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "prod.db").exists(), "refused before opening the database"
    return done.stderr


@pytest.mark.parametrize("command", ["up", "api", "worker"])
def test_no_twilio_credentials_and_no_explicit_console_is_refused(tmp_path: Path, command: str) -> None:
    stderr = _refused(command, _env(tmp_path), tmp_path)
    assert "ANBU_TWILIO_AUTH_TOKEN" in stderr
    assert "ANBU_TRANSPORT=console" in stderr


def test_twilio_transport_without_credentials_is_refused(tmp_path: Path) -> None:
    stderr = _refused("up", _env(tmp_path, ANBU_TRANSPORT="twilio"), tmp_path)
    assert "ANBU_TRANSPORT=twilio needs ANBU_TWILIO_ACCOUNT_SID" in stderr


def test_partly_set_twilio_credentials_are_refused(tmp_path: Path) -> None:
    partial = {k: v for k, v in TWILIO.items() if k != "ANBU_TWILIO_FROM_NUMBER"}
    stderr = _refused("up", _env(tmp_path, **partial), tmp_path)
    assert "ANBU_TWILIO_FROM_NUMBER missing" in stderr


def test_the_published_development_twilio_token_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, **{**TWILIO, "ANBU_TWILIO_AUTH_TOKEN": "dev-insecure-twilio-token"})
    assert "ANBU_TWILIO_AUTH_TOKEN is the development token" in _refused("up", env, tmp_path)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        # Issue 13.7: a 16-character secret of one repeated letter passed the production check.
        ("ANBU_SECRET_KEY", "x" * 16, "ANBU_SECRET_KEY is too weak: it repeats a few characters"),
        ("ANBU_SECRET_KEY", "a-real-random-secret-value", "ANBU_SECRET_KEY is too weak: it carries about"),
        ("ANBU_PUBLIC_BASE_URL", "http://care.example.org", "ANBU_PUBLIC_BASE_URL must be the https://"),
        ("ANBU_PUBLIC_BASE_URL", "", "ANBU_PUBLIC_BASE_URL must be the https://"),
        ("ANBU_METRICS_TOKEN", "prometheus", "ANBU_METRICS_TOKEN is too weak"),
        ("ANBU_TRUSTED_PROXIES", "*", "ANBU_TRUSTED_PROXIES: '*' is not an IP address or network"),
    ],
    ids=["repeated-letter", "low-entropy", "http-address", "no-address", "weak-metrics-token", "trust-all"],
)
def test_each_unsafe_production_setting_is_refused(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    env = _env(tmp_path, ANBU_TRANSPORT="console", **{setting: value})
    assert message in _refused("up", env, tmp_path)


@pytest.mark.slow
def test_an_explicit_console_transport_starts_and_says_nobody_can_be_called(tmp_path: Path) -> None:
    env = _env(tmp_path, ANBU_TRANSPORT="console")
    (tmp_path / "prod.db").unlink(missing_ok=True)
    subprocess.run([*ANBU, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen([*ANBU, "api"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        body = None
        deadline = time.monotonic() + 180  # generous: the CI machine may be busy
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{env['ANBU_HTTP_PORT']}/healthz").json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert body is not None, (tmp_path / "api.log").read_text()
        assert (body["phone"], body["can_call"]) == ("console", False)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
