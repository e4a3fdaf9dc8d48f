"""The gateway's readiness, from its live figures (``Gateway.metrics()``), for ``/readyz``.

Pure: one place that says which figures make a gateway not ready (disconnected, refused, deaf),
so every role that runs a gateway reports it the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# The figures /readyz shows next to the verdict (counts and states only: no device ids, no topics).
SHOWN = (
    "connected",
    "generation",
    "queue_depth",
    "messages_per_s",
    "db_retries",
    "auth_failed",
    # Is it really hearing (gateway/link.py, gateway/hearing.py)?
    "deaf",
    "seconds_since_heard",
    "deaf_limit_s",
    "delivery_verified",
    "flapping",
    "sessions_lost",
    "share_group_unverified",
)


def readiness(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Ready while connected to the broker, not given up on it (refused credentials or
    authorisation: ``auth_failed``), not deaf: connected but hearing no plug for longer than
    their reporting allows is a gateway not doing its job (gateway/hearing.py), and, in a share
    group, not on a broker that never delivered a probe through it (``share_group_unverified``).
    Not a liveness failure: restarting would not help more than the gateway's own reconnect and
    probes."""
    ok = (
        bool(figures.get("connected"))
        and not figures.get("auth_failed")
        and not figures.get("deaf")
        and not figures.get("share_group_unverified")
    )
    shown = {key: _json_number(figures[key]) for key in SHOWN if key in figures}
    return {"ok": ok, **shown}


def _json_number(value: Any) -> Any:
    """JSON has no infinity: an unbounded deaf limit (no plug expected to speak) is null."""
    return None if isinstance(value, float) and math.isinf(value) else value
