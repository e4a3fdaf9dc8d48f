"""Plain-text payloads (Shelly Gen1, ESPHome): one number or one word per message."""

from __future__ import annotations

import re

from gateway.adapters._common import decode_text, fail, short_repr

_NUMBER_RE = re.compile(r"^-?\d{1,15}(\.\d{1,15})?([eE][+-]?\d{1,3})?$", re.ASCII)


def plain_number(payload: bytes, field: str) -> float:
    """A decimal number as text (``"42.57"``); refuses ``nan``, ``inf``, hex, empty text."""
    text = decode_text(payload).strip()
    if not _NUMBER_RE.match(text):
        fail(f"{field} must be a plain number, got {short_repr(text)}")
    return float(text)


def relay_word(payload: bytes, allowed: tuple[str, ...]) -> str:
    """A relay/switch state word (``on``/``off``...). The state is not consumption, only a sign of connection."""
    word = decode_text(payload).strip()
    if word.lower() not in allowed:
        fail(f"relay state must be one of {', '.join(allowed)}, got {short_repr(word)}")
    return word.lower()
