"""Twilio's webhook signature (``X-Twilio-Signature``), written from the published algorithm.

Deliberately independent of ``twilio.request_validator`` and of our server's checker, so a
mistake in either shows up as a failed request instead of two copies agreeing on the mistake.

Algorithm: take the full URL exactly as requested; for form POSTs append, for every parameter
name in sorted order and every *distinct* value of it in sorted order, ``name + value`` with no
separators; HMAC-SHA1 with the auth token as key; base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]


def signing_string(url: str, params: FormParams = ()) -> str:
    values_by_name: dict[str, set[str]] = {}
    pairs = params.items() if isinstance(params, Mapping) else params
    for name, value in pairs:
        values_by_name.setdefault(name, set()).add(value)
    parts = [url]
    for name in sorted(values_by_name):
        parts.extend(name + value for value in sorted(values_by_name[name]))
    return "".join(parts)


def compute_signature(auth_token: str, url: str, params: FormParams = ()) -> str:
    """Signature for a request to ``url``; pass no params for GET (they are already in the URL)."""
    mac = hmac.new(auth_token.encode("utf-8"), signing_string(url, params).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def body_sha256(body: bytes) -> str:
    """Hex digest Twilio appends as ``bodySHA256=`` to the URL when it posts a JSON body."""
    return hashlib.sha256(body).hexdigest()
