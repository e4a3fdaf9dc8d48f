"""``POST /residents/{id}/erase``: the admin's erasure of a resident's personal data (docs/privacy.md)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.audit import client_address
from api.deps import AdminUser, ClockDep, SessionDep
from api.errors import ErrorCode, conflict, error_response, not_found
from api.routes.pagination import PathId
from notifier.erasure import Actor, ErasureRefused, erase_in

router = APIRouter(tags=["privacy"])


class ErasureIn(BaseModel):
    force: bool = False  # even while a case is open: the open cases are resolved first


class ErasureOut(BaseModel):
    resident_id: int
    household_id: int
    household_erased: bool  # the whole household's data (no other resident lives there)
    already: bool  # nothing was left to erase
    cases_resolved: list[int]
    readings_deleted: int


@router.post(
    "/residents/{resident_id}/erase",
    response_model=ErasureOut,
    responses={
        404: error_response("no such resident"),
        409: error_response("the household has an open case (send force to resolve it first)"),
    },
)
def erase(
    resident_id: PathId,
    body: ErasureIn,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    clock: ClockDep,
) -> ErasureOut:
    """Erase a resident's personal data (and their household's when they live alone).

    Statistics stay; the audit log gains who erased which household (or resident), written with
    the erasure in the request's transaction. Admins only: it cannot be undone.
    """
    assert user.id is not None
    actor = Actor(user.id, user.role, client_address(request))
    try:
        result = erase_in(session, resident_id, actor=actor, now=clock.now(), force=body.force)
    except ErasureRefused as exc:
        if exc.open_case_ids:
            raise conflict(ErrorCode.ERASURE_CASE_OPEN, str(exc)) from exc
        raise not_found(ErrorCode.RESIDENT_NOT_FOUND, "resident") from exc
    return ErasureOut(**asdict(result))
