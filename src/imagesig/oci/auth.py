"""Registry authentication: the ``WWW-Authenticate`` challenge flow as an ``httpx.Auth``.

The distribution token protocol in brief: a request without credentials gets ``401`` with
``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` (or ``Basic realm=…``). For Bearer we
ask the realm for a token — anonymously, with HTTP Basic credentials, or with an OAuth2
refresh token (docker's ``identitytoken``) — and retry with ``Authorization: Bearer``.

:class:`RegistryAuth` implements that once, as a generator (``auth_flow``) that httpx drives
for both ``Client`` and ``AsyncClient``. It

* remembers each registry's challenge, so later requests carry credentials up front instead
  of paying a ``401`` round trip each;
* caches tokens per ``(realm, service, repository)`` with the actions they grant, and fetches
  a new one before the old expires (``expires_in`` below 60 s counts as 60 s, as the spec
  says);
* only answers challenges for requests the store marked as registry requests
  (``request.extensions["imagesig.scope"]``): a redirect to blob storage, an upload
  ``Location`` on another host or any foreign URL never receives credentials;
* refuses realms that are not ``http(s)``, that point at link-local or cloud-metadata
  addresses, at an unspecified address, or at loopback when the registry is not itself on
  loopback — unless ``allow_unsafe_realms`` is set for tests;
* reads every body it consumes (challenges, token responses) under a cap.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any

import attrs
import httpx

from imagesig.errors import (
    RegistryAuthError,
    SizeLimitExceededError,
    UnsafeAuthRealmError,
    redact_url,
)
from imagesig.oci._hosts import hostname, is_loopback
from imagesig.oci.credentials import RegistryCredential

__all__ = [
    "MAX_TOKEN_RESPONSE_BYTES",
    "Challenge",
    "CredentialResolver",
    "RegistryAuth",
    "RequestScope",
    "parse_www_authenticate",
]

logger = logging.getLogger(__name__)

MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
"""Token responses and challenge bodies larger than this are refused."""

MIN_TOKEN_LIFETIME = 60.0
"""The token spec's default and minimum ``expires_in``."""

_EXPIRY_SAFETY_MARGIN = 10.0
_CLIENT_ID = "imagesig"
_SCOPE_EXTENSION = "imagesig.scope"
_TOKEN_REQUEST_EXTENSION = "imagesig.token_request"  # noqa: S105 - a marker name
# Numeric hosts that inet_aton (and so getaddrinfo) reads as IPv4: 1 to 4 parts, each
# decimal, octal (leading 0) or hex (0x...).
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.ASCII)
# Metadata services outside the link-local ranges: AWS over IPv6, Alibaba Cloud.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text) for text in ("fd00:ec2::254", "100.100.100.200")
)
_METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)


@attrs.frozen
class RequestScope:
    """What a registry request needs: the registry, the repository and the actions.

    Stores attach one to every registry request as ``request.extensions["imagesig.scope"]``.
    """

    registry: str
    repository: str | None = None
    actions: tuple[str, ...] = ("pull",)
    extra_scopes: tuple[str, ...] = ()
    """Further token scopes, e.g. ``repository:other:pull`` for a cross-repository mount."""

    def token_scopes(self) -> list[str]:
        """Return the token ``scope`` parameters, e.g. ``["repository:team/app:pull,push"]``."""
        scopes = (
            []
            if self.repository is None
            else [f"repository:{self.repository}:{','.join(self.actions)}"]
        )
        return [*scopes, *self.extra_scopes]

    def attach(self, request: httpx.Request) -> httpx.Request:
        """Mark ``request`` as a registry request with this scope and return it."""
        request.extensions[_SCOPE_EXTENSION] = self
        return request


