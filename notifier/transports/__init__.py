"""Ways to reach a phone: the real Twilio API, or a console that prints what it would send."""

from notifier.transports.base import Transport, TransportError, mask_phone

__all__ = ["Transport", "TransportError", "mask_phone"]
