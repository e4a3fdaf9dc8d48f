"""A worker process for the multi-process test: engine and outbox ticks on a shared database.

Run as ``python -m tests.integration.notifier_workers.worker_process DB_URL LOG GO_FILE ROUNDS ISO_NOW
[PACING_ACCOUNT]``. It waits until GO_FILE exists (so both workers start together), then runs
ROUNDS rounds of the notifier ticks + ``outbox.tick`` at the fixed time ISO_NOW. Every provider
request is appended to LOG as one line (the row's callback URL identifies the row; ``at=`` is
when the request reached the provider, real time), with O_APPEND so lines from two processes
never interleave. With PACING_ACCOUNT the outbox paces calls for real (1 per second per account,
shared through the database); without it, pacing is off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

from core.clock import SYSTEM_CLOCK, ManualClock
from core.db import make_engine
from core.settings import Settings
from notifier import outbox
from notifier.pacing import CallPacer
from tests.ticks import run_notifier_ticks


class FileTransport:
    def __init__(self, log: Path) -> None:
        self._fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def place_call(self, *, to: str, from_: str, answer_url: str, status_callback_url: str) -> str:
        return self._write("call", status_callback_url, "CA")

    def send_sms(self, *, to: str, from_: str, body: str, status_callback_url: str) -> str:
        return self._write("sms", status_callback_url, "SM")

    def _write(self, kind: str, url: str, prefix: str) -> str:
        time.sleep(0.01)  # a provider request takes a while: the other worker gets to run meanwhile
        at = SYSTEM_CLOCK.now().isoformat()
        os.write(self._fd, f"{kind} {url} pid={os.getpid()} at={at}\n".encode())
        return prefix + uuid.uuid4().hex


def main(db_url: str, log: str, go_file: str, rounds: int, iso_now: str, account: str | None = None) -> int:
    engine = make_engine(db_url)
    clock = ManualClock(datetime.fromisoformat(iso_now))
    settings = Settings(
        _env_file=None, public_base_url="https://care.example.org", twilio_from_number="+15005550006"
    )
    transport = FileTransport(Path(log))
    pacer = CallPacer(1.0, account=account) if account else CallPacer(0)
    deadline = time.monotonic() + 30
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.01)
    for _ in range(rounds):
        run_notifier_ticks(engine, clock, settings)
        outbox.tick(engine, clock, settings, transport, pacer=pacer)
    engine.dispose()
    return 0


ROOT = Path(__file__).resolve().parents[3]


def run_workers(args: list[str], *, count: int = 2, timeout: float) -> None:
    """Start ``count`` copies of this script with ``args`` (the 3rd is the go-file), release them
    together by creating the go-file, and wait: each must exit 0 (its stderr tail otherwise)."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.notifier_workers.worker_process", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    Path(args[2]).touch()
    for worker in workers:
        _, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, err.decode()[-2000:]


if __name__ == "__main__":
    db_url, log, go_file, rounds, iso_now = sys.argv[1:6]
    account = sys.argv[6] if len(sys.argv) > 6 else None
    sys.exit(main(db_url, log, go_file, int(rounds), iso_now, account))
