"""Management: pending devices and their assignment, CSV import of households and contacts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from api import audit
from api.csv_import import HouseholdRow, RowError, parse_contacts, parse_households
from api.deps import ClockDep, ManagerUser, SessionDep
from api.errors import (
    ApiError,
    ErrorCode,
    error_response,
    not_found,
    unprocessable,
    validation_item,
)
from api.household_queries import get_visible_household, insert_household
from api.queries import visible_households
from api.routes.pagination import DEFAULT_LIMIT, Limit, Offset, PathId
from api.schemas import AssignDeviceIn, DeviceOut, DevicePage, ImportErrorOut, ImportReport
from core.enums import AuditAction, AuditObject, Role
from core.models import Contact, Device, Household, Team, User
from gateway.devices import DeviceAssignmentError, assign_device, count_pending_devices, pending_devices

log = logging.getLogger(__name__)
router = APIRouter(tags=["management"])

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# The import routes' body cap (the app's is far smaller): the file plus its multipart framing.
IMPORT_MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "some rows are wrong, nothing was written: the usual validation `detail` "
        "(loc = body, file, row, column) plus the import report fields (`errors` by row)"
    },
    413: {"description": "file larger than 2 MB (or the whole request larger than 2 MB + 64 KiB)"},
}
DryRun = Annotated[bool, Query(description="check every row, write nothing")]


def _device_out(d: Device) -> DeviceOut:
    return DeviceOut.model_validate(d)


@router.get("/devices/pending", response_model=DevicePage)
def list_pending_devices(
    session: SessionDep, user: ManagerUser, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> DevicePage:
    """Plugs heard on the wire but not yet assigned, most recently heard first, a page at a time."""
    items = [_device_out(d) for d in pending_devices(session, limit=limit, offset=offset)]
    return DevicePage(items=items, total=count_pending_devices(session), limit=limit, offset=offset)


@router.post(
    "/devices/{device_id}/assign",
    response_model=DeviceOut,
    responses={404: error_response("no such device, or a household you may not see"), 422: {}},
)
def assign(
    device_id: PathId,
    body: AssignDeviceIn,
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
) -> DeviceOut:
    """Assign a pending plug, or move one between households the caller may both manage."""
    found = session.get(Device, device_id)
    # A device already at work in a household the caller may not see is not theirs to move: it
    # answers like a missing one (ids are not an oracle).
    if found is None or (
        found.household_id is not None and get_visible_household(session, user, found.household_id) is None
    ):
        raise not_found(ErrorCode.DEVICE_NOT_FOUND, "device")
    if get_visible_household(session, user, body.household_id) is None:
        raise not_found(ErrorCode.HOUSEHOLD_NOT_FOUND, "household")
    previous = found.household_id
    try:
        device = assign_device(session, device_id, body.household_id, body.appliance)
    except DeviceAssignmentError as exc:
        raise unprocessable(str(exc), "body", code=ErrorCode.DEVICE_UNASSIGNABLE) from None
    now = clock.now()
    # A move changes two households: the one that lost its plug is on the record too.
    audit.record_each(
        session,
        request,
        user,
        AuditAction.UPDATE,
        AuditObject.HOUSEHOLD,
        (previous, body.household_id),
        now=now,
    )
    log.info(
        "device assigned device_id=%s household_id=%s from=%s user_id=%s",
        device_id,
        body.household_id,
        previous,
        user.id,
    )
    return _device_out(device)


def _read_csv(upload: UploadFile) -> str:
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(status.HTTP_413_CONTENT_TOO_LARGE, ErrorCode.FILE_TOO_LARGE, "file larger than 2 MB")
    for encoding in ("utf-8-sig", "cp949"):  # Korean Excel saves CSV as CP949 unless told otherwise
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ApiError(
        status.HTTP_400_BAD_REQUEST, ErrorCode.FILE_NOT_TEXT, "file is neither UTF-8 nor CP949 text"
    )


def _report(
    dry_run: bool, rows: int, created: int, errors: Sequence[RowError]
) -> ImportReport | JSONResponse:
    report = ImportReport(
        dry_run=dry_run,
        rows=rows,
        created=created,
        errors=[
            ImportErrorOut(row=e.row, column=e.column, message=e.message, code=e.code, params=e.params)
            for e in errors
        ],
    )
    if errors:
        detail = [
            validation_item(("body", "file", e.row, e.column or ""), e.message, e.code, e.params or None)
            for e in errors
        ]
        content = {"detail": detail, **report.model_dump()}
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content=content)
    return report


@router.post(
    "/import/households",
    response_model=ImportReport,
    responses=REPORT_RESPONSES,
    max_body_size=IMPORT_MAX_BODY_BYTES,
)
def import_households(
    file: Annotated[
        UploadFile,
        File(description="CSV: code, team (name) or team_id, resident_name, … (Korean headers too)"),
    ],
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
    dry_run: DryRun = False,
) -> ImportReport | JSONResponse:
    """One household (and its resident) per row. All rows are written, or none."""
    parsed = parse_households(_read_csv(file))
    errors = list(parsed.errors)
    codes = [row.code for _, row in parsed.rows]
    taken = (
        set(session.exec(select(Household.code).where(col(Household.code).in_(codes))).all())
        if codes
        else set()
    )
    teams = session.exec(select(Team.id, Team.name)).all()
    resolved: dict[int, int] = {}  # line -> team id
    for line, row in parsed.rows:
        if row.code in taken:
            errors.append(
                RowError(
                    line,
                    parsed.column("code"),
                    "a household with this code already exists",
                    ErrorCode.CSV_CODE_EXISTS.value,
                )
            )
        team_id, problem = _team_of(row, teams, user)
        if problem is not None:
            column = parsed.column("team" if row.team else "team_id")
            errors.append(RowError(line, column, problem[1], problem[0].value))
        elif team_id is not None:
            resolved[line] = team_id
    errors.sort(key=lambda e: e.row)
    if errors or dry_run:
        return _report(dry_run, len(parsed.rows), 0, errors)
    now = clock.now()
    for line, row in parsed.rows:
        household = _create_household(session, row, resolved[line], now)
        audit.record(session, request, user, AuditAction.CREATE, AuditObject.HOUSEHOLD, household.id, now=now)
    log.info("households imported n=%s user_id=%s", len(parsed.rows), user.id)
    return _report(False, len(parsed.rows), len(parsed.rows), [])


def _team_of(
    row: HouseholdRow, teams: Sequence[tuple[int | None, str]], user: User
) -> tuple[int | None, tuple[ErrorCode, str] | None]:
    """The row's team id, by name (as the dashboard shows it) or by id, or why it has none."""
    if row.team:
        wanted = row.team.casefold()
        matches = [team_id for team_id, name in teams if name.strip().casefold() == wanted]
    else:
        matches = [team_id for team_id, _ in teams if team_id == row.team_id]
    if not matches:
        return None, (ErrorCode.NO_SUCH_TEAM, "no such team")
    if len(matches) > 1:
        return None, (ErrorCode.CSV_TEAM_AMBIGUOUS, "more than one team has this name; give team_id")
    if user.role == Role.CASEWORKER and matches[0] != user.team_id:
        return None, (ErrorCode.OWN_TEAM_ONLY, "you may import only into your own team")
    return matches[0], None


