"""IdentityToken.parse: shape, size, audience and expiry checks, and what it never reveals."""

from __future__ import annotations

import base64
import json
import time
import tracemalloc
from collections.abc import Callable

import pytest

from imagesig.credentials import MAX_TOKEN_CHARS, IdentityToken
from imagesig.errors import CredentialError, InvalidIdentityTokenError


def _segment(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_parse_decodes_claims_and_expiry(make_token: Callable[..., str]) -> None:
    raw = make_token(aud="sigstore", lifetime=600)
    token = IdentityToken.parse(raw + "\n", audience="sigstore", provider="envvar")
    assert token.raw == raw
    assert token.provider == "envvar"
    assert token.issuer == "https://issuer.example"
    assert token.subject == "workload@example"
    assert token.audience == ("sigstore",)
    assert token.claims["exp"] == int(token.expiry.timestamp())
    assert token.expiry.tzinfo is not None
    assert not token.expires_within(60)
    assert token.expires_within(3600)


def test_parse_accepts_an_audience_list(make_token: Callable[..., str]) -> None:
    token = IdentityToken.parse(make_token(aud=["other", "sigstore"]), audience="sigstore")
    assert token.audience == ("other", "sigstore")


def test_parse_accepts_bytes(make_token: Callable[..., str]) -> None:
    raw = make_token()
    assert IdentityToken.parse(raw.encode(), audience="sigstore").raw == raw


def test_audience_none_skips_the_audience_check(make_token: Callable[..., str]) -> None:
    assert IdentityToken.parse(make_token(aud="anything"), audience=None).audience == ("anything",)


def test_wrong_audience_is_refused_naming_both(make_token: Callable[..., str]) -> None:
    raw = make_token(aud="https://github.com/example")
    with pytest.raises(InvalidIdentityTokenError) as caught:
        IdentityToken.parse(raw, audience="sigstore", provider="envvar", source="$X")
    message = str(caught.value)
    assert "'https://github.com/example'" in message
    assert "'sigstore'" in message
    assert "$X" in message
    assert caught.value.context["provider"] == "envvar"
    assert raw not in message
    assert isinstance(caught.value, CredentialError)


def test_missing_audience_is_refused(make_token: Callable[..., str]) -> None:
    with pytest.raises(InvalidIdentityTokenError, match="no 'aud' claim"):
        IdentityToken.parse(make_token(aud=None), audience="sigstore")


def test_expired_token_is_refused(make_token: Callable[..., str]) -> None:
    with pytest.raises(InvalidIdentityTokenError, match="expired at"):
        IdentityToken.parse(make_token(lifetime=-1), audience="sigstore")


def test_expiry_is_judged_at_now(make_token: Callable[..., str]) -> None:
    raw = make_token(lifetime=100)
    IdentityToken.parse(raw, audience="sigstore", now=time.time() + 50)
    with pytest.raises(InvalidIdentityTokenError, match="expired"):
        IdentityToken.parse(raw, audience="sigstore", now=time.time() + 200)


def test_token_without_exp_is_refused(make_token: Callable[..., str]) -> None:
    raw = make_token()
    header, _, signature = raw.split(".")
    payload = _segment({"aud": "sigstore", "exp": "tomorrow"})
    with pytest.raises(InvalidIdentityTokenError, match="numeric 'exp'"):
        IdentityToken.parse(f"{header}.{payload}.{signature}", audience="sigstore")


def test_not_yet_valid_token_is_refused(make_token: Callable[..., str]) -> None:
    raw = make_token(nbf=int(time.time()) + 3600, lifetime=7200)
    with pytest.raises(InvalidIdentityTokenError, match="not valid yet"):
        IdentityToken.parse(raw, audience="sigstore")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("abc", "not a JWT"),
        ("a.b.c.d", "not a JWT"),
        ("a..c", "a part is empty"),
        ("!!!.e30.c2ln", "header is not JSON"),
        (f"{_segment([1])}.e30.c2ln", "header is not a JSON object"),
        (f"{_segment({'alg': 'none'})}.e30.c2ln", "no signature algorithm"),
        (f"{_segment({'alg': 'ES256'})}.{_segment('x')}.c2ln", "claims is not a JSON object"),
    ],
)
def test_malformed_tokens_are_refused(raw: str, problem: str) -> None:
    with pytest.raises(InvalidIdentityTokenError, match=problem):
        IdentityToken.parse(raw, audience="sigstore")


def test_duplicate_claims_are_refused() -> None:
    header = _segment({"alg": "ES256"})
    payload = base64.urlsafe_b64encode(b'{"aud":"sigstore","aud":"evil","exp":9999999999}')
    raw = f"{header}.{payload.rstrip(b'=').decode()}.c2ln"
    with pytest.raises(InvalidIdentityTokenError, match="not JSON"):
        IdentityToken.parse(raw, audience="sigstore")


def test_non_ascii_bytes_are_refused() -> None:
    with pytest.raises(InvalidIdentityTokenError, match="not ASCII"):
        IdentityToken.parse("é.é.é".encode(), audience="sigstore")


def test_ten_megabytes_of_dots_is_refused_by_length_before_splitting() -> None:
    """Catalogue item 30 (Fulcio GHSA-f83f-xpx7-ffpw): no allocation proportional to the dots."""
    hostile = "." * (10 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidIdentityTokenError, match="more than the limit") as caught:
            IdentityToken.parse(hostile, audience="sigstore")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Splitting would build ten million strings (hundreds of MB); stripping copies at most once.
    assert peak < 11 * 1024 * 1024
    assert len(str(caught.value)) < 300


def test_ten_megabytes_of_dots_as_bytes_is_refused_without_decoding() -> None:
    hostile = b"." * (10 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidIdentityTokenError, match="more than the limit"):
            IdentityToken.parse(hostile, audience="sigstore")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_a_100_kb_header_is_refused_by_length() -> None:
    raw = "e" * (100 * 1024) + ".e30.c2ln"
    with pytest.raises(InvalidIdentityTokenError, match=f"limit of {MAX_TOKEN_CHARS}"):
        IdentityToken.parse(raw, audience="sigstore")


def test_repr_str_and_to_dict_never_show_the_token(make_token: Callable[..., str]) -> None:
    raw = make_token()
    token = IdentityToken.parse(raw, audience="sigstore", provider="filesystem")
    for text in (repr(token), str(token), json.dumps(token.to_dict())):
        assert raw not in text
        assert raw.split(".")[2] not in text
    assert "provider='filesystem'" in repr(token)
    assert token.to_dict()["subject"] == "workload@example"
