"""The household's status link in a family member's alert text (issue 17.7: "no status link").

One link per case and family member, made when their first alert text of the case is written
and repeated in every later text of that case: its token is derived from the deployment's
secret, the case and the contact (HMAC-SHA256), so it need not be stored — only its hash is, in
``status_link`` like the links staff make (``created_by`` 0: made by Anbu). It expires after
:data:`LINK_DAYS` days. A link staff revoked (or that expired) is never put in a text again:
the text goes without one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from sqlmodel import Session, select

from core.db import insert_or_find
from core.models import Case, Contact, StatusLink
from notifier import links

LINK_DAYS = 7  # long enough to follow a case through; a caseworker can make a longer one
MADE_BY_ANBU = 0  # created_by of links Anbu made (user ids start at 1)


def token_for(secret: str, case_id: int, contact_id: int) -> str:
    """Pure: the link token of a case and contact: 256 bits, URL-safe, unguessable without the secret."""
    digest = hmac.new(secret.encode(), f"anbu-status-link:{case_id}:{contact_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """As ``api.status_links.token_hash`` (the status page looks links up by it; a test pins both)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def status_link(session: Session, case: Case, contact: Contact, now: datetime) -> str | None:
    """The status page URL for this family member's texts about ``case``, or None when their
    link for it was revoked or has expired, or they opted out."""
    assert case.id is not None and contact.id is not None
    if contact.opted_out:
        return None
    token = token_for(links.secret(), case.id, contact.id)
    hashed = token_hash(token)
    row = session.exec(select(StatusLink).where(StatusLink.token_hash == hashed)).first()
    if row is None:
        row = StatusLink(
            token_hash=hashed,
            household_id=case.household_id,
            contact_id=contact.id,
            created_by=MADE_BY_ANBU,
            created_at=now,
            expires_at=(now + timedelta(days=LINK_DAYS)).replace(microsecond=0),
        )
        # Written a moment ago by another worker: read theirs (``one``: there must be one).
        row, _inserted = insert_or_find(
            session,
            row,
            lambda: session.exec(select(StatusLink).where(StatusLink.token_hash == hashed)).one(),
        )
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    return links.status_page(token)