def _create_household(session: Session, row: HouseholdRow, team_id: int, now: datetime) -> Household:
    resident = {"name": row.resident_name, "phone": row.resident_phone, "language": row.resident_language}
    return insert_household(
        session,
        team_id=team_id,
        code=row.code,
        address=row.address,
        timezone=row.timezone,
        quiet_hours=row.quiet_hours,
        resident=resident,
        now=now,
    )


@router.post(
    "/import/contacts",
    response_model=ImportReport,
    responses=REPORT_RESPONSES,
    max_body_size=IMPORT_MAX_BODY_BYTES,
)
def import_contacts(
    file: Annotated[UploadFile, File(description="CSV: household_code, name, phone, …")],
    request: Request,
    session: SessionDep,
    user: ManagerUser,
    clock: ClockDep,
    dry_run: DryRun = False,
) -> ImportReport | JSONResponse:
    """One contact per row, added to the household with that code. All rows are written, or none."""
    parsed = parse_contacts(_read_csv(file))
    errors = list(parsed.errors)
    codes = {row.household_code for _, row in parsed.rows}
    households = (
        {
            h.code: h
            for h in session.exec(
                select(Household).where(col(Household.code).in_(codes)).where(visible_households(user))
            ).all()
        }
        if codes
        else {}
    )
    for line, row in parsed.rows:
        if row.household_code not in households:
            errors.append(
                RowError(
                    line,
                    parsed.column("household_code"),
                    "no such household (or not one of yours)",
                    ErrorCode.CSV_NO_SUCH_HOUSEHOLD.value,
                )
            )
    errors.sort(key=lambda e: e.row)
    if errors or dry_run:
        return _report(dry_run, len(parsed.rows), 0, errors)
    now = clock.now()
    touched: set[int] = set()
    for _, row in parsed.rows:
        household_id = households[row.household_code].id
        assert household_id is not None
        session.add(
            Contact(
                household_id=household_id,
                name=row.name,
                relation=row.relation,
                phone=row.phone,
                tier=row.tier,
                language=row.language,
                preferred_channel=row.channel,
            )
        )
        touched.add(household_id)
    for household_id in sorted(touched):
        audit.record(session, request, user, AuditAction.UPDATE, AuditObject.HOUSEHOLD, household_id, now=now)
    log.info("contacts imported n=%s user_id=%s", len(parsed.rows), user.id)
    return _report(False, len(parsed.rows), len(parsed.rows), [])
