"""orjson and the stdlib path of parse_json_object accept and refuse the same payloads, for the same reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters import _common
from gateway.adapters._common import parse_json_object
from gateway.observation import DecodeError

assert _common._orjson_loads is not None, "orjson is a dependency: the fast parser must be in use"


def _outcome(payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse_json_object(payload)
    except DecodeError as exc:
        return "refused", exc.reason


def _both(payload: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = _outcome(payload)
    with monkeypatch.context() as m:
        m.setattr(_common, "_orjson_loads", None)
        stdlib = _outcome(payload)
    return fast, stdlib


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_valid_json_parses_to_the_same_value(value: Any) -> None:
    payload = json.dumps(value).encode()
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, stdlib = _both(payload, monkeypatch)
    assert fast == stdlib


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=60)
    | st.text(alphabet='{}[]":,0123456789.eE-+ natruefls\\u', max_size=40).map(str.encode)
)
def test_garbage_is_refused_alike(payload: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, stdlib = _both(payload, monkeypatch)
    assert fast == stdlib


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'\xef\xbb\xbf{"a": 1}',  # UTF-8 byte order mark
        b'{"a": "\\ud800"}',  # lone surrogate: the stdlib accepts it
        b'{"a": 1e400}',  # the stdlib makes it inf (number() refuses it later), orjson refuses
        b'{"a": "\xff"}',  # invalid UTF-8
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"a":' * 9 + b"1" + b"}" * 9,
        b'{"a": 1, "a": 2}',
        b"[1]",
        b" {} ",
        b'{"v":1,"power_w":' + b"9" * 5000 + b"}",
    ],
)
def test_edge_cases_have_one_answer(payload: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, stdlib = _both(payload, monkeypatch)
    assert fast == stdlib
