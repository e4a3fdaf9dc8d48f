"""CSV import of households and contacts: every row checked, errors reported by row and column.

Pure parsing here (:func:`parse_households`, :func:`parse_contacts`); the route checks what
needs the database (teams, codes, visibility) and writes nothing unless every row is good,
so a file with one bad row can be fixed and sent again without duplicates.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ErrorCode
from api.users import PHONE_RE
from core.enums import Channel, Language

MAX_ROWS = 5000
HOUSEHOLD_COLUMNS = (
    "code",
    "team_id",
    "timezone",
    "address",
    "quiet_hours",
    "resident_name",
    "resident_phone",
    "resident_language",
)
HOUSEHOLD_REQUIRED = ("code", "team_id", "resident_name")
CONTACT_COLUMNS = ("household_code", "name", "relation", "phone", "tier", "language", "channel")
CONTACT_REQUIRED = ("household_code", "name", "phone")

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line number in the file (the header is line 1; 0 = the file as a whole)
    column: str | None
    message: str  # English
    code: str  # stable, for translation (api/errors.ErrorCode)
    params: dict[str, str | int] = field(default_factory=dict)  # what the translation fills in


@dataclass
class Parsed(Generic[T]):
    rows: list[tuple[int, T]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class HouseholdRow:
    code: str
    team_id: int
    timezone: str
    address: str
    quiet_hours: float | None
    resident_name: str
    resident_phone: str | None
    resident_language: Language


@dataclass(frozen=True)
class ContactRow:
    household_code: str
    name: str
    relation: str
    phone: str
    tier: int
    language: Language
    channel: Channel


class _Row:
    """One CSV record with typed getters that collect errors instead of raising."""

    def __init__(self, line: int, values: dict[str, str], errors: list[RowError]) -> None:
        self.line, self.values, self.errors = line, values, errors
        self.ok = True

    def fail(self, column: str, code: ErrorCode, message: str, **params: str | int) -> None:
        self.ok = False
        self.errors.append(RowError(self.line, column, message, code.value, params))

    def text(self, column: str, *, max_length: int, required: bool = False) -> str:
        value = (self.values.get(column) or "").strip()
        if required and not value:
            self.fail(column, ErrorCode.CSV_REQUIRED, "required")
        elif len(value) > max_length:
            self.fail(column, ErrorCode.CSV_TOO_LONG, f"at most {max_length} characters", max=max_length)
        return value

    def integer(self, column: str, *, low: int, high: int, default: int | None = None) -> int:
        raw = (self.values.get(column) or "").strip()
        if not raw and default is not None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.fail(column, ErrorCode.CSV_NOT_INTEGER, "must be a whole number")
            return 0
        if not low <= value <= high:
            self.fail(
                column, ErrorCode.CSV_OUT_OF_RANGE, f"must be between {low} and {high}", low=low, high=high
            )
        return value

    def phone(self, column: str, *, required: bool) -> str | None:
        value = self.text(column, max_length=32, required=required)
        if value and not PHONE_RE.fullmatch(value):
            self.fail(column, ErrorCode.PHONE_FORMAT, "must be E.164, e.g. +821012345678")
        return value or None

    def choice(self, column: str, enum: type[Language] | type[Channel], default: str) -> str:
        raw = (self.values.get(column) or "").strip().lower() or default
        allowed = [m.value for m in enum]
        if raw not in allowed:
            self.fail(
                column,
                ErrorCode.CSV_CHOICE,
                "must be one of " + ", ".join(allowed),
                allowed=", ".join(allowed),
            )
            return default
        return raw


def _records(
    text: str, columns: tuple[str, ...], required: tuple[str, ...], errors: list[RowError]
) -> list[_Row]:
    try:
        return _read_records(text, columns, required, errors)
    except csv.Error as exc:  # e.g. a stray carriage return inside an unquoted field
        errors.append(RowError(0, None, f"not a readable CSV file: {exc}", ErrorCode.CSV_UNREADABLE.value))
        return []


def _read_records(
    text: str, columns: tuple[str, ...], required: tuple[str, ...], errors: list[RowError]
) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))  # Excel writes a BOM
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing or unknown or not header:
        if missing or not header:
            names = ", ".join(missing or required)
            errors.append(
                RowError(
                    1,
                    None,
                    "missing columns: " + names,
                    ErrorCode.CSV_MISSING_COLUMNS.value,
                    {"columns": names},
                )
            )
        if unknown:
            names = ", ".join(unknown)
            errors.append(
                RowError(
                    1,
                    None,
                    "unknown columns: " + names,
                    ErrorCode.CSV_UNKNOWN_COLUMNS.value,
                    {"columns": names},
                )
            )
        return []
    reader.fieldnames = header
    rows: list[_Row] = []
    for record in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            errors.append(
                RowError(
                    line,
                    None,
                    f"more than {MAX_ROWS} rows; split the file",
                    ErrorCode.CSV_TOO_MANY_ROWS.value,
                    {"max": MAX_ROWS},
                )
            )
            break
        if None in record:
            errors.append(RowError(line, None, "more values than columns", ErrorCode.CSV_EXTRA_VALUES.value))
            continue
        values = {k: v or "" for k, v in record.items()}
        if not any(v.strip() for v in values.values()):
            continue  # blank line
        rows.append(_Row(line, values, errors))
    if not rows and not errors:
        errors.append(RowError(1, None, "no rows", ErrorCode.CSV_NO_ROWS.value))
    return rows


def parse_households(text: str) -> Parsed[HouseholdRow]:
    parsed: Parsed[HouseholdRow] = Parsed()
    seen: dict[str, int] = {}
    for row in _records(text, HOUSEHOLD_COLUMNS, HOUSEHOLD_REQUIRED, parsed.errors):
        code = row.text("code", max_length=40, required=True)
        if code in seen:
            row.fail("code", ErrorCode.CSV_DUPLICATE, f"duplicate of row {seen[code]}", row=seen[code])
        seen.setdefault(code, row.line)
        team_id = row.integer("team_id", low=1, high=2**31 - 1)
        timezone = row.text("timezone", max_length=64) or "Asia/Seoul"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            row.fail("timezone", ErrorCode.UNKNOWN_TIMEZONE, "unknown time zone (e.g. Asia/Seoul)")
        raw_quiet = row.text("quiet_hours", max_length=10)
        quiet: float | None = None
        if raw_quiet:
            try:
                quiet = float(raw_quiet)
            except ValueError:
                row.fail("quiet_hours", ErrorCode.CSV_NOT_NUMBER, "must be a number of hours")
            else:
                if not 0 < quiet <= 72:
                    row.fail(
                        "quiet_hours",
                        ErrorCode.CSV_OUT_OF_RANGE,
                        "must be more than 0 and at most 72",
                        low=0,
                        high=72,
                    )
        household = HouseholdRow(
            code=code,
            team_id=team_id,
            timezone=timezone,
            address=row.text("address", max_length=400),
            quiet_hours=quiet,
            resident_name=row.text("resident_name", max_length=200, required=True),
            resident_phone=row.phone("resident_phone", required=False),
            resident_language=Language(row.choice("resident_language", Language, "ko")),
        )
        if row.ok:
            parsed.rows.append((row.line, household))
    return parsed


def parse_contacts(text: str) -> Parsed[ContactRow]:
    parsed: Parsed[ContactRow] = Parsed()
    for row in _records(text, CONTACT_COLUMNS, CONTACT_REQUIRED, parsed.errors):
        contact = ContactRow(
            household_code=row.text("household_code", max_length=40, required=True),
            name=row.text("name", max_length=200, required=True),
            relation=row.text("relation", max_length=100),
            phone=row.phone("phone", required=True) or "",
            tier=row.integer("tier", low=1, high=9, default=1),
            language=Language(row.choice("language", Language, "ko")),
            channel=Channel(row.choice("channel", Channel, "sms")),
        )
        if row.ok:
            parsed.rows.append((row.line, contact))
    return parsed
