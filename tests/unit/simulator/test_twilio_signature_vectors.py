"""The emulator's own X-Twilio-Signature against Twilio's official vectors (wire-formats.md §6)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from simulator.twilio_signature import body_sha256, compute_signature, signing_string

OFFICIAL_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_signing_string_matches_the_documented_concatenation():
    assert signing_string(URL, OFFICIAL_PARAMS) == (
        "https://mycompany.com/myapp.php?foo=1&bar=2"
        "CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_official_vectors(url: str, expected: str):
    assert compute_signature("12345", url, OFFICIAL_PARAMS) == expected


def test_repeated_keys_are_deduplicated_and_sorted():
    params = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert compute_signature("12345", URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_json_body_vector_signs_the_url_with_body_hash_only():
    body = b'{"property": "value", "boolean": true}'
    digest = body_sha256(body)
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert compute_signature("12345", f"{URL}&bodySHA256={digest}") == "a9nBmqA0ju/hNViExpshrM61xv4="


def test_older_docs_vector():
    params = {**OFFICIAL_PARAMS, "From": "+12349013030", "Caller": "+12349013030"}
    assert compute_signature("12345", URL, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


PROJECT_TOKEN = "test_auth_token_0123456789abcdef"
GATHER_BASE = {
    "AccountSid": "AC00000000000000000000000000000001",
    "ApiVersion": "2010-04-01",
    "CallSid": "CA00000000000000000000000000000002",
    "CallStatus": "in-progress",
    "Called": "+821012345678",
    "Caller": "+15005550006",
    "Direction": "outbound-api",
    "From": "+15005550006",
    "To": "+821012345678",
}


def test_project_vector_korean_speech():
    params = {**GATHER_BASE, "Confidence": "0.91", "SpeechResult": "네 괜찮아요."}
    url = "https://care.example.org/twilio/voice/gather?visit=42"
    assert compute_signature(PROJECT_TOKEN, url, params) == "yPkOCIO6fNw78DEisGZbDdx8Tt0="


def test_project_vector_digits():
    url = "https://care.example.org/twilio/voice/gather?visit=42"
    assert (
        compute_signature(PROJECT_TOKEN, url, {**GATHER_BASE, "Digits": "1"})
        == "by1g35H52QOpYuMHbMSQvC/OXKM="
    )


def test_project_vector_status_callback():
    params = {
        **GATHER_BASE,
        "CallStatus": "no-answer",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": "2",
        "Timestamp": "Wed, 01 May 2024 00:01:05 +0000",
        "CallDuration": "0",
        "Duration": "0",
    }
    url = "https://care.example.org/twilio/voice/status"
    assert compute_signature(PROJECT_TOKEN, url, params) == "s2YMWUvXmlEilf/0IVTlDtxIZSY="


def test_project_vector_sms_status():
    sid = "SM00000000000000000000000000000003"
    params = {
        "AccountSid": "AC00000000000000000000000000000001",
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": "undelivered",
        "SmsSid": sid,
        "SmsStatus": "undelivered",
        "To": "+821012345678",
        "ErrorCode": "30003",
    }
    url = "https://care.example.org/twilio/sms/status"
    assert compute_signature(PROJECT_TOKEN, url, params) == "lvzhsbDE2irmR4ng92JBHOXWOr0="


def test_a_changed_value_changes_the_signature_and_twilio_agrees_on_the_original():
    params = dict(OFFICIAL_PARAMS)
    original = compute_signature("12345", URL, params)
    assert RequestValidator("12345").validate(URL, params, original)
    params["Digits"] = "1235"
    assert compute_signature("12345", URL, params) != original
    assert not RequestValidator("12345").validate(URL, params, original)
