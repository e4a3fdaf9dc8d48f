"""Which forwarding headers uvicorn believes for the API: only those of ANBU_TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from anbu.runtime import api_server_config
from core.settings import Settings


def _seen_client(settings: Settings, peer: str, forwarded_for: str) -> tuple[str, str]:
    """(client address, scheme) the app sees for a request from *peer* carrying the headers."""
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["client"], seen["scheme"] = scope["client"][0], scope["scheme"]

    config = api_server_config(settings, app)
    config.load()
    scope = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode()), (b"x-forwarded-proto", b"https")],
    }
    asyncio.run(config.loaded_app(scope, None, None))
    return seen["client"], seen["scheme"]


def test_by_default_no_forwarding_header_is_believed_not_even_from_loopback() -> None:
    settings = Settings(_env_file=None)
    assert _seen_client(settings, "127.0.0.1", "203.0.113.9") == ("127.0.0.1", "http")


def test_a_named_proxy_is_believed_and_others_are_not() -> None:
    settings = Settings(_env_file=None, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert _seen_client(settings, "10.1.2.3", "203.0.113.9") == ("203.0.113.9", "https")
    assert _seen_client(settings, "127.0.0.1", "203.0.113.9") == ("203.0.113.9", "https")
    assert _seen_client(settings, "192.0.2.50", "203.0.113.9") == ("192.0.2.50", "http")


@pytest.mark.parametrize("value", ["*", "proxy.example.org", "10.0.0.0/33"])
def test_trusting_everyone_or_a_name_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="ANBU_TRUSTED_PROXIES"):
        Settings(_env_file=None, trusted_proxies=value)
