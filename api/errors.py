"""Errors with a stable, machine-readable code next to the English text.

Why codes: the dashboard is Korean by default, and an English ``detail`` shown as-is is of no
use to a caseworker. Clients translate the code through their own message catalogue
(``api/messages/*.json``: ``error.<code>``, ``validation.<type>``, ``field.<name>``); the
English ``detail`` stays for logs, curl and API clients that do not translate.

Two shapes, both in the OpenAPI document:

* every 4xx except 422: ``{"detail": "<English>", "code": "<ErrorCode>"}`` (:class:`ErrorOut`);
* 422: FastAPI's documented ``{"detail": [{"loc", "msg", "type", "ctx"?}]}``. ``type`` is the
  code — pydantic's own error types (``missing``, ``string_too_short`` …, parameters in
  ``ctx``) for request validation, and an :class:`ErrorCode` for rules checked in a route.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorCode(StrEnum):
    """Every code a route raises. tests/unit/api/test_api_error_codes.py checks that each one has
    a Korean and an English text in the message catalogues."""

    # 401 / 403 / 429: who you are
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_TOKEN = "invalid_token"
    BAD_LOGIN = "bad_login"
    TOO_MANY_LOGINS = "too_many_logins"
    FORBIDDEN_ROLE = "forbidden_role"
    # 404: objects you may not see answer like missing ones
    CASE_NOT_FOUND = "case_not_found"
    HOUSEHOLD_NOT_FOUND = "household_not_found"
    RESIDENT_NOT_FOUND = "resident_not_found"
    CONTACT_NOT_FOUND = "contact_not_found"
    DEVICE_NOT_FOUND = "device_not_found"
    USER_NOT_FOUND = "user_not_found"
    TEAM_NOT_FOUND = "team_not_found"
    ORGANISATION_NOT_FOUND = "organisation_not_found"
    INCIDENT_NOT_FOUND = "incident_not_found"
    STATUS_LINK_NOT_FOUND = "status_link_not_found"
    DEVICE_IDENTITY_NOT_FOUND = "device_identity_not_found"
    # 409
    CASE_STATE_CONFLICT = "case_state_conflict"
    CASE_CHANGED_RETRY = "case_changed_retry"
    CASE_CLOSED = "case_closed"
    CASE_NOT_ASSIGNED = "case_not_assigned"
    ALREADY_ASSIGNED = "already_assigned"
    HOUSEHOLD_CODE_TAKEN = "household_code_taken"
    USERNAME_TAKEN = "username_taken"
    CANNOT_CHANGE_SELF = "cannot_change_self"
    ERASURE_CASE_OPEN = "erasure_case_open"
    HOUSEHOLD_ERASED = "household_erased"
    DEVICE_IDENTITY_STATE = "device_identity_state"
    # 400 / 413: uploads and webhooks
    FILE_TOO_LARGE = "file_too_large"
    FILE_NOT_TEXT = "file_not_text"
    BAD_REQUEST = "bad_request"
    # 422 rules checked in routes (the ``type`` of a validation item)
    NOTHING_TO_CHANGE = "nothing_to_change"
    FIELD_NOT_NULLABLE = "field_not_nullable"
    FIELD_EMPTY = "field_empty"
    NO_SUCH_TEAM = "no_such_team"
    OWN_TEAM_ONLY = "own_team_only"
    ADMIN_MOVES_TEAMS = "admin_moves_teams"
    TEAM_REQUIRED = "team_required"
    NO_SUCH_ORGANISATION = "no_such_organisation"
    NO_SUCH_CONTACT = "no_such_contact"
    CONTACT_OPTED_OUT = "contact_opted_out"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    PAUSE_IN_PAST = "pause_in_past"
    PAUSE_TOO_LONG = "pause_too_long"
    TIMEZONE_OFFSET_REQUIRED = "timezone_offset_required"
    PERIOD_ORDER = "period_order"
    PERIOD_TOO_LONG = "period_too_long"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    DATE_IN_FUTURE = "date_in_future"
    FILTER_CONFLICT = "filter_conflict"
    VISIT_IN_FUTURE = "visit_in_future"
    VISIT_BEFORE_CASE = "visit_before_case"
    NOT_TEAM_STAFF = "not_team_staff"
    DEVICE_UNASSIGNABLE = "device_unassignable"
    DEVICE_IDENTITY_REFUSED = "device_identity_refused"
    TEXT_BLANK = "text_blank"
    OUTCOME_REQUIRED = "outcome_required"
    WEEKDAY_RANGE = "weekday_range"
    WEEKDAY_REPEATED = "weekday_repeated"
    CHECKIN_IN_QUIET_HOURS = "checkin_in_quiet_hours"
    USERNAME_FORMAT = "username_format"
    PASSWORD_TOO_SHORT = "password_too_short"
    PASSWORD_TOO_LONG = "password_too_long"
    PHONE_FORMAT = "phone_format"
    # 422 escalation policy rules that span fields (api/routes/people.py classifies them)
    POLICY_QUIET_HOURS_EMPTY = "policy_quiet_hours_empty"
    POLICY_REPEAT_FROM_RANGE = "policy_repeat_from_range"
    POLICY_REPEAT_FROM_MISSING = "policy_repeat_from_missing"
    # CSV import rows (``ImportErrorOut.code``)
    CSV_UNREADABLE = "csv_unreadable"
    CSV_MISSING_COLUMNS = "csv_missing_columns"
    CSV_UNKNOWN_COLUMNS = "csv_unknown_columns"
    CSV_TOO_MANY_ROWS = "csv_too_many_rows"
    CSV_EXTRA_VALUES = "csv_extra_values"
    CSV_NO_ROWS = "csv_no_rows"
    CSV_REQUIRED = "csv_required"
    CSV_TOO_LONG = "csv_too_long"
    CSV_NOT_INTEGER = "csv_not_integer"
    CSV_OUT_OF_RANGE = "csv_out_of_range"
    CSV_NOT_NUMBER = "csv_not_number"
    CSV_CHOICE = "csv_choice"
    CSV_DUPLICATE = "csv_duplicate"
    CSV_CODE_EXISTS = "csv_code_exists"
    CSV_NO_SUCH_HOUSEHOLD = "csv_no_such_household"
    CSV_PHONE = "csv_phone"
    CSV_DUPLICATE_COLUMNS = "csv_duplicate_columns"
    CSV_TEAM_AMBIGUOUS = "csv_team_ambiguous"


class ErrorOut(BaseModel):
    """A 4xx answer other than 422."""

    detail: str  # English, for people reading logs or curl output
    code: str  # stable; translate this (an ErrorCode, or ``http_<status>`` for generic ones)


class ApiError(HTTPException):
    """An HTTPException that carries its :class:`ErrorCode`."""

    def __init__(
        self, status_code: int, code: ErrorCode, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.code = code


def error_response(description: str) -> dict[str, Any]:
    """A documented non-422 error answer for ``responses=``."""
    return {"model": ErrorOut, "description": description}


def not_found(code: ErrorCode, what: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, code, f"{what} not found")


def conflict(code: ErrorCode, detail: str) -> ApiError:
    return ApiError(status.HTTP_409_CONFLICT, code, detail)


def validation_item(
    loc: tuple[str | int, ...], msg: str, code: str = "value_error", ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": code}
    if ctx:
        item["ctx"] = ctx
    return item


def unprocessable(
    msg: str, *loc: str | int, code: ErrorCode, ctx: dict[str, Any] | None = None
) -> HTTPException:
    """A 422 about the input at *loc* (e.g. ``"body", "until"``), ``type`` = *code*."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[validation_item(loc, msg, code, ctx)])


def sent_changes(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body sets (those the client sent, ``null`` included), or a 422
    ``nothing_to_change`` when it sent none."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise unprocessable("send at least one field to change", "body", code=ErrorCode.NOTHING_TO_CHANGE)
    return changes


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's handler plus ``code``: ours from :class:`ApiError`, else ``http_<status>``
    (e.g. a 404 for an unknown path or a 405), so every error body has one."""
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code in (status.HTTP_204_NO_CONTENT, status.HTTP_304_NOT_MODIFIED):
        return JSONResponse(None, status_code=exc.status_code, headers=headers)
    if not isinstance(exc.detail, str):  # a list of 422 items: FastAPI's own shape
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    code = exc.code if isinstance(exc, ApiError) else f"http_{exc.status_code}"
    return JSONResponse(
        {"detail": exc.detail, "code": str(code)}, status_code=exc.status_code, headers=headers
    )
