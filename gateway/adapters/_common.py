"""Strict value parsing shared by the vendor adapters. Everything bad becomes a DecodeError."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from gateway.observation import DecodeError

_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # a declared dependency; without it the stdlib parser does the same, slower
    _orjson_loads = None

# A plug on a 230 V / 16 A socket tops out near 3.7 kW; 20 kW per channel is beyond any household load.
MAX_POWER_W = 20_000.0
# 1 TWh: a cumulative counter larger than this is a corrupt value, not a kettle.
MAX_ENERGY_WH = 1e12
# Device JSON is a few levels deep (Tasmota: StatusSNS > ENERGY > Power[]); more is abuse.
MAX_JSON_DEPTH = 8
MAX_CHANNELS = 32

_ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$", re.ASCII
)
# Old Tasmota firmware: "2018.02.15 01:00:50" (local time).
_LEGACY_TASMOTA_RE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2}) (\d{2}:\d{2}:\d{2})$", re.ASCII)
_EARLIEST_UNIX = 0.0
_LATEST_UNIX = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def fail(reason: str) -> NoReturn:
    raise DecodeError(reason)


def short_repr(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        fail("payload is not valid UTF-8")


def _reject_constant(name: str) -> NoReturn:
    fail(f"JSON contains {name}, which is not a number")


def parse_json_object(payload: bytes) -> dict[str, Any]:
    """Parse a JSON object, refusing NaN/Infinity, huge numbers and deep nesting.

    orjson first (about half the cost of the stdlib parser for a device payload, and it checks
    UTF-8 itself); it refuses everything the stdlib path below refuses (NaN, invalid UTF-8, lone
    surrogates, nesting beyond 1024), and then that path gives the reason, so reasons do not
    depend on which parser ran. One difference on success: an integer beyond 64 bits comes back
    as the nearest float, which ``number()`` would have made of it anyway.
    """
    if _orjson_loads is not None:
        try:
            data = _orjson_loads(payload)
        except ValueError:  # orjson.JSONDecodeError; let the stdlib path say why
            pass
        else:
            if type(data) is dict:
                return _checked_depth(payload, data)
    text = decode_text(payload)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except DecodeError:
        raise
    except json.JSONDecodeError as exc:
        fail(f"invalid JSON: {exc.msg} at char {exc.pos}")
    except RecursionError:
        fail("JSON nested too deeply")
    except ValueError as exc:  # e.g. an integer with thousands of digits
        fail(f"invalid JSON value: {str(exc)[:80]}")
    if not isinstance(data, dict):
        fail(f"expected a JSON object, got {type(data).__name__}")
    return _checked_depth(payload, data)


def _checked_depth(payload: bytes, data: dict[str, Any]) -> dict[str, Any]:
    # Nesting cannot exceed the number of opening brackets (a C-speed count): most payloads skip the walk.
    if payload.count(b"{") + payload.count(b"[") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        fail(f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return data


def json_depth(value: object) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def number(value: object, field: str) -> float:
    # bool is an int in Python, but `true` is not a number on the wire.
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"{field} must be a number, got {short_repr(value)}")
    try:
        result = float(value)
    except OverflowError:
        fail(f"{field} is out of range")
    if not math.isfinite(result):
        fail(f"{field} must be finite")
    return result


def power_w(value: object, field: str) -> float:
    watts = number(value, field)
    if watts < 0:
        fail(f"{field} is negative ({watts:g} W)")
    if watts > MAX_POWER_W:
        fail(f"{field} is implausibly large ({watts:g} W > {MAX_POWER_W:g} W)")
    return watts + 0.0  # normalise -0.0


def energy_wh(value: object, field: str) -> float:
    wh = number(value, field)
    if wh < 0:
        fail(f"{field} is negative ({wh:g} Wh)")
    if wh > MAX_ENERGY_WH:
        fail(f"{field} is implausibly large ({wh:g} Wh)")
    return wh + 0.0


def unix_seconds(value: object, field: str) -> datetime:
    seconds = number(value, field)
    if seconds > 1e11:
        fail(f"{field} is out of range (milliseconds? send seconds)")
    if not _EARLIEST_UNIX <= seconds <= _LATEST_UNIX:
        fail(f"{field} is out of range")
    return datetime.fromtimestamp(seconds, UTC)


def iso_timestamp(value: object, field: str, *, local_tz: str | None) -> datetime:
    """ISO 8601 -> aware UTC. Without an offset: local time in ``local_tz``, or an error if None."""
    if not isinstance(value, str):
        fail(f"{field} must be a string, got {short_repr(value)}")
    text = value.strip()
    legacy = _LEGACY_TASMOTA_RE.match(text) if text[4:5] == "." else None  # skip the regex for ISO
    if legacy:
        text = f"{legacy[1]}-{legacy[2]}-{legacy[3]}T{legacy[4]}"
    if not _ISO_RE.match(text):
        fail(f"{field} is not an ISO 8601 timestamp: {short_repr(value)}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{field} is not a valid date/time: {short_repr(value)}")
    if parsed.tzinfo is None:
        if local_tz is None:
            fail(f"{field} has no UTC offset")
        parsed = parsed.replace(tzinfo=ZoneInfo(local_tz))
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        fail(f"{field} is out of range")


def parse_availability(payload: bytes, *, online: str, offline: str) -> bool:
    """Plain-text availability (LWT). Case and surrounding whitespace are forgiven."""
    word = decode_text(payload).strip().lower()
    if word == online.lower():
        return True
    if word == offline.lower():
        return False
    fail(f"availability must be {online!r} or {offline!r}, got {short_repr(word)}")
