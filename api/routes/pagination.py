"""Shared query parameters: ``limit``/``offset``, row ids, and a period's ends with their offsets.

Ids are bounded by the database's INTEGER (PostgreSQL's is 32-bit), so an id no row can
have is a precise 422 instead of a driver overflow turned into a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query

from api.errors import ErrorCode, unprocessable

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (1-200)")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def require_offsets(since: datetime | None, until: datetime | None) -> None:
    """A 422 for a period end given without a timezone offset (it would be read in the server's zone)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise unprocessable(
                f"{name} must include a timezone offset",
                "query",
                name,
                code=ErrorCode.TIMEZONE_OFFSET_REQUIRED,
            )
