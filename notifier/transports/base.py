"""What the outbox needs from a phone provider, and how a provider says it failed."""

from __future__ import annotations

from typing import Protocol


class TransportError(Exception):
    """A send failed.

    ``permanent`` means retrying the same request cannot succeed (bad or unsubscribed number,
    blocked destination); the outbox marks the row failed. Otherwise it retries with backoff.
    ``code`` is the provider's error code when there is one (e.g. ``"21211"``), or a short
    word such as ``"network"``.
    """

    def __init__(self, message: str, *, permanent: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code

    def __str__(self) -> str:
        kind = "permanent" if self.permanent else "temporary"
        return f"{kind} error {self.code or '-'}: {self.message}"


class Transport(Protocol):
    def place_call(self, *, to: str, from_: str, answer_url: str, status_callback_url: str) -> str:
        """Start an outbound call; returns the provider's call id (sid)."""
        ...

    def send_sms(self, *, to: str, from_: str, body: str, status_callback_url: str) -> str:
        """Send a text message; returns the provider's message id (sid)."""
        ...


def mask_phone(number: str | None) -> str:
    """``+821012345678`` -> ``+8210****5678``: enough to tell numbers apart in logs, not to dial."""
    if not number:
        return "-"
    if len(number) <= 8:
        return number[:2] + "*" * max(len(number) - 2, 0)
    return number[:5] + "****" + number[-4:]
