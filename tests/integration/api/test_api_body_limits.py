"""Request bodies are capped before anything else (issue 13.4): 413 before the body is read.

Called at the ASGI level with a ``receive`` that hands the body over chunk by chunk and counts
what the app pulled, so "not read" is measured, not assumed (the test client would read a
streamed body into memory before the app sees it). Before the cap, an unauthenticated 150 MB
JSON body was read in full and answered 422, and a 60 MB upload was read in full, then 401.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import API_MAX_BODY_BYTES, create_app
from api.routes.management import MAX_UPLOAD_BYTES
from core.clock import ManualClock
from core.settings import Settings
from notifier import webhook_urls as paths
from tests.integration.api.conftest import World

MB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "anbuboundary"


@dataclass
class Outcome:
    status: int
    pulled: int  # body bytes the app asked for before answering


def call(
    app: FastAPI, path: str, *, size: int, content_type: str, declare_length: bool, prefix: bytes = b""
) -> Outcome:
    """POST *size* bytes (``prefix`` then filler) to *path*, streamed in 64 KiB chunks."""
    pulled = 0
    sent = 0
    statuses: list[int] = []
    headers = [(b"content-type", content_type.encode()), (b"host", b"testserver")]
    if declare_length:
        headers.append((b"content-length", str(size).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, object]:
        nonlocal pulled, sent
        if sent >= size:
            await asyncio.sleep(3600)  # the client has nothing more to say
        head = prefix[sent : sent + CHUNK]
        chunk = head + b"x" * (min(CHUNK, size - sent) - len(head))
        sent += len(chunk)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": sent < size}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=120))  # type: ignore[arg-type]
    assert statuses, "no response"
    return Outcome(statuses[0], pulled)


@pytest.fixture
def app(settings: Settings, engine: object, clock: ManualClock) -> FastAPI:
    return create_app(settings, engine, clock)  # type: ignore[arg-type]


def _multipart_prefix(filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def test_a_declared_150_mb_json_body_is_refused_before_a_byte_is_read(app: FastAPI, world: World) -> None:
    outcome = call(
        app,
        f"/api/v1/cases/{world.case_a}/notes",
        size=150 * MB,
        content_type="application/json",
        declare_length=True,
    )
    assert (outcome.status, outcome.pulled) == (413, 0)


def test_a_chunked_json_body_without_length_is_cut_off_at_the_cap(app: FastAPI, world: World) -> None:
    outcome = call(
        app,
        f"/api/v1/cases/{world.case_a}/notes",
        size=8 * MB,
        content_type="application/json",
        declare_length=False,
    )
    assert outcome.status == 413
    assert outcome.pulled <= API_MAX_BODY_BYTES + CHUNK


@pytest.mark.parametrize("declare_length", [True, False], ids=["with-length", "chunked"])
def test_a_60_mb_upload_is_refused_before_it_is_read_in_full(
    app: FastAPI, world: World, declare_length: bool
) -> None:
    outcome = call(
        app,
        "/api/v1/import/households",
        size=60 * MB,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        declare_length=declare_length,
        prefix=_multipart_prefix("big.csv"),
    )
    assert outcome.status == 413
    assert outcome.pulled <= MAX_UPLOAD_BYTES + 2 * CHUNK


def test_a_twilio_webhook_body_is_capped_like_twilios_callbacks(app: FastAPI) -> None:
    outcome = call(
        app,
        paths.SMS_INBOUND,
        size=MB,
        content_type="application/x-www-form-urlencoded",
        declare_length=False,
    )
    assert outcome.status == 413
    assert outcome.pulled <= 64 * 1024 + CHUNK


def test_a_csv_larger_than_the_json_cap_is_still_imported(
    app_client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    """The import routes keep their own, larger cap: a 1 MB file is read and checked, row by row."""
    rows = "".join(f"BIG-{n},{world.household_b},Resident {n}\n" for n in range(40_000))
    text = "code,team_id,resident_name\n" + rows
    assert API_MAX_BODY_BYTES < len(text) < MAX_UPLOAD_BYTES
    response = app_client.post(
        "/api/v1/import/households",
        params={"dry_run": "true"},
        files={"file": ("big.csv", text.encode(), "text/csv")},
        headers=auth("admin"),
    )
    assert response.status_code != 413
    assert response.status_code in (200, 422), response.text[:300]


def test_a_declared_oversize_body_gets_413_even_with_a_good_login(app_client: TestClient) -> None:
    """The length is judged before the form is parsed (Starlette answers it in plain text; the
    dashboard translates any 413 by its status, ``error.http_413``)."""
    response = app_client.post(
        "/api/v1/auth/token",
        content=b"username=admin&password=" + b"x" * API_MAX_BODY_BYTES,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
