"""CSV import of households and contacts: every row checked, errors reported by row and column.

Pure parsing here (:func:`parse_households`, :func:`parse_contacts`); the route checks what
needs the database (teams, codes, visibility) and writes nothing unless every row is good,
so a file with one bad row can be fixed and sent again without duplicates.

Files come from welfare centres' spreadsheets (issue 17, item 8): column headers may be Korean
("가구코드", "어르신 이름", "전화번호") or English, the team is named as the dashboard shows it
("행복동 주민센터"; the older numeric ``team_id`` is still read), and phone numbers are read as
people write them ("010-1234-5678") and stored as E.164. A problem names the column as the file
wrote it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ErrorCode
from api.phone_numbers import to_e164
from core.enums import Channel, Language

MAX_ROWS = 5000
HOUSEHOLD_COLUMNS = (
    "code",
    "team",
    "team_id",
    "timezone",
    "address",
    "quiet_hours",
    "resident_name",
    "resident_phone",
    "resident_language",
)
HOUSEHOLD_REQUIRED = ("code", "resident_name")
HOUSEHOLD_ONE_OF = ("team", "team_id")  # the team by name (what the dashboard shows) or by id
CONTACT_COLUMNS = ("household_code", "name", "relation", "phone", "tier", "language", "channel")
CONTACT_REQUIRED = ("household_code", "name", "phone")
# Korean headers for each column; compared without spaces, "_" or case ("가구 코드" = "가구코드").
KOREAN_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("가구코드", "코드"),
    "team": ("팀", "팀이름", "담당팀", "소속팀"),
    "team_id": ("팀번호",),
    "timezone": ("시간대",),
    "address": ("주소",),
    "quiet_hours": ("무응답시간", "조용한시간"),
    "resident_name": ("어르신이름", "대상자이름", "대상자", "어르신", "이름", "성명"),
    "resident_phone": ("어르신전화번호", "대상자전화번호", "전화번호", "전화", "휴대폰"),
    "resident_language": ("언어", "어르신언어"),
    "household_code": ("가구코드", "코드"),
    "name": ("보호자이름", "연락처이름", "이름", "성명"),
    "relation": ("관계",),
    "phone": ("전화번호", "전화", "휴대폰", "연락처"),
    "tier": ("순서", "연락순서", "단계"),
    "language": ("언어",),
    "channel": ("연락방법", "채널"),
}

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
    headers: dict[str, str] = field(default_factory=dict)  # column -> its header as written

    def column(self, name: str) -> str:
        """How the file names *name* ("가구코드" for code), for a problem found after parsing."""
        return self.headers.get(name, name)


@dataclass(frozen=True)
class HouseholdRow:
    code: str
    team: str  # the team's name; "" when the file gives team_id
    team_id: int | None
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

    def __init__(
        self, line: int, values: dict[str, str], errors: list[RowError], written: dict[str, str]
    ) -> None:
        self.line, self.values, self.errors = line, values, errors
        self.written = written  # column -> its header as the file wrote it
        self.ok = True

    def fail(self, column: str, code: ErrorCode, message: str, **params: str | int) -> None:
        self.ok = False
        self.errors.append(RowError(self.line, self.written.get(column, column), message, code.value, params))

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
        if not value:
            return None
        number = to_e164(value)
        if number is None:
            self.fail(column, ErrorCode.CSV_PHONE, "not a phone number (e.g. 010-1234-5678 or +821012345678)")
        return number

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


def _key(header: str) -> str:
    return "".join(header.split()).replace("_", "").casefold()


def _column_names(header: list[str], columns: tuple[str, ...]) -> list[str | None]:
    """Each header's column (English or Korean), None for one this import does not know."""
    known: dict[str, str] = {}
    for column in columns:
        known[_key(column)] = column
        for korean in KOREAN_HEADERS.get(column, ()):
            known.setdefault(_key(korean), column)
    return [known.get(_key(h)) for h in header]


def _records(
    text: str,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    errors: list[RowError],
    headers: dict[str, str],
    one_of: tuple[str, ...] = (),
) -> list[_Row]:
    try:
        return _read_records(text, columns, required, one_of, errors, headers)
    except csv.Error as exc:  # e.g. a stray carriage return inside an unquoted field
        errors.append(RowError(0, None, f"not a readable CSV file: {exc}", ErrorCode.CSV_UNREADABLE.value))
        return []


def _read_records(
    text: str,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    one_of: tuple[str, ...],
    errors: list[RowError],
    headers: dict[str, str],
) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))  # Excel writes a BOM
    written = [h.strip() for h in (reader.fieldnames or [])]
    known = _column_names(written, columns)
    header = [n or w for n, w in zip(known, written, strict=True)]
    missing = [c for c in required if c not in header]
    if one_of and not any(c in header for c in one_of):
        missing.insert(1, one_of[0])
    unknown = [w for n, w in zip(known, written, strict=True) if n is None]
    twice = sorted({w for n, w in zip(known, written, strict=True) if n is not None and header.count(n) > 1})
    if twice:
        names_twice = ", ".join(twice)
        errors.append(
            RowError(
                1,
                None,
                "the same column twice: " + names_twice,
                ErrorCode.CSV_DUPLICATE_COLUMNS.value,
                {"columns": names_twice},
            )
        )
        return []
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
    headers.update(zip(header, written, strict=True))
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
        rows.append(_Row(line, values, errors, headers))
    if not rows and not errors:
        errors.append(RowError(1, None, "no rows", ErrorCode.CSV_NO_ROWS.value))
    return rows


def parse_households(text: str) -> Parsed[HouseholdRow]:
    parsed: Parsed[HouseholdRow] = Parsed()
    seen: dict[str, int] = {}
    for row in _records(
        text, HOUSEHOLD_COLUMNS, HOUSEHOLD_REQUIRED, parsed.errors, parsed.headers, HOUSEHOLD_ONE_OF
    ):
        code = row.text("code", max_length=40, required=True)
        if code in seen:
            row.fail("code", ErrorCode.CSV_DUPLICATE, f"duplicate of row {seen[code]}", row=seen[code])
        seen.setdefault(code, row.line)
        team = row.text("team", max_length=200)
        team_id: int | None = None
        if not team:
            if "team_id" in row.values:
                team_id = row.integer("team_id", low=1, high=2**31 - 1)
            else:
                row.fail("team", ErrorCode.CSV_REQUIRED, "required")
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
            team=team,
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
    for row in _records(text, CONTACT_COLUMNS, CONTACT_REQUIRED, parsed.errors, parsed.headers):
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
