"""Logging for every `anbu` command: readable lines or one JSON object per line (``ANBU_LOG_FORMAT``).

Whatever the format, phone numbers are masked in the final line (``+821012345678`` →
``+8210****5678``), exception text and tracebacks included: Anbu's own log calls already log ids
and masked numbers only, but a library's exception message (a refused "To" number) must not put
a resident's number into a log shipper either (docs/operations.md, "Logs").
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Literal

from notifier.transports.base import mask_phone

# Libraries that narrate every connection, job run or HTTP request at INFO. The twilio library's
# request log would also carry phone numbers and message bodies.
NOISY_LOGGERS = ("amqtt", "transitions", "apscheduler", "alembic", "twilio.http_client", "httpx")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# E.164 (how Anbu stores numbers) and Korean mobile numbers written locally (010-1234-5678).
_PHONE = re.compile(r"\+\d{8,15}\b|(?<![\d-])01[016789]-?\d{3,4}-?\d{4}(?![\d-])")


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: _mask(m.group(0)), text)


def _mask(number: str) -> str:
    if number.startswith("+"):
        return mask_phone(number)
    digits = number.replace("-", "")
    return digits[:3] + "-****-" + digits[-4:]


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "thread"[, "exc"]}``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            body["exc"] = record.exc_text
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        return mask_phones(json.dumps(body, ensure_ascii=False))


def configure(log_format: Literal["text", "json"], *, verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else MaskingFormatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A tick that overlaps the next is skipped by design (max_instances=1; anbu/ticks.py counts it
    # for /readyz): not worth a warning.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
