"""`X-Forwarded-For` is believed only from configured proxies (issue 13.5), tested against a real
`anbu api` (uvicorn) on loopback. uvicorn trusts loopback's forwarding headers by default: rotating
the header defeated the login limiter (8 × 401, no 429) and wrote a forged address into the audit log.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANBU = [sys.executable, "-m", "anbu.cli"]
PASSWORD = "correct horse battery"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "api.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_DATABASE_URL": f"sqlite:///{db}",
        "ANBU_HTTP_PORT": str(free_port()),
    }
    subprocess.run([*ANBU, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    subprocess.run(
        [*ANBU, "user", "add", "boss", "--role", "admin", "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen([*ANBU, "api"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{env['ANBU_HTTP_PORT']}"
    try:
        deadline = time.monotonic() + 180  # generous: the CI machine may be busy
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, db
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()


def test_rotating_x_forwarded_for_neither_forges_the_audit_address_nor_escapes_the_limiter(
    api: tuple[str, Path],
) -> None:
    base, db = api
    login = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": "boss", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert login.status_code == 200
    response = httpx.get(
        f"{base}/api/v1/users",
        headers={"Authorization": f"Bearer {login.json()['access_token']}", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 200
    with sqlite3.connect(db) as con:
        clients = {row[0] for row in con.execute("SELECT client FROM audit_entry")}
    assert clients == {"127.0.0.1"}

    statuses = [
        httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "boss", "password": f"guess {n}"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(1, 9)
    ]
    assert statuses == [401] * 5 + [429] * 3
