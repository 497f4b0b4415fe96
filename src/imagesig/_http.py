"""HTTP effects and the retry/redirect loop shared by every network flow (registries, Rekor).

:class:`Exchange` is the one effect that touches the network: it sends a request through
httpx (sync or async), reads the body under a cap (or streams it into a sink while hashing)
and returns a :class:`Received`. :func:`send` is the flow around it: bounded, jittered
retries for idempotent requests, ``Retry-After``, and redirects that never carry our
credentials to another origin.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, BinaryIO, Protocol

import attrs
import httpx
from typing_extensions import Self

from imagesig import __version__
from imagesig._flow import Flow, Sleep
from imagesig.errors import (
    RegistryConnectionError,
    RegistryProtocolError,
    RegistryTimeoutError,
    SizeLimitExceededError,
    redact_url,
)
from imagesig.reference import Digest

__all__ = [
    "ERROR_BODY_BYTES",
    "Exchange",
    "HTTPEnv",
    "OwnedAsyncHTTPClient",
    "OwnedHTTPClient",
    "Received",
    "RequestMarker",
    "RetryPolicy",
    "client_settings",
    "send",
]

ERROR_BODY_BYTES = 64 * 1024
"""At most this much of an error response is read (the rest is discarded)."""

MAX_REDIRECTS = 5
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_CHUNK = 64 * 1024


class RequestMarker(Protocol):
    """Marks a request for an ``httpx.Auth`` (e.g. :class:`imagesig.oci.auth.RequestScope`)."""

    def attach(self, request: httpx.Request) -> httpx.Request:
        """Mark ``request`` and return it."""
        ...


def client_settings(
    *, verify: Any, proxy: Any, timeout: Any, trust_env: bool, transport: Any
) -> dict[str, Any]:
    """Keyword arguments for an ``httpx.Client``/``AsyncClient`` made by imagesig.

    Redirects are never followed by httpx itself: :func:`send` follows them, so that
    credentials never travel to another origin.
    """
    return {
        "verify": verify,
        "proxy": proxy,
        "timeout": timeout,
        "trust_env": trust_env,
        "transport": transport,
        "follow_redirects": False,
        "headers": {"User-Agent": f"imagesig/{__version__}"},
    }


class OwnedHTTPClient:
    """Holds the ``httpx.Client`` of a blocking network client; closes it only if it made it.

    Subclasses call :meth:`_open_http` in ``__init__`` and get ``close()`` and the
    context-manager protocol.
    """

    http: httpx.Client
    _owns_http: bool

    def _open_http(self, given: httpx.Client | None, **settings: Any) -> httpx.Client:
        self._owns_http = given is None
        self.http = given if given is not None else httpx.Client(**client_settings(**settings))
        return self.http

    def close(self) -> None:
        """Close the HTTP client (when this object created it)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class OwnedAsyncHTTPClient:
    """:class:`OwnedHTTPClient` for ``httpx.AsyncClient``: ``aclose()`` and ``async with``."""

    http: httpx.AsyncClient
    _owns_http: bool

    def _open_http(self, given: httpx.AsyncClient | None, **settings: Any) -> httpx.AsyncClient:
        self._owns_http = given is None
        self.http = given if given is not None else httpx.AsyncClient(**client_settings(**settings))
        return self.http

    async def aclose(self) -> None:
        """Close the HTTP client (when this object created it)."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@attrs.frozen
class RetryPolicy:
    """How often and how long to retry idempotent requests.

    Retries happen on connection errors, timeouts and HTTP 429/500/502/503/504; never on
    other 4xx answers. The delay before attempt *n* is ``backoff * 2**n`` with full
    jitter, capped at ``max_backoff``; a ``Retry-After`` header (seconds) replaces it when
    it is not longer than ``max_retry_after``, otherwise the request fails at once.

    Attributes:
        attempts: total attempts, including the first (1 disables retries).
        backoff: base delay in seconds.
        max_backoff: cap on one computed delay.
        max_retry_after: longest ``Retry-After`` honoured.
    """

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or ``None`` to give up."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            try:
                seconds = float(retry_after.strip())
            except ValueError:
                seconds = -1.0  # an HTTP date: fall back to our own backoff
            if seconds > self.max_retry_after:
                return None
            if seconds >= 0:
                return seconds
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311


@attrs.frozen
class HTTPEnv:
    """What the HTTP effects run against: an httpx client and the auth to use."""

    client: Any
    auth: httpx.Auth


@attrs.frozen
class Received:
    """A response whose body has been read (or streamed away)."""

    status_code: int
    headers: httpx.Headers
    url: httpx.URL
    content: bytes
    length: int
    """Bytes of body received (equals ``len(content)`` unless streamed into a sink)."""
    hexdigest: str | None = None
    """Digest of the body, when the exchange was asked to hash it."""


@attrs.frozen
class Exchange:
    """Send one request and read its body under ``max_bytes``.

    Args:
        request: the request.
        max_bytes: a larger successful body raises :class:`SizeLimitExceededError`.
        what: names the content in errors ("manifest ghcr.io/a/b:1").
        sink: write a successful body here instead of keeping it.
        digest: hash a successful body with this digest's algorithm.
    """

    request: httpx.Request
    max_bytes: int
    what: str
    sink: BinaryIO | None = None
    digest: Digest | None = None

    def _limit_for(self, response: httpx.Response) -> int:
        # A HEAD answer's Content-Length is the size of the content, not of a body we read.
        if 200 <= response.status_code < 300 and self.request.method != "HEAD":
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise SizeLimitExceededError(
                    f"{self.what} is {declared} bytes, more than the limit of {self.max_bytes}",
                    limit=self.max_bytes,
                )
            return self.max_bytes
        return ERROR_BODY_BYTES

    def _collector(self, response: httpx.Response, limit: int) -> _Collector:
        success = 200 <= response.status_code < 300
        return _Collector(
            limit=limit,
            truncate=not success,
            sink=self.sink if success else None,
            hasher=self.digest.hasher() if success and self.digest else None,
            what=self.what,
        )

    def _result(self, response: httpx.Response, collector: _Collector) -> Received:
        return Received(
            status_code=response.status_code,
            headers=response.headers,
            url=response.url,
            content=b"".join(collector.parts),
            length=collector.seen,
            hexdigest=collector.hasher.hexdigest() if collector.hasher else None,
        )

    def run_sync(self, env: HTTPEnv) -> Received:
        response = env.client.send(self.request, auth=env.auth, stream=True, follow_redirects=False)
        try:
            collector = self._collector(response, self._limit_for(response))
            if self.request.method != "HEAD":
                for chunk in response.iter_bytes(_CHUNK):
                    if collector.feed(chunk):
                        break
            return self._result(response, collector)
        finally:
            response.close()

    async def run_async(self, env: HTTPEnv) -> Received:
        response = await env.client.send(
            self.request, auth=env.auth, stream=True, follow_redirects=False
        )
        try:
            collector = self._collector(response, self._limit_for(response))
            if self.request.method != "HEAD":
                # Close the body iterator explicitly when a cap stops the read early, so no
                # half-read async generator is left for the loop to finalise.
                async with contextlib.aclosing(response.aiter_bytes(_CHUNK)) as chunks:
                    async for chunk in chunks:
                        if collector.feed(chunk):
                            break
            return self._result(response, collector)
        finally:
            await response.aclose()


@attrs.define
class _Collector:
    limit: int
    truncate: bool
    sink: BinaryIO | None
    hasher: Any
    what: str
    parts: list[bytes] = attrs.Factory(list)
    seen: int = 0

    def feed(self, chunk: bytes) -> bool:
        """Take a chunk; return True when reading should stop."""
        if self.seen + len(chunk) > self.limit:
            if self.truncate:
                self.parts.append(chunk[: self.limit - self.seen])
                self.seen = self.limit
                return True
            raise SizeLimitExceededError(
                f"{self.what} is larger than the limit of {self.limit} bytes", limit=self.limit
            )
        self.seen += len(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)
        if self.sink is not None:
            self.sink.write(chunk)
        else:
            self.parts.append(chunk)
        return False


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def send(
    method: str,
    url: httpx.URL,
    *,
    scope: RequestMarker | None,
    what: str,
    max_bytes: int,
    retry: RetryPolicy,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    sink: BinaryIO | None = None,
    digest: Digest | None = None,
    context: dict[str, Any] | None = None,
) -> Flow[Received]:
    """Send a registry request: retries, ``Retry-After`` and safe redirects.

    Credentials go only to the registry's own origin: a redirect elsewhere (blob storage) is
    followed without the registry scope, so :class:`~imagesig.oci.auth.RegistryAuth` leaves
    it alone, and a redirect from HTTPS to plain HTTP is refused.

    Raises:
        RegistryTimeoutError: timed out on every attempt.
        RegistryConnectionError: could not connect on any attempt.
        RegistryProtocolError: a redirect loop or an unsafe redirect.
        SizeLimitExceededError: the body is larger than ``max_bytes``.
    """
    context = context or {}
    origin = url
    current_scope: RequestMarker | None = scope
    retryable = method in _IDEMPOTENT and sink is None
    attempt = 0
    redirects = 0
    while True:
        request = httpx.Request(method, url, headers=headers, content=content)
        if current_scope is not None:
            current_scope.attach(request)
        try:
            received: Received = yield Exchange(request, max_bytes, what, sink, digest)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            delay = retry.delay(attempt, None) if retryable else None
            if delay is not None:
                attempt += 1
                yield Sleep(delay)
                continue
            raise _transport_error(exc, url, what, context) from exc
        if received.status_code in _RETRY_STATUSES and retryable:
            delay = retry.delay(attempt, received.headers.get("retry-after"))
            if delay is not None:
                attempt += 1
                yield Sleep(delay)
                continue
        if received.status_code in _REDIRECT_STATUSES and method in ("GET", "HEAD"):
            redirects += 1
            location = received.headers.get("location")
            if not location or redirects > MAX_REDIRECTS:
                raise RegistryProtocolError(
                    f"too many or empty redirects fetching {what}",
                    status_code=received.status_code,
                    **context,
                )
            target = url.join(location)
            if url.scheme == "https" and target.scheme != "https":
                raise RegistryProtocolError(
                    f"refusing a redirect from HTTPS to {redact_url(target)} for {what}",
                    **context,
                )
            if target.scheme not in ("http", "https"):
                raise RegistryProtocolError(
                    f"refusing a redirect to a non-HTTP URL for {what}", **context
                )
            if not _same_origin(target, origin):
                current_scope = None
            url = target
            continue
        return received


def _transport_error(
    exc: Exception, url: httpx.URL, what: str, context: dict[str, Any]
) -> Exception:
    where = redact_url(url.copy_with(query=None))
    if isinstance(exc, httpx.TimeoutException):
        return RegistryTimeoutError(f"timed out fetching {what} from {where}", **context)
    return RegistryConnectionError(
        f"could not reach {where} for {what}: {type(exc).__name__}", **context
    )
