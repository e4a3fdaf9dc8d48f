"""Links our texts carry: the dashboard's 119 hand-off sheet, a family member's status page.

The dashboard's address is the public base URL (``ANBU_PUBLIC_BASE_URL``); it is read from the
settings once per process at a composition root (the API's ``create_app``, the worker's ticks),
as :mod:`notifier.crisis` reads the crisis line, because the texts are written deep inside
handlers that have no settings. Until configured (unit tests, tools), the development default.
"""

from __future__ import annotations

from core.settings import Settings

_base = ["http://127.0.0.1:8000"]
# What family status-link tokens are derived from (notifier.family_link); the development key
# until configured.
_secret = [Settings(_env_file=None).secret_key]


def configure(settings: Settings) -> None:
    _base[0] = settings.effective_public_base_url.rstrip("/")
    _secret[0] = settings.secret_key


def secret() -> str:
    return _secret[0]


def status_page(token: str) -> str:
    """The family status page a link token opens (api/routes/status_page.py)."""
    return f"{_base[0]}/status/{token}"


def handoff_page(case_id: int) -> str:
    """The printable hand-off page of a case (staff sign in to see it)."""
    return f"{_base[0]}/#/cases/{case_id}/handoff"
