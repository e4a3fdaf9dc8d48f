"""Households under watch, as the caller's role may see them."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep, StaffUser
from api.queries import list_households
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset
from api.schemas import HouseholdPage

router = APIRouter(prefix="/households", tags=["households"])


@router.get("", response_model=HouseholdPage)
def households(
    session: SessionDep, user: StaffUser, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> HouseholdPage:
    items, total = list_households(session, user, limit=limit, offset=offset)
    return HouseholdPage(items=items, total=total, limit=limit, offset=offset)
