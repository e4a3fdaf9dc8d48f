"""A pretend phone network for laptops and demos: one readable line per send on stdout."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import TextIO

from notifier.transports.base import mask_phone


class ConsoleTransport:
    """Never fails and never dials. Prints the masked number, and the text for an SMS (it stands in
    for the recipient's phone, so showing the message is the point)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def place_call(self, *, to: str, from_: str, answer_url: str, status_callback_url: str) -> str:
        sid = "CA" + uuid.uuid4().hex
        self._write(f"[anbu console] CALL {mask_phone(to)} sid={sid} answer={answer_url}")
        return sid

    def send_sms(self, *, to: str, from_: str, body: str, status_callback_url: str) -> str:
        sid = "SM" + uuid.uuid4().hex
        self._write(f"[anbu console] SMS  {mask_phone(to)} sid={sid} | {body}")
        return sid

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:  # outbox workers may share one transport
            stream.write(line + "\n")
            stream.flush()
