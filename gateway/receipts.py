"""Recognising a broker's redelivery of a message whose readings have no device time we keep.

Readings placed at a time the gateway worked out (arrival time, or a wrong clock corrected;
``gateway/reading_time.py``) get a new time when the same message comes again, so the readings'
unique key cannot deduplicate them. What does identify a redelivery: a broker that resends a
QoS 1 message it sent before (the gateway crashed or lost the connection between committing the
message and acknowledging it) sets the DUP flag and keeps the packet id. So, for each such
message, the gateway keeps a receipt in the same transaction as its readings: client id, packet
id, a digest of topic and payload. A DUP message whose receipt matches is the same message again:
its readings are counted as duplicates.

- Packet ids are reused once acknowledged, so a receipt is replaced by the next message with its
  id, and only DUP messages are looked up: a new message with a reused id and the same payload
  (an idle plug's "0") is never taken for an old one.
- A receipt older than the broker keeps our session (``ANBU_MQTT_SESSION_EXPIRY_S``) plus
  ``RECEIPT_SLACK`` cannot be redelivered any more and matches nothing.
- When in doubt, keep: a redelivery that is not recognised (a broker that does not set DUP) is
  stored twice, never lost. A group member that drains a dead member's session
  (gateway/rescue.py) keeps and reads receipts under the dead member's client id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from core.bulk import db_datetime, execute_many, fetch_all, table_of, upsert_sql
from core.models import MessageReceipt
from core.settings import Settings

RECEIPT_SLACK = timedelta(minutes=10)
_COLUMNS = ("client_id", "packet_id", "digest", "received_at")


def digest(topic: str, payload: bytes) -> int:
    """A stable 64-bit digest of a message (the same in every process; Python's hash() is not)."""
    h = hashlib.blake2b(payload, digest_size=8, person=b"anbu-receipt")
    h.update(b"\x00")
    h.update(topic.encode("utf-8", "backslashreplace"))
    return int.from_bytes(h.digest(), "big", signed=True)


def known(
    session: Session, client_id: str, wanted: dict[int, int], *, now: datetime, settings: Settings
) -> set[int]:
    """Of ``{packet id: digest}`` (redelivered messages), the packet ids whose receipt matches."""
    if not wanted:
        return set()
    dialect = session.get_bind().dialect.name
    marker = "?" if dialect == "sqlite" else "%s"
    ids = sorted(wanted)
    sql = (
        f"SELECT packet_id, digest FROM {table_of(MessageReceipt).name} WHERE client_id = {marker} "
        f"AND received_at >= {marker} AND packet_id IN ({', '.join([marker] * len(ids))})"
    )
    since = now - timedelta(seconds=settings.mqtt_session_expiry_s) - RECEIPT_SLACK
    rows = fetch_all(session.connection(), sql, [client_id, db_datetime(since, dialect), *ids])
    return {packet_id for packet_id, value in rows if wanted.get(packet_id) == value}


def record(session: Session, client_id: str, receipts: Sequence[tuple[int, int, datetime]]) -> None:
    """Keep ``(packet id, digest, received at)`` receipts, replacing each packet id's older one."""
    if not receipts:
        return
    dialect = session.get_bind().dialect.name
    sql = upsert_sql(table_of(MessageReceipt), _COLUMNS, ("client_id", "packet_id"), dialect)
    rows = [(client_id, packet_id, value, db_datetime(at, dialect)) for packet_id, value, at in receipts]
    execute_many(session.connection(), sql, rows)
