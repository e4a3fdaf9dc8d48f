"""What the outbox needs from a phone provider, and how a provider says it failed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

# Twilio error codes after which the same request can never succeed: a bad, unreachable,
# landline or unsubscribed destination, or one Twilio refuses to serve. One table for REST
# errors (the outbox gives the row up) and delivery receipts (no retry either). Every other
# code is temporary: the row is tried again with backoff.
PERMANENT_ERROR_CODES = frozenset(
    {
        "21211",  # invalid 'To' number
        "21214",  # 'To' number cannot be reached
        "21216",  # call blocked by Twilio
        "21217",  # phone number does not appear to be valid
        "21606",  # 'From' is not SMS-capable
        "21608",  # 'To' not verified (trial account)
        "21610",  # recipient replied STOP (unsubscribed)
        "21612",  # 'To' not reachable by SMS
        "21614",  # 'To' is not a mobile number
        "21635",  # 'To' is a landline
        "13224",  # number not E.164 / unsupported
        "30005",  # delivery: unknown or inactive handset
        "30006",  # delivery: landline or unreachable carrier
    }
)


def is_permanent_code(code: str | int | None) -> bool:
    """Pure: does this Twilio error code mean "never retry this destination with this request"?"""
    return code is not None and str(code).strip() in PERMANENT_ERROR_CODES


class TransportError(Exception):
    """A send failed.

    ``permanent`` means retrying the same request cannot succeed (bad or unsubscribed number,
    blocked destination); the outbox marks the row failed. Otherwise it retries with backoff.
    ``code`` is the provider's error code when there is one (e.g. ``"21211"``), or a short
    word such as ``"network"``. ``uncertain`` means the provider may have acted on the request
    all the same (a 5xx, a timeout, a lost response): before any retry the outbox asks the
    provider whether it has the send (:class:`ReconcilingTransport`).
    """

    def __init__(
        self, message: str, *, permanent: bool, code: str | None = None, uncertain: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.uncertain = uncertain

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


@runtime_checkable
class ReconcilingTransport(Protocol):
    """A provider we can ask what it already has, so a send whose outcome we never recorded (the
    worker died, or the response was lost) is looked up instead of sent twice."""

    def find_sent(
        self, *, kind: Literal["call", "sms"], to: str, from_: str, body: str | None, since: datetime
    ) -> list[str]:
        """Provider ids of calls / messages to ``to`` from ``from_`` created at or after ``since``
        (messages: with exactly this ``body``), newest first. Raises TransportError when it cannot tell."""
        ...


def mask_phone(number: str | None) -> str:
    """``+821012345678`` -> ``+8210****5678``: enough to tell numbers apart in logs, not to dial."""
    if not number:
        return "-"
    if len(number) <= 8:
        return number[:2] + "*" * max(len(number) - 2, 0)
    return number[:5] + "****" + number[-4:]


_PHONE_NOISE = re.compile(r"[^\d+]")


def normalise_phone(number: str | None) -> str:
    """Keep digits and "+": numbers are stored and matched as E.164."""
    return _PHONE_NOISE.sub("", number or "")
