"""What every role answers on ``/healthz`` (liveness) and ``/readyz`` (readiness).

Liveness: this process still does its work (its threads run); a supervisor restarts it when not.
Readiness: what it depends on answers (the database, the broker for a gateway) and its ticks are
on time; a load balancer or an operator stops counting on it when not, without restarting it.

A role's :class:`Health` is built where the role is composed (``anbu.runtime``) from probes: a
liveness probe answers a bool, a readiness probe a dict with ``ok`` and whatever figures explain
it. Probes must be quick and never raise; a probe that raises counts as failing, with the
exception's type only (messages can carry personal data). Bodies carry no personal data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

LiveProbe = Callable[[], bool]
ReadyProbe = Callable[[], Mapping[str, Any]]


@dataclass
class Health:
    role: str
    live: dict[str, LiveProbe] = field(default_factory=dict)
    ready: dict[str, ReadyProbe] = field(default_factory=dict)
    # Fixed facts an operator must see on both paths (e.g. that nobody can be called).
    facts: dict[str, Any] = field(default_factory=dict)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        failing = [name for name, probe in self.live.items() if not _safe_live(name, probe)]
        body: dict[str, Any] = {"status": "error" if failing else "ok", "role": self.role, **self.facts}
        if failing:
            body["failing"] = failing
        return not failing, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks = {name: _safe_ready(name, probe) for name, probe in self.ready.items()}
        ok = all(check["ok"] for check in checks.values())
        return ok, {"status": "ok" if ok else "error", "role": self.role, **self.facts, "checks": checks}


def _safe_live(name: str, probe: LiveProbe) -> bool:
    try:
        return bool(probe())
    except Exception as exc:
        log.warning("liveness probe %s failed: %s", name, type(exc).__name__)
        return False


def _safe_ready(name: str, probe: ReadyProbe) -> dict[str, Any]:
    try:
        result = dict(probe())
    except Exception as exc:
        log.warning("readiness probe %s failed: %s", name, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}
    result["ok"] = bool(result.get("ok"))
    return result


def database_probe(engine: Engine) -> ReadyProbe:
    """``SELECT 1`` on a raw DB-API connection: on SQLite no ``BEGIN IMMEDIATE`` (core/db.py), so
    the probe never queues behind the gateway's write lock."""

    def probe() -> dict[str, Any]:
        started = time.monotonic()
        try:
            conn = engine.raw_connection()
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                cursor.close()
            finally:
                conn.close()
        except Exception as exc:  # any failure to reach the database means "not ready"
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}

    return probe
