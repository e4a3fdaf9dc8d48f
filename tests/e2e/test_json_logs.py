"""ANBU_LOG_FORMAT=json: every line a role writes is one JSON object, uvicorn's own lines included."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_api_logs_only_json_lines_including_uvicorns(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")},
        "ANBU_DATABASE_URL": f"sqlite:///{tmp_path / 'json.db'}",
        "ANBU_HTTP_PORT": str(port),
        "ANBU_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "anbu.cli", "api"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 180  # a busy CI machine
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                time.sleep(0.3)
        # Not HTTP at all: uvicorn logs "Invalid HTTP request received." at WARNING.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
            sock.recv(1024)
        while "uvicorn" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert any(r["logger"].startswith("uvicorn") and r["level"] == "WARNING" for r in records), records
