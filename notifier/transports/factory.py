"""Pick the transport the settings ask for."""

from __future__ import annotations

from core.settings import Settings
from notifier.transports.base import Transport
from notifier.transports.console import ConsoleTransport
from notifier.transports.twilio import TwilioTransport


class TransportConfigError(ValueError):
    """The settings select Twilio but leave out something it needs."""


def make_transport(settings: Settings) -> Transport:
    if settings.effective_transport == "console":
        return ConsoleTransport()
    missing = [
        name
        for name, value in (
            ("ANBU_TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            ("ANBU_TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
            ("ANBU_TWILIO_FROM_NUMBER", settings.twilio_from_number),
        )
        if not value
    ]
    if missing:
        raise TransportConfigError("the twilio transport needs " + ", ".join(missing))
    assert settings.twilio_account_sid and settings.twilio_auth_token
    return TwilioTransport(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        api_base=settings.twilio_api_base,
    )
