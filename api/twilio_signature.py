"""``X-Twilio-Signature`` checking: the only gate in front of our webhooks.

Twilio signs the URL it requested (our public base URL + path + query, exactly as sent)
and the form parameters. We rebuild that URL from settings rather than from the Host
header, so a proxy or a forged Host cannot change what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class FormParams:
    """Form values in the shape RequestValidator understands (``getlist``), repeated keys kept."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            self._values.setdefault(key, []).append(value)

    def __iter__(self) -> Iterator[str]:  # RequestValidator iterates the names
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getlist(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    def single(self) -> dict[str, str]:
        """One value per name (the first): what the notifier handlers take."""
        return {key: values[0] for key, values in self._values.items()}


def signed_url(public_base_url: str, path: str, query: str) -> str:
    return public_base_url.rstrip("/") + path + (f"?{query}" if query else "")


def is_valid(*, auth_token: str, url: str, params: FormParams, signature: str | None) -> bool:
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    return bool(validator.validate(url, params, signature))
