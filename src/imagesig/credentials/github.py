"""GitHub Actions OIDC tokens.

A job granted ``permissions: id-token: write`` gets two variables from the runner:
``ACTIONS_ID_TOKEN_REQUEST_URL`` (a URL that already has a query string) and
``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (a bearer token for it). The token is
``GET <url>&audience=<audience>`` with ``Authorization: bearer <request token>``; the answer is
JSON whose ``value`` is the JWT.

What this provider adds to the bare contract: the audience is merged into the query
properly encoded (replacing one already there), the HTTP status is checked (a 403 with no
``value`` is a permission error, not an empty token), the body is capped, 5xx answers,
timeouts and connection errors are retried a bounded number of times within the deadline,
redirects are not followed, and the request token never appears in a message or a log.

It applies when both variables are set, and also when ``GITHUB_ACTIONS=true`` but they
are missing — then fetching raises :class:`~imagesig.errors.CredentialPermissionError` that
says to grant ``id-token: write``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imagesig.credentials.base import Detection, IdentityToken
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    redact_url,
)

if TYPE_CHECKING:
    import httpx

    from imagesig._http import RetryPolicy

__all__ = [
    "MAX_RESPONSE_BYTES",
    "REQUEST_TOKEN_VARIABLE",
    "REQUEST_URL_VARIABLE",
    "GitHubActionsProvider",
]

_log = logging.getLogger(__name__)

REQUEST_URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name
MAX_RESPONSE_BYTES = 64 * 1024
"""Most bytes read from the token endpoint; a larger answer is an error."""

_PERMISSION_HINT = (
    "grant the job the permission to request an OIDC token: add `permissions: id-token: "
    "write` to the workflow or job (GitHub withholds it from pull requests opened from forks)"
)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_EXCERPT_CHARS = 200


class GitHubActionsProvider:
    """The ``github-actions`` provider.

    Args:
        environ: where to read the variables (default :data:`os.environ`, read at each call).
        retry: attempts and backoff for 5xx answers, timeouts and connection errors (default
            three attempts); never longer than the deadline given to :meth:`fetch_token`.
        transport: an httpx transport (tests).
        verify: TLS verification, as in httpx.
        proxy: a proxy URL, as in httpx (``trust_env`` proxies apply otherwise).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: Any = True,
        proxy: Any = None,
    ) -> None:
        self._environ = environ
        self.retry = retry
        self._transport = transport
        self._verify = verify
        self._proxy = proxy

    name = "github-actions"

    def __repr__(self) -> str:
        return "GitHubActionsProvider()"

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def detect(self) -> Detection:
        """Applies when the request variables are set, or when ``GITHUB_ACTIONS=true``."""
        env = self._env()
        url, token = env.get(REQUEST_URL_VARIABLE), env.get(REQUEST_TOKEN_VARIABLE)
        if url and token:
            return Detection(True, f"{REQUEST_URL_VARIABLE} and {REQUEST_TOKEN_VARIABLE} are set")
        if env.get("GITHUB_ACTIONS") == "true":
            return Detection(
                True,
                f"GITHUB_ACTIONS=true but {self._missing(env)} is not set (no id-token permission)",
            )
        return Detection(False, f"{REQUEST_URL_VARIABLE} is not set (not in GitHub Actions)")

    @staticmethod
    def _missing(env: Mapping[str, str]) -> str:
        missing = [v for v in (REQUEST_URL_VARIABLE, REQUEST_TOKEN_VARIABLE) if not env.get(v)]
        return " and ".join(missing)

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Ask the runner's token endpoint for a token with ``audience``.

        Args:
            audience: the ``aud`` the token is issued for.
            timeout: seconds the whole exchange (with retries) may take.

        Raises:
            CredentialNotFoundError: not in GitHub Actions.
            CredentialPermissionError: the variables are missing in GitHub Actions, or the
                endpoint answered 401/403.
            CredentialProviderError: another error status, a malformed answer, or no
                answer within ``timeout`` (after retries).
            InvalidIdentityTokenError: the token is not a valid JWT for ``audience``.
        """
        env = self._env()
        raw_url, request_token = env.get(REQUEST_URL_VARIABLE), env.get(REQUEST_TOKEN_VARIABLE)
        if not raw_url or not request_token:
            if env.get("GITHUB_ACTIONS") == "true":
                raise CredentialPermissionError(
                    f"GitHub Actions did not give this job an OIDC token: "
                    f"{self._missing(env)} is not set",
                    hint=_PERMISSION_HINT,
                    provider=self.name,
                )
            raise CredentialNotFoundError(
                f"not running in GitHub Actions ({REQUEST_URL_VARIABLE} is not set)",
                provider=self.name,
            )
        import httpx  # noqa: PLC0415 - loaded only when a token is fetched

        try:
            url = httpx.URL(raw_url).copy_set_param("audience", audience)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise CredentialProviderError(
                f"{REQUEST_URL_VARIABLE} is not a valid URL", provider=self.name
            ) from None
        source = redact_url(url.copy_with(query=None))
        if url.scheme not in ("http", "https"):
            raise CredentialProviderError(
                f"{REQUEST_URL_VARIABLE} is not an HTTP(S) URL ({source})",
                provider=self.name,
                source=source,
            )
        body = self._request(url, request_token, source, timeout)
        value = self._value(body, source)
        return IdentityToken.parse(value, audience=audience, provider=self.name, source=source)

    def _request(
        self, url: httpx.URL, request_token: str, source: str, timeout: float
    ) -> bytes | None:
        import httpx  # noqa: PLC0415

        from imagesig._http import RetryPolicy, client_settings  # noqa: PLC0415

        retry = self.retry or RetryPolicy(attempts=3, backoff=0.5, max_backoff=2.0)
        deadline = time.monotonic() + timeout
        settings = client_settings(
            verify=self._verify,
            proxy=self._proxy,
            timeout=timeout,
            trust_env=True,
            transport=self._transport,
        )
        headers = {"Authorization": f"bearer {request_token}", "Accept": "application/json"}
        attempt = 0
        with httpx.Client(**settings) as client:
            while True:
                remaining = deadline - time.monotonic()
                problem: str
                retry_after: str | None = None
                if remaining <= 0:
                    raise CredentialProviderError(
                        f"the GitHub Actions token endpoint {source} did not answer within "
                        f"{timeout:g} s",
                        provider=self.name,
                        source=source,
                    )
                try:
                    status, body, retry_after = _exchange(client, url, headers, remaining)
                except httpx.TimeoutException:
                    problem = "timed out"
                except httpx.TransportError as exc:
                    problem = f"could not be reached ({type(exc).__name__})"
                else:
                    if status == 200:
                        return body
                    if status in (401, 403):
                        raise CredentialPermissionError(
                            f"the GitHub Actions token endpoint {source} refused the request "
                            f"(HTTP {status}){self._excerpt(body, request_token)}",
                            hint=_PERMISSION_HINT,
                            provider=self.name,
                            source=source,
                        )
                    if status not in _RETRY_STATUSES:
                        raise CredentialProviderError(
                            f"the GitHub Actions token endpoint {source} answered HTTP {status}"
                            f"{self._excerpt(body, request_token)}",
                            provider=self.name,
                            source=source,
                        )
                    problem = f"answered HTTP {status}"
                delay = retry.delay(attempt, retry_after)
                if delay is None or time.monotonic() + delay >= deadline:
                    raise CredentialProviderError(
                        f"the GitHub Actions token endpoint {source} {problem} "
                        f"(after {attempt + 1} attempts)",
                        provider=self.name,
                        source=source,
                    )
                _log.debug(
                    "credentials: %s: %s %s; retrying in %.2f s", self.name, source, problem, delay
                )
                attempt += 1
                time.sleep(delay)

    def _value(self, body: bytes | None, source: str) -> str:
        def fail(problem: str) -> CredentialProviderError:
            return CredentialProviderError(
                f"the GitHub Actions token endpoint {source} {problem}",
                provider=self.name,
                source=source,
            )

        if body is None:
            raise fail(f"answered with more than {MAX_RESPONSE_BYTES} bytes")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise fail("answered with something that is not JSON") from None
        value = document.get("value") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise fail("answered without a token ('value' is missing or empty)")
        return value

    @staticmethod
    def _excerpt(body: bytes | None, request_token: str) -> str:
        """A short excerpt of an error answer's ``message``, scrubbed of the request token."""
        if body is None:
            return ""
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return ""
        message = document.get("message") if isinstance(document, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        text = " ".join(message.replace(request_token, "***").split())
        if len(text) > _EXCERPT_CHARS:
            text = text[:_EXCERPT_CHARS] + "..."
        return f": {text}"


def _exchange(
    client: httpx.Client, url: httpx.URL, headers: dict[str, str], timeout: float
) -> tuple[int, bytes | None, str | None]:
    """Send the request; the body is ``None`` when it is larger than the cap."""
    with client.stream("GET", url, headers=headers, timeout=timeout) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            return response.status_code, None, None
        parts: list[bytes] = []
        seen = 0
        for chunk in response.iter_bytes():
            seen += len(chunk)
            if seen > MAX_RESPONSE_BYTES:
                return response.status_code, None, None
            parts.append(chunk)
        return response.status_code, b"".join(parts), response.headers.get("retry-after")
