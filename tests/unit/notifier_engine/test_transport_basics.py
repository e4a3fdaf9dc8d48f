"""Transport pieces that need no network: error mapping, masking, console output, factory."""

from __future__ import annotations

import io

import pytest

from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings
from notifier.transports import TransportError, mask_phone
from notifier.transports.base import is_permanent_code
from notifier.transports.console import ConsoleTransport
from notifier.transports.factory import TransportConfigError, make_transport
from notifier.transports.twilio import TwilioTransport, is_permanent


@pytest.mark.parametrize("code", [21211, 21217, 21214, 21610, 21612, 21614, 21606, 21608, 21216, 13224])
def test_bad_or_unsubscribed_destinations_are_permanent(code: int) -> None:
    assert is_permanent(400, code)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, 20429),  # too many requests
        (429, None),
        (400, 10004),  # call concurrency limit
        (401, 20003),  # our credentials: fix the config, keep the rows
        (500, None),
        (503, 503),
        (502, None),
    ],
)
def test_throttling_outages_and_our_own_credentials_are_temporary(status: int, code: int | None) -> None:
    assert not is_permanent(status, code)


def test_one_table_decides_for_rest_errors_and_delivery_receipts() -> None:
    # A landline (21635) or dead handset (30005/30006) is as permanent in a delivery receipt as a bad
    # number is in a REST error; an unreachable handset (30003) or carrier hiccup (30008) is not.
    permanent: list[str | int] = ["21211", "21610", "21614", "21635", "30005", "30006", 21217]
    temporary: list[str | None] = ["30003", "30008", "20429", "", None]
    assert all(is_permanent_code(code) for code in permanent)
    assert not any(is_permanent_code(code) for code in temporary)
    assert is_permanent(400, 21635) and not is_permanent(429, 30003)


def test_an_unknown_rejection_of_the_request_is_permanent() -> None:
    assert is_permanent(400, 99999)
    assert is_permanent(404, 20404)


def test_transport_error_says_what_kind_it_is() -> None:
    err = TransportError("HTTP 400: bad number", permanent=True, code="21211")
    assert err.permanent and err.code == "21211"
    assert str(err) == "permanent error 21211: HTTP 400: bad number"
    assert str(TransportError("timeout", permanent=False)) == "temporary error -: timeout"


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+821012345678", "+8210****5678"), ("+15005550006", "+1500****0006"), ("12345", "12***"), (None, "-")],
)
def test_phone_numbers_are_masked_for_logs(number: str | None, masked: str) -> None:
    assert mask_phone(number) == masked


def test_console_transport_prints_one_masked_line_per_send() -> None:
    out = io.StringIO()
    console = ConsoleTransport(out)
    call_sid = console.place_call(
        to="+821012345678",
        from_="anbu",
        answer_url="http://x/answer?code=c1",
        status_callback_url="http://x/s",
    )
    sms_sid = console.send_sms(
        to="+821099998888", from_="anbu", body="안녕하세요", status_callback_url="http://x/s"
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert call_sid.startswith("CA") and len(call_sid) == 34
    assert sms_sid.startswith("SM") and sms_sid != call_sid
    assert "+8210****5678" in lines[0] and "12345678" not in lines[0] and "code=c1" in lines[0]
    assert "+8210****8888" in lines[1] and lines[1].endswith("| 안녕하세요")


def test_factory_picks_console_without_credentials() -> None:
    assert isinstance(make_transport(Settings(_env_file=None)), ConsoleTransport)


def test_factory_picks_twilio_with_credentials() -> None:
    settings = Settings(
        _env_file=None,
        twilio_account_sid=DEV_TWILIO_ACCOUNT_SID,
        twilio_auth_token="token",
        twilio_from_number="+15005550006",
    )
    assert isinstance(make_transport(settings), TwilioTransport)


def test_factory_refuses_twilio_without_a_sender_number() -> None:
    settings = Settings(
        _env_file=None,
        transport="twilio",
        twilio_account_sid=DEV_TWILIO_ACCOUNT_SID,
        twilio_auth_token="token",
    )
    with pytest.raises(TransportConfigError, match="ANBU_TWILIO_FROM_NUMBER"):
        make_transport(settings)
