"""The gateway's readiness, from its live figures (``Gateway.metrics()``), for ``/readyz``.

Pure: one place that says which figures make a gateway not ready, so a new state (e.g. a gateway
that is connected but hears nothing) is one more condition here, and every role that runs a
gateway reports it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The figures /readyz shows next to the verdict (counts and states only: no device ids, no topics).
SHOWN = ("connected", "generation", "queue_depth", "messages_per_s", "db_retries", "auth_failed")


def readiness(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Ready while connected to the broker and not given up on it (refused credentials or
    authorisation: ``auth_failed``)."""
    ok = bool(figures.get("connected")) and not figures.get("auth_failed")
    return {"ok": ok, **{key: figures[key] for key in SHOWN if key in figures}}
