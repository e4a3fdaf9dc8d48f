"""``/healthz`` (liveness) and ``/readyz`` (readiness) of the process serving the API.

What they check is the role's :class:`core.health.Health`, built where the role is composed
(``anbu.runtime``): the API alone checks the database; ``anbu up`` adds its gateway's broker
connection and its ticks. The gateway and the worker, run alone, answer the same two paths on
their own small port (``anbu/health_server.py``). Counts and states only, no personal data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.schemas import LiveOut, ReadyOut
from core.health import Health

router = APIRouter(tags=["health"])


def _health(request: Request) -> Health:
    health: Health = request.app.state.health
    return health


@router.get("/healthz", response_model=LiveOut, responses={503: {"model": LiveOut}})
def healthz(request: Request) -> JSONResponse:
    """Liveness: this process still works (restart it when not). Does not touch the database."""
    ok, body = _health(request).liveness()
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers (and, where they run in this process, the gateway's
    broker connection and every tick is on time)."""
    ok, body = _health(request).readiness()
    return JSONResponse(body, status_code=200 if ok else 503)
