"""Server-sent events: the live notice of new 긴급 cases on every dashboard screen (issue 17).

``GET /api/v1/live/urgent?after=<cursor>`` answers ``text/event-stream``: a ``ready`` event with
the cursor to resume from, an ``urgent`` event per case that became 긴급 (``id:`` is the cursor
after it), and a comment every 15 s so proxies keep the line open. Authenticated with the bearer
header like every other route (the dashboard reads the stream with ``fetch``; ``EventSource``
cannot send the header, and a token in the URL would end up in access logs); scoped to the
user's team; re-checked each poll, so a logout or deactivation ends the stream. A stream lasts
at most five minutes (``seconds``), then the client reconnects with its cursor (a fresh token check, expiry
included). Not audited, like the queue it summarises.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, TypeVar

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

from api.deps import EngineDep, StaffUser
from api.live import latest_event_id, new_urgent, still_allowed
from api.routes.pagination import MAX_ID
from core.models import User

router = APIRouter(prefix="/live", tags=["live"])

POLL_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
_T = TypeVar("_T")


def _event(name: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {data}\n\n"


async def _in_thread(engine: Engine, work: Callable[[Session], _T]) -> _T:
    def run() -> _T:
        with Session(engine) as session:
            return work(session)

    return await anyio.to_thread.run_sync(run)


def _allowed(session: Session, *, user_id: int, token_version: int) -> User | None:
    user = still_allowed(session, user_id, token_version)
    if user is not None:
        session.expunge(user)  # read again each poll; used after its session closed
    return user


@router.get(
    "/urgent",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def urgent_stream(
    request: Request,
    engine: EngineDep,
    user: StaffUser,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="the cursor of the last event seen")
    ] = None,
    seconds: Annotated[
        float, Query(ge=0, le=STREAM_SECONDS, description="how long to stay open (0: the ready event only)")
    ] = STREAM_SECONDS,
) -> StreamingResponse:
    assert user.id is not None
    user_id, token_version = user.id, user.token_version

    async def events() -> AsyncIterator[str]:
        cursor = after if after is not None else await _in_thread(engine, latest_event_id)
        yield _event("ready", json.dumps({"cursor": cursor}), cursor)
        started = last_sent = time.monotonic()
        while time.monotonic() - started < seconds and not await request.is_disconnected():
            await anyio.sleep(POLL_SECONDS)
            me = await _in_thread(engine, partial(_allowed, user_id=user_id, token_version=token_version))
            if me is None:
                yield _event("signed_out", "{}")
                return
            poll = await _in_thread(engine, partial(new_urgent, user=me, after=cursor))
            for notice in poll.notices:
                yield _event("urgent", notice.model_dump_json(), notice.event_id)
            if poll.cursor != cursor or poll.notices:
                cursor = poll.cursor
                yield _event("cursor", json.dumps({"cursor": cursor}), cursor)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()

    # No buffering by a proxy in front (nginx honours this header): a notice must not wait.
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
