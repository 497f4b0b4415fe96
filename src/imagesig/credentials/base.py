"""Identity tokens and the provider protocol every ambient credential source follows.

A *provider* knows one platform: GitHub Actions, a Google metadata server, a SPIFFE Workload
API, a token file. It answers two questions:

* :meth:`CredentialProvider.detect` — does this environment look like mine? This must be
  cheap (environment variables, ``stat``, a small local file; never the network), because it
  runs on every laptop and notebook where nothing applies.
* :meth:`CredentialProvider.fetch_token` — the identity token for an audience. A provider that
  applies but cannot deliver raises a specific
  :class:`~imagesig.errors.CredentialError`; it never returns an empty or unchecked token.

Every token goes through :meth:`IdentityToken.parse`, which bounds its length *before*
splitting it, decodes the JWT header and claims without verifying the signature (the
relying party — Fulcio — does that), and checks ``aud`` and ``exp``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
import types
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from imagesig.errors import InvalidIdentityTokenError

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_TIMEOUT",
    "MAX_TOKEN_CHARS",
    "CredentialProvider",
    "Detection",
    "IdentityToken",
]

DEFAULT_AUDIENCE = "sigstore"
"""The audience cosign asks every ambient provider for."""

DEFAULT_TIMEOUT = 10.0
"""Seconds a whole detection (every provider together) may take by default."""

MAX_TOKEN_CHARS = 64 * 1024
"""Longest identity token accepted, checked before the token is split or decoded.

