"""The bounded JSON reader, Go-compatible writer and base64 rules shared by the formats."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagesig.errors import PayloadError, SizeLimitExceededError
from imagesig.signatures import _json


def load(raw: bytes, **kwargs: int) -> object:
    return _json.load_json(
        raw, what="document", max_bytes=kwargs.get("max_bytes", 1024), error=PayloadError
    )


def test_load_refuses_duplicate_keys_at_any_depth() -> None:
    with pytest.raises(PayloadError, match="duplicate key 'b'"):
        load(b'{"a":{"b":1,"b":2}}')


def test_load_checks_the_size_before_parsing() -> None:
    with pytest.raises(SizeLimitExceededError) as info:
        load(b"[" * 2000, max_bytes=1000)
    assert info.value.context["limit"] == 1000


@pytest.mark.parametrize("depth", [33, 50, 900, 5000])
def test_load_refuses_deep_nesting(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    with pytest.raises(SizeLimitExceededError, match="nests deeper"):
        _json.load_json(raw, what="document", max_bytes=1 << 20, error=PayloadError)


def test_load_accepts_nesting_up_to_the_cap() -> None:
    raw = b'{"a":' * 31 + b"[]" + b"}" * 31
    assert isinstance(load(raw), dict)


@pytest.mark.parametrize(
    "raw",
    [b"NaN", b"[Infinity]", b"1e400", b"1" * 65, b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{", b""],
)
def test_load_refuses_what_go_refuses(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        load(raw)


def test_go_fields_match_case_insensitively_like_go() -> None:
    picked = _json.go_fields(
        {"Critical": 1, "OPTIONAL": 2, "other": 3},
        ("critical", "optional"),
        where="x",
        error=PayloadError,
    )
    assert picked == {"critical": 1, "optional": 2}


@pytest.mark.parametrize("twin", ["Image", "IMAGE", "\u212aey"])
def test_go_fields_refuse_two_keys_for_one_field(twin: str) -> None:
    name = "key" if twin.endswith("ey") else "image"
    with pytest.raises(PayloadError, match="two keys"):
        _json.go_fields({name: 1, twin: 2}, (name,), where="x", error=PayloadError)


def test_proto_fields_accept_either_name_but_not_both() -> None:
    names = {"mediaType": "mediaType", "media_type": "mediaType"}
    assert _json.proto_fields({"media_type": "x"}, names, where="m", error=PayloadError) == {
        "mediaType": "x"
    }
    with pytest.raises(PayloadError, match="twice"):
        _json.proto_fields(
            {"media_type": "x", "mediaType": None}, names, where="m", error=PayloadError
        )
    with pytest.raises(PayloadError, match="unknown field"):
        _json.proto_fields({"mediatype": "x"}, names, where="m", error=PayloadError)


@given(st.binary(max_size=64))
def test_base64_accepts_both_alphabets_with_or_without_padding(data: bytes) -> None:
    standard = base64.b64encode(data).decode()
    url_safe = base64.urlsafe_b64encode(data).decode()
    for text in {standard, url_safe, standard.rstrip("="), url_safe.rstrip("=")}:
        assert _json.decode_base64(text, field="f", error=PayloadError) == data


@pytest.mark.parametrize(
    "text", ["a+b_", "abc=d===", "abc", "ab=", "a", "ab cd", "ab\ncd", 5, None]
)
def test_base64_refuses_malformed_text(text: object) -> None:
    if text == "abc":
        assert _json.decode_base64(text, field="f", error=PayloadError) == b"i\xb7"
        return
    with pytest.raises(PayloadError):
        _json.decode_base64(text, field="f", error=PayloadError)


def test_base64_cap_is_checked_before_decoding() -> None:
    with pytest.raises(SizeLimitExceededError):
        _json.decode_base64("A" * 4000, field="f", error=PayloadError, max_bytes=100)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (100, "100"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.2345e22, "1.2345e+22"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-10, "1.5e-10"),
        (123456789012345680, "123456789012345680"),
        (2**53 + 1, "9007199254740992"),
    ],
)
def test_numbers_print_as_go_prints_float64(value: float, expected: str) -> None:
    assert _json.encode(value, html_safe=False) == expected


def test_html_safe_escapes_what_go_escapes() -> None:
    text = "<a&b>\u2028\u2029\x01\n\b\f"
    assert _json.encode(text, html_safe=True) == (
        '"\\u003ca\\u0026b\\u003e\\u2028\\u2029\\u0001\\n\\b\\f"'
    )
    assert _json.encode(text, html_safe=False) == '"<a&b>\u2028\u2029\\u0001\\n\\b\\f"'


def test_encode_refuses_lone_surrogates_and_non_string_keys() -> None:
    with pytest.raises(ValueError, match="Unicode"):
        _json.encode("\ud800", html_safe=False)
    with pytest.raises(ValueError, match="keys"):
        _json.encode({1: 2}, html_safe=False)


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=8) | st.integers(-(2**40), 2**40),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_encoded_values_read_back_equal(value: object) -> None:
    text = _json.encode(_json.sorted_tree(value), html_safe=True)
    assert _json.json_equal(json.loads(text), value)


def test_json_equal_keeps_types_apart() -> None:
    assert not _json.json_equal("1", 1)
    assert not _json.json_equal(True, 1)
    assert _json.json_equal(1, 1.0)
    assert _json.json_equal({"a": [1, "x"]}, {"a": [1.0, "x"]})
    assert not _json.json_equal(None, {})
