"""Shared ``limit``/``offset`` query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size (1-200)")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