@attrs.frozen
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge."""

    scheme: str
    params: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` header into challenges (RFC 7235 syntax).

    Scheme names are lower-cased; parameter names too. Quoted strings may contain commas
    and escaped quotes. Unparseable input yields no challenge rather than an error.

    Example:
        >>> parse_www_authenticate('Bearer realm="https://a/token",service="a"')[0].realm
        'https://a/token'
    """
    challenges: list[Challenge] = []
    text = header[:8192]
    position = 0
    length = len(text)
    current: tuple[str, dict[str, str]] | None = None
    while position < length:
        while position < length and text[position] in " ,\t":
            position += 1
        if position >= length:
            break
        start = position
        while position < length and text[position] not in " =,\t":
            position += 1
        token = text[start:position]
        rest = position
        while rest < length and text[rest] in " \t":
            rest += 1
        if rest < length and text[rest] == "=" and current is not None:
            # An auth-param of the current challenge.
            position = rest + 1
            while position < length and text[position] in " \t":
                position += 1
            if position < length and text[position] == '"':
                position += 1
                chars: list[str] = []
                while position < length and text[position] != '"':
                    if text[position] == "\\" and position + 1 < length:
                        position += 1
                    chars.append(text[position])
                    position += 1
                position += 1
                value = "".join(chars)
            else:
                start = position
                while position < length and text[position] not in ", \t":
                    position += 1
                value = text[start:position]
            current[1][token.lower()] = value
        else:
            if current is not None:
                challenges.append(Challenge(current[0], current[1]))
            current = (token.lower(), {})
            position = rest
    if current is not None:
        challenges.append(Challenge(current[0], current[1]))
    return challenges


CredentialResolver = Callable[[str], RegistryCredential | None]
"""``(registry) -> RegistryCredential | None``: typically a keychain's ``resolve``."""


@attrs.define
class _Token:
    value: str
    actions: frozenset[str]
    expires_at: float


@attrs.define
class _RegistryState:
    challenge: Challenge | None = None
    credential: RegistryCredential | None = None
    credential_resolved: bool = False
    tokens: dict[tuple[str, str, str | None], list[_Token]] = attrs.field(factory=dict)


