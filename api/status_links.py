"""Family status links: ``/status/<token>``, a random token whose SHA-256 is a ``status_link`` row.

The token carries nothing (no ids, no expiry): it is 32 random bytes, shown once to the
caseworker who makes the link and never stored. Everything else lives in the row, so a link
can be revoked on its own, dies with its contact or household, and cannot be forged or revived
by an id that SQLite hands out again. Signed ``s1.`` links from before (docs/security.md) are
simply not found.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from core.models import Contact, StatusLink

TOKEN_BYTES = 32  # 256 bits: guessing is hopeless, so a plain SHA-256 is the right hash
# Longer than any token we issue, so an old or mangled link gets the friendly "ask for a new
# link" page rather than a validation error.
MAX_TOKEN_LENGTH = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and its hash (the token goes to the caseworker, the hash to the database)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def working_link(session: Session, token: str, now: datetime) -> tuple[StatusLink, Contact] | None:
    """The link *token* opens, with its contact, if it works now: not revoked, not expired, and
    the contact still of that household and not opted out. None for anything else."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.exec(
        select(StatusLink, Contact)
        .join(Contact, col(Contact.id) == col(StatusLink.contact_id))
        .where(col(StatusLink.token_hash) == token_hash(token))
    ).first()
    if row is None:
        return None
    link, contact = row
    if link.revoked_at is not None or link.expires_at <= now:
        return None
    if contact.household_id != link.household_id or contact.opted_out:
        return None
    return link, contact
