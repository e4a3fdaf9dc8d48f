"""X-Twilio-Signature checking against Twilio's published vectors and our own."""

from __future__ import annotations

from api.twilio_signature import FormParams, is_valid, signed_url

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


def test_twilio_reference_vector() -> None:
    params = FormParams(TWILIO_PARAMS)
    assert is_valid(
        auth_token="12345", url=TWILIO_URL, params=params, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    # Twilio may have signed the URL with the default port made explicit.
    assert is_valid(
        auth_token="12345", url=TWILIO_URL, params=params, signature="kvajT1Ptam85bY51eRf/AJRuM3w="
    )
    assert not is_valid(
        auth_token="54321", url=TWILIO_URL, params=params, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_repeated_values_vector() -> None:
    params = FormParams(
        [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
    )
    assert is_valid(
        auth_token="12345", url=TWILIO_URL, params=params, signature="IK+Dwps556ElfBT0I3Rgjkr1wJU="
    )


def test_korean_speech_gather_vector() -> None:
    params = FormParams(
        [
            ("AccountSid", "AC00000000000000000000000000000001"),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", "CA00000000000000000000000000000002"),
            ("CallStatus", "in-progress"),
            ("Called", "+821012345678"),
            ("Caller", "+15005550006"),
            ("Confidence", "0.91"),
            ("Direction", "outbound-api"),
            ("From", "+15005550006"),
            ("SpeechResult", "네 괜찮아요."),
            ("To", "+821012345678"),
        ]
    )
    url = "https://care.example.org/twilio/voice/gather?visit=42"
    token = "test_auth_token_0123456789abcdef"
    assert is_valid(auth_token=token, url=url, params=params, signature="yPkOCIO6fNw78DEisGZbDdx8Tt0=")


def test_missing_or_empty_signature_is_invalid() -> None:
    params = FormParams(TWILIO_PARAMS)
    assert not is_valid(auth_token="12345", url=TWILIO_URL, params=params, signature=None)
    assert not is_valid(auth_token="12345", url=TWILIO_URL, params=params, signature="")


def test_signed_url_is_public_base_plus_path_and_raw_query() -> None:
    assert signed_url("https://a.example/", "/x/y", "") == "https://a.example/x/y"
    assert signed_url("https://a.example", "/x", "code=a%2Bb&z=1") == "https://a.example/x?code=a%2Bb&z=1"


def test_form_params_keep_repeats_and_give_handlers_the_first_value() -> None:
    params = FormParams([("A", "2"), ("A", "1"), ("B", "x")])
    assert list(params) == ["A", "B"]
    assert params.getlist("A") == ["2", "1"]
    assert params.getlist("missing") == []
    assert params.single() == {"A": "2", "B": "x"}
