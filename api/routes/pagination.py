"""Shared query parameters: ``limit``/``offset`` and row ids.

Ids are bounded by the database's INTEGER (PostgreSQL's is 32-bit), so an id no row can
have is a precise 422 instead of a driver overflow turned into a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (1-200)")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
