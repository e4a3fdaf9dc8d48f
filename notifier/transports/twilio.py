"""The real Twilio REST API through the official library (voice calls and SMS).

``api_base`` (``ANBU_TWILIO_API_BASE``) sends the library's requests to another host, such as
the simulator's Twilio emulator, while keeping the library's own serialisation and HTTP stack
(wire-formats.md §7, option A).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifier.transports.base import TransportError, is_permanent_code

log = logging.getLogger(__name__)

CALL_STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
RING_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 15.0
LOOKUP_LIMIT = 20  # most recent calls / messages to one number looked at when reconciling

# Twilio never processed the request; trying again later is safe.
TEMPORARY_CODES = frozenset(
    {
        20429,  # too many concurrent requests
        10004,  # call concurrency limit
        # Authentication failed: an operator fixes the credentials, then the queued rows must
        # still go out, so this is not the recipient's permanent failure.
        20003,
    }
)
_RETRYABLE_HTTP = frozenset({401, 403, 408, 409, 425, 429})


def is_permanent(status: int, code: int | None) -> bool:
    """Pure: does an error response mean "never retry this request"?

    Known codes decide first; otherwise 5xx and throttling are temporary, and the remaining
    4xx (the request itself was rejected) are permanent.
    """
    if is_permanent_code(code):
        return True
    if code in TEMPORARY_CODES:
        return False
    return 400 <= status < 500 and status not in _RETRYABLE_HTTP


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no stubs
    """The library's own HTTP client, with ``*.twilio.com`` URLs rewritten to ``base_url``."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if host == "twilio.com" or host.endswith(".twilio.com"):
            url = self.base_url + parts.path + ("?" + parts.query if parts.query else "")
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


_T = TypeVar("_T")


class TwilioTransport:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str | None = None,
        timeout_s: float = HTTP_TIMEOUT_S,
    ) -> None:
        http: TwilioHttpClient = (
            RedirectingHttpClient(api_base, timeout=timeout_s)
            if api_base
            else TwilioHttpClient(timeout=timeout_s)
        )
        # environment={} keeps TWILIO_* variables of the host from changing what we configured.
        self.client = Client(account_sid, auth_token, environment={}, http_client=http)

    def place_call(self, *, to: str, from_: str, answer_url: str, status_callback_url: str) -> str:
        call = _translate_errors(
            lambda: self.client.calls.create(
                to=to,
                from_=from_,
                url=answer_url,
                method="POST",
                status_callback=status_callback_url,
                status_callback_method="POST",
                status_callback_event=CALL_STATUS_EVENTS,
                timeout=RING_TIMEOUT_S,
                machine_detection="Enable",
            )
        )
        return str(call.sid)

    def send_sms(self, *, to: str, from_: str, body: str, status_callback_url: str) -> str:
        message = _translate_errors(
            lambda: self.client.messages.create(
                to=to, from_=from_, body=body, status_callback=status_callback_url
            )
        )
        return str(message.sid)

    def find_sent(
        self, *, kind: Literal["call", "sms"], to: str, from_: str, body: str | None, since: datetime
    ) -> list[str]:
        # Twilio lists newest first; a recent window is enough (we look within minutes of a send).
        if kind == "call":
            found = _translate_errors(lambda: self.client.calls.list(to=to, from_=from_, limit=LOOKUP_LIMIT))
        else:
            found = _translate_errors(
                lambda: self.client.messages.list(to=to, from_=from_, limit=LOOKUP_LIMIT)
            )
        return [
            str(item.sid)
            for item in found
            if item.date_created is not None
            and item.date_created >= since
            and (kind == "call" or item.body == body)
        ]


def _translate_errors(send: Callable[[], _T]) -> _T:
    """Run one library call; every failure leaves as a :class:`TransportError`."""
    try:
        return send()
    except (TwilioRestException, TwilioServiceException) as exc:
        code = exc.code if isinstance(exc.code, int) else None
        detail = exc.msg if isinstance(exc, TwilioRestException) else exc.title
        status = int(exc.status)
        raise TransportError(
            f"HTTP {status}: {detail}"[:300],
            permanent=is_permanent(status, code),
            code=str(code) if code is not None else f"http-{status}",
            # A 5xx can come after Twilio created the call (issue 14.5): ask before retrying.
            uncertain=status >= 500,
        ) from exc
    except requests.RequestException as exc:
        # We cannot know whether Twilio acted on the request (e.g. a read timeout).
        raise TransportError(
            f"network error: {type(exc).__name__}", permanent=False, code="network", uncertain=True
        ) from exc
    except TwilioException as exc:
        raise TransportError(f"twilio library error: {exc}"[:300], permanent=False, code="library") from exc
