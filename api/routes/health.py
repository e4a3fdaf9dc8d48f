"""Liveness and database reachability, for load balancers and ``anbu status``."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import EngineDep
from api.schemas import HealthOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(engine: EngineDep) -> HealthOut | JSONResponse:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not healthy"
        log.warning("healthz: database unreachable: %s", type(exc).__name__)
        return JSONResponse(status_code=503, content={"status": "error", "database": "error"})
    return HealthOut(status="ok", database="ok")
