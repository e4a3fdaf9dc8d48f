"""Durable spool files: what a webhook could not write to the database, kept on disk until it can.

Twilio retries none of its webhooks: when the database cannot take one in time, the request's
content is written here (a temporary file fsynced, renamed into place, the directory fsynced: on
disk before Twilio is answered) and a worker tick takes it into the database once it can
(notifier/stored_replies.py for a resident's reply on a call, notifier/webhook_spool.py for the
others). Files sort by the time they were received. They hold residents' words and numbers:
mode 0600 in a 0700 directory, deleted as soon as the database holds them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

_sequence = itertools.count()


def write(directory: Path, data: Mapping[str, Any], received_at: datetime) -> Path:
    """Durably write one JSON object; when this returns it survives a crash or power cut."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The sequence keeps this process's order among files stamped the same microsecond (a call's
    # answer and its end, spooled back to back): they are handled in the order they came.
    name = f"{received_at.strftime('%Y%m%dT%H%M%S%f')}-{next(_sequence):010d}-{uuid.uuid4().hex}.json"
    tmp = directory / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps(dict(data), ensure_ascii=False).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    final = directory / name
    os.replace(tmp, final)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def pending(directory: Path) -> list[Path]:
    """Spooled files, oldest first (none when the directory does not exist)."""
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    return data


def counts(directory: Path) -> tuple[int, int]:
    """How many files wait to be taken in, and how many were set aside (``*.bad``)."""
    if not directory.is_dir():
        return 0, 0
    return len(pending(directory)), len(list(directory.glob("*.bad")))


def set_aside(path: Path) -> Path:
    """A file that cannot be taken in is renamed ``*.bad`` for an operator, never dropped."""
    bad = path.with_suffix(".bad")
    path.rename(bad)
    return bad


def readable(
    paths: Iterable[Path], parse: Callable[[Path], _T], *, what: str, log: logging.Logger
) -> Iterator[tuple[Path, _T]]:
    """Each file of *paths* in turn with what *parse* makes of it; one it cannot parse (unreadable,
    not JSON, a field missing or of the wrong type) is set aside and logged on *log* as a
    spooled *what*, and the others follow."""
    for path in paths:
        try:
            parsed = parse(path)
        except (OSError, ValueError, KeyError, TypeError):
            log.error("spooled %s %s cannot be read; kept as .bad for an operator", what, path.name)
            set_aside(path)
            continue
        yield path, parsed
