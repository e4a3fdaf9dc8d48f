"""What the emulator saw and did: calls, messages and every webhook exchange, for tests and the demo."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WebhookExchange:
    """One request the emulator sent to our server, and what came back."""

    purpose: str  # "status", "answer", "gather", "redirect", "sms-status", "inbound-sms"
    method: str
    url: str
    params: dict[str, str]
    status: int | None  # HTTP status our server returned; None if no response
    error: str | None = None
    response_body: str | None = None  # kept for inbound SMS only (the TwiML reply, if any)


@dataclass
class CallRecord:
    sid: str
    to: str  # as the client gave it
    from_: str
    url: str | None
    twiml: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: list[str]
    machine_detection: str | None
    timeout_s: int
    behaviour_kind: str
    status: str = "queued"
    answered_by: str | None = None
    duration_s: int | None = None
    said: list[str] = field(default_factory=list)  # <Say> texts the resident (or voicemail) heard
    replies: list[dict[str, Any]] = field(default_factory=list)  # what the resident said / pressed
    dialled: list[dict[str, Any]] = field(default_factory=list)  # each <Dial>: number, status, duration
    webhooks: list[WebhookExchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: bool = False
    created_at: str | None = None  # ISO 8601, for the REST list (kept JSON-ready)
    direction: str = "outbound-api"  # "inbound": someone called our number

    @property
    def status_callbacks(self) -> list[WebhookExchange]:
        return [w for w in self.webhooks if w.purpose == "status"]

    @property
    def callback_statuses(self) -> list[str]:
        return [w.params["CallStatus"] for w in self.status_callbacks]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data


@dataclass
class MessageRecord:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    outcome: str
    status: str = "queued"
    error_code: int | None = None
    webhooks: list[WebhookExchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: bool = False
    created_at: str | None = None  # ISO 8601, for the REST list (kept JSON-ready)

    @property
    def callback_statuses(self) -> list[str]:
        return [w.params["MessageStatus"] for w in self.webhooks if w.purpose == "sms-status"]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data


class Journal:
    """Thread-safe store of records; every change wakes whoever waits in :meth:`wait_for`."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.RLock())
        self._calls: dict[str, CallRecord] = {}
        self._messages: dict[str, MessageRecord] = {}
        self._inbound: list[WebhookExchange] = []
        self._busy = 0

    @contextmanager
    def change(self) -> Iterator[None]:
        with self._changed:
            yield
            self._changed.notify_all()

    def add_call(self, call: CallRecord) -> None:
        with self.change():
            self._calls[call.sid] = call

    def add_message(self, message: MessageRecord) -> None:
        with self.change():
            self._messages[message.sid] = message

    def add_inbound(self, exchange: WebhookExchange) -> None:
        with self.change():
            self._inbound.append(exchange)

    def call(self, sid: str) -> CallRecord | None:
        with self._changed:
            found = self._calls.get(sid)
            return copy.deepcopy(found) if found else None

    def message(self, sid: str) -> MessageRecord | None:
        with self._changed:
            found = self._messages.get(sid)
            return copy.deepcopy(found) if found else None

    def calls(self) -> list[CallRecord]:
        with self._changed:
            return copy.deepcopy(list(self._calls.values()))

    def messages(self) -> list[MessageRecord]:
        with self._changed:
            return copy.deepcopy(list(self._messages.values()))

    def inbound(self) -> list[WebhookExchange]:
        with self._changed:
            return copy.deepcopy(self._inbound)

    def clear(self) -> None:
        with self.change():
            self._calls.clear()
            self._messages.clear()
            self._inbound.clear()

    def begin_work(self) -> None:
        """Marks a worker busy (call before starting its thread, so idleness is never premature)."""
        with self.change():
            self._busy += 1

    def end_work(self) -> None:
        with self.change():
            self._busy -= 1

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True as soon as ``predicate()`` holds; False after ``timeout`` seconds.

        Woken by every change; also re-checks every 50 ms in case the predicate looks at
        something outside the journal.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
            return True

    def wait_until_idle(self, timeout: float) -> bool:
        return self.wait_for(lambda: self._busy == 0, timeout)
