"""ANBU_LOG_FORMAT: readable lines or one JSON object per line; phone numbers masked in both."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from anbu.logs import JsonFormatter, MaskingFormatter, mask_phones


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("The 'To' number +821098765432 is not a valid phone number")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("anbu.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_phone_numbers_are_masked_whatever_their_shape() -> None:
    assert mask_phones("to +821012345678.") == "to +8210****5678."
    assert mask_phones("010-1234-5678 and 01098765432") == "010-****-5678 and 010-****-5432"
    # Ids, times and counts are left alone.
    assert mask_phones("case 1234567890 at 2026-03-02T09:00:00+09:00") == (
        "case 1234567890 at 2026-03-02T09:00:00+09:00"
    )


def test_json_lines_carry_level_logger_message_and_the_masked_traceback() -> None:
    line = JsonFormatter().format(_record("sms to %s failed", "+821012345678", exc=True))
    body = json.loads(line)
    assert body["level"] == "WARNING" and body["logger"] == "anbu.test"
    assert body["message"] == "sms to +8210****5678 failed"
    assert "ValueError" in body["exc"] and "+8210****5432" in body["exc"]
    assert "821098765432" not in line and "821012345678" not in line
    assert body["ts"].endswith("+00:00")
    assert "\n" not in line  # one record, one line


def test_text_lines_are_masked_too() -> None:
    line = MaskingFormatter("%(levelname)s %(message)s").format(_record("call %s", "+821012345678", exc=True))
    assert line.startswith("WARNING call +8210****5678")
    assert "821098765432" not in line


def test_anbu_log_format_json_makes_every_line_json() -> None:
    code = (
        "import logging; from anbu import logs; logs.configure('json');"
        "logging.getLogger('anbu').info('hello %s', '+821012345678')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "hello +8210****5678"


def test_an_unknown_log_format_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from anbu.cli import main

    monkeypatch.setenv("ANBU_LOG_FORMAT", "xml")
    assert main(["stats"]) == 2
    assert "log_format" in capsys.readouterr().err
