"""Signed webhook requests, sent the way Twilio sends them (form-encoded, signed, with a timeout)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from simulator.twilio_signature import compute_signature

MAX_BODY_BYTES = 1_000_000
USER_AGENT = "TwilioProxy/1.1"


@dataclass(frozen=True)
class WebhookResponse:
    status: int | None  # None when no HTTP response arrived (refused, timed out)
    body: str = ""
    content_type: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would change the URL and so the signature; report it instead of following it.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# No proxies from the environment: the emulator only ever talks to loopback webhooks.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def send_webhook(
    method: str,
    url: str,
    params: Sequence[tuple[str, str]],
    *,
    auth_token: str,
    timeout_s: float,
) -> WebhookResponse:
    """POST (or GET) ``params`` to ``url`` with a valid ``X-Twilio-Signature``; never raises."""
    method = method.upper()
    data: bytes | None
    if method == "GET":
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
        signature, data = compute_signature(auth_token, url), None
    else:
        signature, data = compute_signature(auth_token, url, params), urlencode(params).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-Twilio-Signature", signature)
    request.add_header("User-Agent", USER_AGENT)
    request.add_header("Accept", "*/*")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return WebhookResponse(
                status=response.status,
                body=_text(response.read(MAX_BODY_BYTES), response.headers.get_content_charset()),
                content_type=response.headers.get_content_type(),
            )
    except urllib.error.HTTPError as exc:
        try:
            body = _text(exc.read(MAX_BODY_BYTES), None)
        except OSError:
            body = ""
        return WebhookResponse(status=exc.code, body=body, error=str(exc))
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, timeout, reset, bad URL
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        return WebhookResponse(status=None, error=text)


def _text(raw: bytes, charset: str | None) -> str:
    return raw.decode(charset or "utf-8", errors="replace")
