"""422 answers in FastAPI's documented shape (``{"detail": [{"loc", "msg", "type"}]}``).

Every 422 the API gives, whether from request validation or from a rule checked in a route,
then matches the one schema the OpenAPI document declares for it.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status


def validation_item(loc: tuple[str | int, ...], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


def unprocessable(msg: str, *loc: str | int) -> HTTPException:
    """A 422 about the input at *loc* (e.g. ``"body", "until"``)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[validation_item(loc, msg)])