Real OIDC tokens are one to a few kilobytes; a cap keeps a hostile "token" of millions of
``.`` characters from costing memory proportional to its length.
"""

_MAX_AUDIENCE_SHOWN = 3
_MAX_CLAIM_SHOWN = 120
_NOT_BEFORE_LEEWAY = 60.0  # clocks drift; a token minted a moment "in the future" is fine


@attrs.frozen
class Detection:
    """What a provider's cheap check found.

    Attributes:
        applicable: ``True`` when this environment is the provider's (even if fetching will
            then fail, for example because a permission is missing).
        reason: one sentence for people: which variable, file or socket decided it.

    Example:
        >>> bool(Detection(False, "ACTIONS_ID_TOKEN_REQUEST_URL is not set"))
        False
    """

    applicable: bool
    reason: str

    def __bool__(self) -> bool:
        return self.applicable


@runtime_checkable
class CredentialProvider(Protocol):
    """An ambient identity source.

    Third-party providers implement this and register through the
    ``imagesig.credential_providers`` entry-point group (see
    :func:`imagesig.credentials.register_provider`).
    """

    @property
    def name(self) -> str:
        """A short stable name, as cosign spells it (``"github-actions"``, ``"spiffe"``)."""
        ...

    def detect(self) -> Detection | bool:
        """Say whether this environment is the provider's, without any network I/O."""
        ...

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Return an identity token for ``audience`` within ``timeout`` seconds.

        Raises:
            CredentialNotFoundError: the provider does not apply here.
            CredentialPermissionError: the platform refused (a grant is missing).
            CredentialProviderError: the provider applies but failed.
            InvalidIdentityTokenError: what came back is not a valid token for ``audience``.
        """
        ...


def _b64url_json(segment: str, what: str, fail: _Failure) -> dict[str, Any]:
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise fail(f"its {what} is not base64url") from None
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise fail(f"its {what} is not JSON") from None
    if not isinstance(value, dict):
        raise fail(f"its {what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two readers could pick different values; refuse instead of guessing.
            raise ValueError("duplicate key")
        result[key] = value
    return result


class _Failure(Protocol):
    def __call__(self, problem: str) -> InvalidIdentityTokenError: ...


def _shorten(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_CLAIM_SHOWN else text[:_MAX_CLAIM_SHOWN] + "..."


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _check_times(claims: Mapping[str, Any], now: float, fail: _Failure) -> dt.datetime:
    exp = _number(claims.get("exp"))
    if exp is None:
        raise fail("it has no numeric 'exp' claim")
    try:
        expiry = dt.datetime.fromtimestamp(exp, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise fail("its 'exp' claim is out of range") from None
    if exp <= now:
        raise fail(f"it expired at {expiry.isoformat()}")
    nbf = _number(claims.get("nbf"))
    if nbf is not None and nbf > now + _NOT_BEFORE_LEEWAY:
        raise fail("it is not valid yet ('nbf' is in the future)")
    return expiry


def _check_audience(claims: Mapping[str, Any], audience: str, fail: _Failure) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise fail("it has no 'aud' claim")
    if audience not in audiences:
        shown = ", ".join(repr(_shorten(a)) for a in audiences[:_MAX_AUDIENCE_SHOWN])
        more = ", ..." if len(audiences) > _MAX_AUDIENCE_SHOWN else ""
        raise fail(f"it is for audience {shown}{more}, not {audience!r}")


@attrs.frozen(repr=False)
class IdentityToken:
    """An OIDC identity token (a JWT) with its decoded, *unverified* claims.

    The signature is not checked here — the service the token is presented to does that.
    What :meth:`parse` does check: the size, the JWT shape, ``aud`` and ``exp``.

    Attributes:
        raw: the compact JWT, to present to the relying party. Never shown by ``repr``.
        claims: the decoded payload (read-only).
        expiry: when the token stops being valid (``exp``), timezone-aware UTC.
        provider: the provider that supplied it (``"github-actions"``, ``"explicit"``...).

    Example:
        >>> token = IdentityToken.parse(raw, audience="sigstore")        # doctest: +SKIP
        >>> token                                                        # doctest: +SKIP
        IdentityToken(provider='explicit', issuer='https://...', subject='...', ...)
    """

    raw: str
    claims: Mapping[str, Any] = attrs.field(eq=False)  # derived from raw; not hashable
    expiry: dt.datetime
    provider: str

    @classmethod
    def parse(
        cls,
        raw: str | bytes,
        *,
        audience: str | None,
        provider: str = "explicit",
        source: str | None = None,
        now: float | None = None,
    ) -> IdentityToken:
        """Check ``raw`` and decode its claims.

        Surrounding whitespace (a trailing newline in a file) is removed first. The length is
        checked before anything else looks at the content.

        Args:
            raw: the compact JWT (text, or ASCII bytes).
            audience: the audience the token must be issued for (``aud`` equal to it or a list
                containing it); ``None`` skips the check.
            provider: recorded on the token and named in errors.
            source: where the token came from (a path, a URL without query), for errors.
            now: the current time as a POSIX timestamp (tests); default :func:`time.time`.

        Returns:
            The token.

        Raises:
            InvalidIdentityTokenError: empty, longer than :data:`MAX_TOKEN_CHARS`, not a
                JWT, without a numeric ``exp``, expired, not valid yet, or for another
                audience. The message never contains the token.
        """
        where = f" from {source}" if source else ""

        def fail(problem: str) -> InvalidIdentityTokenError:
            return InvalidIdentityTokenError(
                f"the identity token{where} ({provider}) is unusable: {problem}",
                provider=provider,
                source=source,
            )

        if isinstance(raw, bytes):
            if len(raw) > MAX_TOKEN_CHARS * 2:  # bound the decode too, whitespace included
                raise fail(f"it is {len(raw)} bytes, more than the limit of {MAX_TOKEN_CHARS}")
            try:
                raw = raw.decode("ascii")
            except UnicodeDecodeError:
                raise fail("it is not ASCII text") from None
        if not isinstance(raw, str):
            raise TypeError("IdentityToken.parse takes str or bytes")
        if len(raw) > MAX_TOKEN_CHARS * 2:
            raise fail(f"it is {len(raw)} characters, more than the limit of {MAX_TOKEN_CHARS}")
        token = raw.strip()
        if not token:
            raise fail("it is empty")
        if len(token) > MAX_TOKEN_CHARS:
            raise fail(f"it is {len(token)} characters, more than the limit of {MAX_TOKEN_CHARS}")
        if token.count(".") != 2:
            raise fail("it is not a JWT (three dot-separated parts)")
        header_part, payload_part, signature_part = token.split(".")
        if not header_part or not payload_part or not signature_part:
            raise fail("it is not a signed JWT (a part is empty)")
        header = _b64url_json(header_part, "header", fail)
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg or alg.lower() == "none":
            raise fail("its header names no signature algorithm")
        claims = _b64url_json(payload_part, "claims", fail)

        expiry = _check_times(claims, time.time() if now is None else now, fail)
        if audience is not None:
            _check_audience(claims, audience, fail)
        return cls(
            raw=token,
            claims=types.MappingProxyType(claims),
            expiry=expiry,
            provider=provider,
        )

    @property
    def issuer(self) -> str | None:
        """The ``iss`` claim, when it is a string."""
        value = self.claims.get("iss")
        return value if isinstance(value, str) else None

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim, when it is a string."""
        value = self.claims.get("sub")
        return value if isinstance(value, str) else None

    @property
    def audience(self) -> tuple[str, ...]:
        """The ``aud`` claim as a tuple (a single audience becomes a 1-tuple)."""
        value = self.claims.get("aud")
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(item for item in value if isinstance(item, str))
        return ()

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Return whether the token expires in less than ``seconds`` from now.

        Args:
            seconds: the margin.
            now: the current time as a POSIX timestamp (tests).
        """
        current = time.time() if now is None else now
        return self.expiry.timestamp() - current < seconds

    def to_dict(self) -> dict[str, Any]:
        """Describe the token without the token: provider, issuer, subject, audience, expiry."""
        return {
            "provider": self.provider,
            "issuer": self.issuer,
            "subject": self.subject,
            "audience": list(self.audience),
            "expiry": self.expiry.isoformat(),
        }

    def __repr__(self) -> str:
        return (
            f"IdentityToken(provider={self.provider!r}, issuer={self.issuer!r}, "
            f"subject={self.subject!r}, audience={self.audience!r}, "
            f"expiry={self.expiry.isoformat()!r})"
        )
