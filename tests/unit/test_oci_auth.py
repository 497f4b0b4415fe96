"""Challenge parsing and realm safety (the end-to-end flow is tested against a real registry)."""

from __future__ import annotations

import pytest

from imagesig.errors import UnsafeAuthRealmError
from imagesig.oci.auth import RegistryAuth, RequestScope, parse_www_authenticate


def test_parses_a_distribution_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:team/app:pull,push",error="insufficient_scope"'
    )
    [challenge] = parse_www_authenticate(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.service == "registry.example.com"
    assert challenge.params["scope"] == "repository:team/app:pull,push"
    assert challenge.params["error"] == "insufficient_scope"


def test_parses_several_challenges_quotes_and_escapes() -> None:
    header = 'Basic realm="a \\"quoted\\" realm, with comma", Bearer realm=https://t/x,service=s'
    basic, bearer = parse_www_authenticate(header)
    assert basic.scheme == "basic"
    assert basic.realm == 'a "quoted" realm, with comma'
    assert bearer.scheme == "bearer"
    assert bearer.realm == "https://t/x"
    assert bearer.service == "s"


@pytest.mark.parametrize("header", ["", "   ", ",,,", "=", 'realm="x"'])
def test_garbage_yields_no_usable_challenge(header: str) -> None:
    challenges = parse_www_authenticate(header)
    assert all(c.realm is None or c.scheme for c in challenges)
    assert not [c for c in challenges if c.scheme in ("basic", "bearer") and c.realm]


def test_huge_header_is_parsed_in_bounded_time() -> None:
    header = "Bearer " + ",".join(f'k{i}="{"v" * 10}"' for i in range(100_000))
    [challenge] = parse_www_authenticate(header)
    assert len(challenge.params) < 1000


def test_request_scope_builds_token_scopes() -> None:
    scope = RequestScope("r.example", "team/app", ("pull", "push"), ("repository:other:pull",))
    assert scope.token_scopes() == ["repository:team/app:pull,push", "repository:other:pull"]
    assert RequestScope("r.example").token_scopes() == []


@pytest.mark.parametrize(
    ("realm", "registry"),
    [
        ("http://169.254.169.254/latest/meta-data", "registry.example.com"),
        ("http://[fe80::1]/token", "registry.example.com"),
        ("https://0.0.0.0/token", "registry.example.com"),
        ("http://metadata.google.internal/computeMetadata/v1/", "registry.example.com"),
        ("https://127.0.0.1:8443/token", "registry.example.com"),
        ("https://localhost/token", "registry.example.com"),
        ("file:///etc/passwd", "registry.example.com"),
        ("gopher://auth.example.com/token", "registry.example.com"),
        ("not a url at all", "registry.example.com"),
    ],
)
def test_unsafe_realms_are_refused(realm: str, registry: str) -> None:
    with pytest.raises(UnsafeAuthRealmError) as caught:
        RegistryAuth()._checked_realm(realm, registry)
    assert registry in str(caught.value)


@pytest.mark.parametrize(
    ("realm", "registry", "scheme"),
    [
        ("https://auth.docker.io/token", "docker.io", "https"),
        ("http://127.0.0.1:5001/token", "127.0.0.1:5000", "http"),
        ("http://localhost:5001/token", "localhost:5000", "http"),
        ("http://[::1]:5001/token", "[::1]:5000", "http"),
        ("https://registry.example.com/token", "registry.example.com", "https"),
        ("http://auth.example.com/token", "insecure.example.com", "http"),
    ],
)
def test_ordinary_realms_are_accepted(realm: str, registry: str, scheme: str) -> None:
    checked = RegistryAuth()._checked_realm(realm, registry, registry_scheme=scheme)
    assert str(checked) == realm


def test_unsafe_realms_are_allowed_only_when_asked_for_tests() -> None:
    auth = RegistryAuth(allow_unsafe_realms=True)
    assert auth._checked_realm("https://127.0.0.1/token", "registry.example.com").host == (
        "127.0.0.1"
    )
    with pytest.raises(UnsafeAuthRealmError):
        auth._checked_realm("file:///etc/passwd", "registry.example.com")


def test_plain_http_realm_of_an_https_registry_is_refused() -> None:
    with pytest.raises(UnsafeAuthRealmError, match="clear text"):
        RegistryAuth()._checked_realm(
            "http://auth.example.com/token", "registry.example.com", registry_scheme="https"
        )
