"""CSV parsing for imports: every problem is reported with its line and column."""

from __future__ import annotations

from api.csv_import import parse_contacts, parse_households
from core.enums import Channel, Language


def test_good_household_rows_are_typed_with_defaults() -> None:
    text = "\ufeffcode,team_id,resident_name,resident_phone,quiet_hours\nA-1,3,Kim,+821012345678,10\nA-2,3,Lee,,\n"
    parsed = parse_households(text)
    assert parsed.errors == []
    (line1, first), (line2, second) = parsed.rows
    assert (line1, first.code, first.team_id, first.quiet_hours, first.resident_phone) == (
        2,
        "A-1",
        3,
        10.0,
        "+821012345678",
    )
    assert (line2, second.timezone, second.resident_phone, second.resident_language) == (
        3,
        "Asia/Seoul",
        None,
        Language.KO,
    )


def test_each_bad_value_is_reported_by_line_and_column() -> None:
    text = (
        "code,team_id,resident_name,resident_phone,timezone,quiet_hours\n"
        "A-1,x,Kim,010-1234,Mars/Base,0\n"
        ",1,,,,\n"
        "A-3,1,Park,,,\n"
        "A-3,1,Choi,,,\n"
    )
    parsed = parse_households(text)
    found = {(e.row, e.column) for e in parsed.errors}
    assert found == {
        (2, "team_id"),
        (2, "resident_phone"),
        (2, "timezone"),
        (2, "quiet_hours"),
        (3, "code"),
        (3, "resident_name"),
        (5, "code"),  # duplicate of row 4
    }
    assert [line for line, _ in parsed.rows] == [4]


def test_header_problems_stop_before_rows() -> None:
    missing = parse_households("code,resident_name\nA,B\n")
    assert missing.rows == [] and missing.errors[0].params == {"columns": "team"}
    unknown = parse_contacts("household_code,name,phone,email\nA,B,+821012345678,x@y\n")
    assert unknown.rows == [] and "email" in unknown.errors[0].message
    assert parse_contacts("").errors[0].message.startswith("missing columns")


def test_contacts_parse_tier_language_and_channel() -> None:
    text = "household_code,name,phone,tier,language,channel\nA-1,Kim Daughter,+821077700101,2,EN,call\nA-1,x,+82101,,,fax\n"
    parsed = parse_contacts(text)
    assert [(r.tier, r.language, r.channel) for _, r in parsed.rows] == [(2, Language.EN, Channel.CALL)]
    assert {(e.row, e.column) for e in parsed.errors} == {(3, "phone"), (3, "channel")}


def test_extra_values_and_blank_lines() -> None:
    parsed = parse_contacts("household_code,name,phone\nA,B,+821012345678,extra\n\n")
    assert [(e.row, e.message) for e in parsed.errors] == [(2, "more values than columns")]


def test_unreadable_csv_is_an_error_not_a_crash() -> None:
    parsed = parse_contacts("household_code,name,phone\nA,\r0\n")  # a bare CR inside a field
    assert parsed.rows == [] and parsed.errors
    old_mac = parse_contacts("household_code,name,phone\rA,B,+821012345678\r")  # CR line ends
    assert [r.name for _, r in old_mac.rows] == ["B"]


def test_korean_headers_team_names_and_korean_numbers() -> None:
    """Issue 17, item 8: a centre's own spreadsheet — Korean headers, the team by the name the
    dashboard shows, and numbers as people write them (they used to be refused)."""
    text = (
        "가구코드,팀,어르신 이름,전화번호,주소\n"
        "GN-1,행복동 주민센터,김순자,010-1234-5678,서울 강남구 1\n"
        "GN-2,행복동 주민센터,이영희,01098765432,\n"
        "GN-3,행복동 주민센터,박말순,+82 10 5555 0001,\n"
    )
    parsed = parse_households(text)
    assert parsed.errors == []
    assert [(r.code, r.team, r.team_id, r.resident_name, r.resident_phone) for _, r in parsed.rows] == [
        ("GN-1", "행복동 주민센터", None, "김순자", "+821012345678"),
        ("GN-2", "행복동 주민센터", None, "이영희", "+821098765432"),
        ("GN-3", "행복동 주민센터", None, "박말순", "+821055550001"),
    ]
    assert parsed.rows[0][1].address == "서울 강남구 1"
    contacts = parse_contacts("가구코드,이름,관계,연락처,순서\nGN-1,김딸,딸,010-7771-1111,1\n")
    assert contacts.errors == []
    assert [(r.household_code, r.name, r.relation, r.phone, r.tier) for _, r in contacts.rows] == [
        ("GN-1", "김딸", "딸", "+821077711111", 1)
    ]


def test_a_problem_names_the_column_as_the_file_wrote_it() -> None:
    parsed = parse_households("가구코드,팀,어르신 이름,전화번호\nGN-1,,김순자,010-12\n")
    assert {(e.row, e.column, e.code) for e in parsed.errors} == {
        (2, "팀", "csv_required"),
        (2, "전화번호", "csv_phone"),
    }
    assert parsed.column("code") == "가구코드"


def test_the_same_column_twice_is_refused_whatever_its_language() -> None:
    parsed = parse_households("code,가구코드,team,resident_name\nA,B,T,Kim\n")
    assert parsed.rows == []
    assert [(e.code, e.params) for e in parsed.errors] == [
        ("csv_duplicate_columns", {"columns": "code, 가구코드"})
    ]


def test_the_numeric_team_id_of_older_files_is_still_read() -> None:
    parsed = parse_households("code,team_id,resident_name\nA,3,Kim\n")
    assert parsed.errors == []
    assert [(r.team, r.team_id) for _, r in parsed.rows] == [("", 3)]
