"""Twilio REST shapes: resource ids, dates, error bodies and the JSON of a Call or a Message."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def new_sid(prefix: str) -> str:
    """Twilio ids are a two-letter type prefix and 32 lowercase hex digits ("CA…", "SM…")."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime) -> str:
    """Twilio's date format, e.g. "Wed, 01 May 2024 00:00:00 +0000"."""
    return format_datetime(moment, usegmt=False)


def is_e164(number: str) -> bool:
    return bool(_E164.match(number))


def mask_phone(number: str) -> str:
    """For logs: +821012345678 -> +8210****5678 (never log a whole number)."""
    if len(number) <= 8:
        return "****"
    return f"{number[:5]}****{number[-4:]}"


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def call_resource(
    *,
    account_sid: str,
    sid: str,
    to: str,
    from_: str,
    status: str,
    created: datetime,
    updated: datetime,
    answered_by: str | None = None,
    duration_s: int | None = None,
) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(updated),
        "direction": "outbound-api",
        "duration": str(duration_s) if duration_s is not None else None,
        "end_time": None,
        "forwarded_from": None,
        "from": from_,
        "from_formatted": from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": status,
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "events": f"{uri}/Events.json",
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def message_resource(
    *,
    account_sid: str,
    sid: str,
    to: str,
    from_: str | None,
    messaging_service_sid: str | None,
    body: str,
    status: str,
    created: datetime,
    updated: datetime,
    error_code: int | None = None,
) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": rfc2822(created),
        "date_sent": None,
        "date_updated": rfc2822(updated),
        "direction": "outbound-api",
        "error_code": error_code,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": messaging_service_sid,
        "num_media": "0",
        "num_segments": str(sms_segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": to,
        "uri": f"{uri}.json",
    }


def sms_segments(body: str) -> int:
    """GSM-7 fits 160 characters (153 per part); anything else (Korean) is UCS-2: 70 (67 per part).

    Approximation: any non-ASCII character means UCS-2, and the GSM extension table is ignored.
    """
    single, part = (160, 153) if body.isascii() else (70, 67)
    if len(body) <= single:
        return 1
    return -(-len(body) // part)