class RegistryAuth(httpx.Auth):
    """Answers registry challenges with Basic or Bearer credentials.

    Args:
        resolve_credential: returns credentials for a registry host, or ``None`` for
            anonymous access (typically ``keychain.resolve``).
        allow_unsafe_realms: accept token realms on loopback/link-local addresses even when
            the registry is elsewhere. Only for tests.
        clock: monotonic clock, injectable for tests.

    Raises (from requests it handles):
        RegistryAuthError: the token endpoint refused or answered without a token.
        UnsafeAuthRealmError: the realm is not one we send credentials to.
        SizeLimitExceededError: a challenge or token body exceeds
            :data:`MAX_TOKEN_RESPONSE_BYTES`.
    """

    def __init__(
        self,
        resolve_credential: CredentialResolver | None = None,
        *,
        allow_unsafe_realms: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolve_credential = resolve_credential
        self._allow_unsafe_realms = allow_unsafe_realms
        self._clock = clock
        self._states: dict[str, _RegistryState] = {}
        self._lock = threading.Lock()
        self.token_requests = 0
        """How many token requests this object has made (for diagnostics and benchmarks)."""

    # -- httpx entry points -------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        next_request = next(flow)
        while True:
            response = yield next_request
            if _needs_body(response):
                _cap_stream(response)
                response.read()
            try:
                next_request = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_flow(request)
        next_request = next(flow)
        while True:
            response = yield next_request
            if _needs_body(response):
                _cap_stream(response)
                await response.aread()
            try:
                next_request = flow.send(response)
            except StopIteration:
                return

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = request.extensions.get(_SCOPE_EXTENSION)
        if not isinstance(scope, RequestScope):
            # Not a registry request (redirect target, foreign upload location): no secrets.
            yield request
            return
        state = self._state(scope.registry)
        preemptive = yield from self._preemptive_header(state, scope, request)
        if preemptive:
            request.headers["Authorization"] = preemptive
        response = yield request
        if response.status_code != 401:
            return
        challenges = parse_www_authenticate(response.headers.get("www-authenticate", ""))
        challenge = _pick(challenges)
        if challenge is None:
            return
        with self._lock:
            state.challenge = challenge
        if challenge.scheme == "basic":
            credential = self._credential(state, scope.registry)
            if (
                credential is None
                or credential.username is None
                or request.headers.get("Authorization", "").startswith("Basic ")
            ):
                # Nothing to offer, or our Basic credentials were just refused: ask the
                # keychain again next time (short-lived credentials get rotated).
                self._forget_credential(state)
                return
            request.headers["Authorization"] = _basic(credential)
            yield request
            return
        # Bearer: the challenge's scope may ask for more than we assumed (insufficient_scope).
        extra = _actions_from_scope(challenge.params.get("scope"), scope.repository)
        wanted = tuple(dict.fromkeys((*scope.actions, *extra)))
        token = yield from self._fetch_token(
            state, challenge, attrs.evolve(scope, actions=wanted), request.url.scheme
        )
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    # -- helpers ---------------------------------------------------------------------------

    def _state(self, registry: str) -> _RegistryState:
        with self._lock:
            state = self._states.get(registry)
            if state is None:
                state = self._states[registry] = _RegistryState()
            return state

    def _credential(self, state: _RegistryState, registry: str) -> RegistryCredential | None:
        if not state.credential_resolved:
            credential = self._resolve_credential(registry) if self._resolve_credential else None
            with self._lock:
                state.credential = credential
                state.credential_resolved = True
        return state.credential

    def _forget_credential(self, state: _RegistryState) -> None:
        with self._lock:
            state.credential = None
            state.credential_resolved = False

    def _preemptive_header(
        self, state: _RegistryState, scope: RequestScope, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, str | None]:
        challenge = state.challenge
        if challenge is None or "Authorization" in request.headers:
            return None
        if challenge.scheme == "basic":
            credential = self._credential(state, scope.registry)
            if credential is not None and credential.username is not None:
                return _basic(credential)
            return None
        if challenge.scheme == "bearer":
            cached = self._cached_token(state, challenge, scope)
            if cached is not None:
                return f"Bearer {cached}"
            token = yield from self._fetch_token(state, challenge, scope, request.url.scheme)
            return f"Bearer {token}"
        return None

    def _cached_token(
        self, state: _RegistryState, challenge: Challenge, scope: RequestScope
    ) -> str | None:
        if scope.extra_scopes:
            return None  # cached tokens are keyed by one repository; mounts need more
        key = (challenge.realm or "", challenge.service or "", scope.repository)
        now = self._clock()
        with self._lock:
            tokens = [t for t in state.tokens.get(key, []) if t.expires_at > now]
            state.tokens[key] = tokens
            for token in tokens:
                if token.actions.issuperset(scope.actions):
                    return token.value
        return None

    def _fetch_token(
        self,
        state: _RegistryState,
        challenge: Challenge,
        scope: RequestScope,
        registry_scheme: str,
    ) -> Generator[httpx.Request, httpx.Response, str]:
        credential = self._credential(state, scope.registry)
        if credential is not None and credential.registry_token:
            return credential.registry_token
        realm = challenge.realm
        if not realm:
            raise RegistryAuthError(
                f"registry {scope.registry} sent a Bearer challenge without a realm",
                registry=scope.registry,
            )
        realm_url = self._checked_realm(realm, scope.registry, registry_scheme=registry_scheme)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        token_scopes = scope.token_scopes()
        if credential is not None and credential.identity_token:
            # OAuth2 refresh-token grant: scopes are one space-separated form field.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token,
                "client_id": _CLIENT_ID,
                **dict(params),
            }
            if token_scopes:
                form["scope"] = " ".join(token_scopes)
            token_request = httpx.Request("POST", realm_url, data=form)
        else:
            params.extend(("scope", item) for item in token_scopes)
            # Keep any query the realm already has.
            token_request = httpx.Request("GET", realm_url.copy_merge_params(params))
            if credential is not None and credential.username is not None:
                token_request.headers["Authorization"] = _basic(credential)
        token_request.extensions[_TOKEN_REQUEST_EXTENSION] = True
        with self._lock:
            self.token_requests += 1
        logger.debug("requesting a token from %s for %s", redact_url(realm_url), token_scopes)
        response = yield token_request
        try:
            value, lifetime = _parse_token_response(response, scope.registry, realm_url)
        except RegistryAuthError:
            self._forget_credential(state)
            raise
        token = _Token(
            value=value,
            actions=frozenset(scope.actions),
            expires_at=self._clock() + max(lifetime, MIN_TOKEN_LIFETIME) - _EXPIRY_SAFETY_MARGIN,
        )
        key = (challenge.realm or "", challenge.service or "", scope.repository)
        with self._lock:
            # A token that was refused is dropped with any other one the new token covers.
            kept = [t for t in state.tokens.get(key, []) if not t.actions <= token.actions]
            state.tokens[key] = [*kept, token]
        return value

    def _checked_realm(
        self, realm: str, registry: str, *, registry_scheme: str = "https"
    ) -> httpx.URL:
        try:
            url = httpx.URL(realm)
        except (httpx.InvalidURL, ValueError) as exc:
            raise UnsafeAuthRealmError(
                f"registry {registry} sent an unparseable token realm", registry=registry
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise UnsafeAuthRealmError(
                f"registry {registry} asked for credentials at a non-HTTP(S) realm "
                f"({redact_url(url)}); refusing",
                registry=registry,
            )
        if self._allow_unsafe_realms:
            return url
        if registry_scheme == "https" and url.scheme != "https":
            raise UnsafeAuthRealmError(
                f"registry {registry} is served over HTTPS but its token realm "
                f"{redact_url(url)} is plain HTTP; refusing to send credentials in clear text",
                registry=registry,
            )
        registry_host = hostname(registry)
        reason = _unsafe_host_reason(url.host, registry_is_loopback=is_loopback(registry_host))
        if reason and url.host != registry_host:
            raise UnsafeAuthRealmError(
                f"registry {registry} pointed its token realm at {redact_url(url)}, {reason}; "
                "refusing to send credentials there",
                registry=registry,
                hint="pass allow_unsafe_realms=True only for local tests",
            )
        return url


def _needs_body(response: httpx.Response) -> bool:
    return response.status_code == 401 or bool(
        response.request.extensions.get(_TOKEN_REQUEST_EXTENSION)
    )


class _CappedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Wraps a response stream and fails once more than ``limit`` bytes arrive."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def _overflow(self) -> SizeLimitExceededError:
        return SizeLimitExceededError(
            f"authentication response is larger than {self._limit} bytes", limit=self._limit
        )

    def __iter__(self) -> Any:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise self._overflow()
            yield chunk

    async def __aiter__(self) -> Any:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise self._overflow()
            yield chunk

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _cap_stream(response: httpx.Response) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_TOKEN_RESPONSE_BYTES:
        # No response.close() here: it is sync-only (RuntimeError under AsyncClient), and
        # httpx closes the response itself, sync or async, when the auth flow raises.
        raise SizeLimitExceededError(
            f"authentication response declares {declared} bytes, more than "
            f"{MAX_TOKEN_RESPONSE_BYTES}",
            limit=MAX_TOKEN_RESPONSE_BYTES,
        )
    response.stream = _CappedStream(response.stream, MAX_TOKEN_RESPONSE_BYTES)


def _pick(challenges: list[Challenge]) -> Challenge | None:
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


def _basic(credential: RegistryCredential) -> str:
    raw = f"{credential.username}:{credential.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _actions_from_scope(scope: str | None, repository: str | None) -> tuple[str, ...]:
    if not scope or repository is None:
        return ()
    actions: list[str] = []
    for item in scope.split(" "):
        parts = item.split(":")
        if len(parts) >= 3 and parts[0] == "repository" and ":".join(parts[1:-1]) == repository:
            actions.extend(a for a in parts[-1].split(",") if a)
    return tuple(actions)


def _parse_token_response(
    response: httpx.Response, registry: str, realm: httpx.URL
) -> tuple[str, float]:
    where = redact_url(realm.copy_with(query=None))
    if response.status_code in (401, 403):
        raise RegistryAuthError(
            f"token server {where} refused the credentials for {registry} "
            f"(HTTP {response.status_code})",
            status_code=response.status_code,
            registry=registry,
            hint=f"check the credentials configured for {registry} (docker login {registry})",
        )
    if response.status_code != 200:
        raise RegistryAuthError(
            f"token server {where} for {registry} answered HTTP {response.status_code}",
            status_code=response.status_code,
            registry=registry,
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise RegistryAuthError(
            f"token server {where} for {registry} did not return JSON", registry=registry
        ) from exc
    if not isinstance(body, dict):
        raise RegistryAuthError(
            f"token server {where} for {registry} returned JSON that is not an object",
            registry=registry,
        )
    value = body.get("token") or body.get("access_token")
    if not isinstance(value, str) or not value:
        raise RegistryAuthError(
            f"token server {where} for {registry} returned no token", registry=registry
        )
    expires_in = body.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else MIN_TOKEN_LIFETIME
    return value, lifetime


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` names literally, as the resolver will read it, or ``None``.

    ``getaddrinfo`` also accepts the legacy ``inet_aton`` spellings (``127.1``,
    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``0``), and an IPv4-mapped IPv6 address
    reaches its IPv4 twin, so both are unwrapped before the address is classified.
    """
    text = host.strip("[]")
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if _LEGACY_IPV4.fullmatch(text) is None:
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unsafe_host_reason(host: str, *, registry_is_loopback: bool) -> str | None:
    lowered = host.lower().rstrip(".")
    if lowered in _METADATA_HOSTNAMES:
        return "a cloud metadata service"
    address = _ip_literal(lowered)
    if is_loopback(lowered) or (address is not None and address.is_loopback):
        return None if registry_is_loopback else "a loopback address"
    if address is None:
        return None
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata service"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast or address.is_reserved:
        return "a reserved address"
    return None
