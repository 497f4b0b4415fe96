"""SPIFFE JWT-SVIDs from the Workload API (a SPIRE agent's socket).

The Workload API is gRPC over a Unix socket named by ``SPIFFE_ENDPOINT_SOCKET``. The
specification writes it as a URI (``unix:///run/spire/agent.sock``); cosign treats it as a
bare path (``/run/spire/agent.sock``). Both are accepted here. Without the variable, cosign's
default ``/tmp/spire-agent/public/api.sock`` is used when it exists.

The client is py-spiffe (``pip install 'imagesig[spiffe]'``), imported only when a token is
fetched; it sends the ``workload.spiffe.io: true`` header the specification requires. On top
of it this provider:

* fails fast when the socket is missing, without starting a gRPC channel;
* always sets a deadline on the call;
* retries ``UNAVAILABLE`` (the agent is starting) and ``PERMISSION_DENIED`` (the workload is
  not attested yet), with backoff, within the deadline; never retries ``INVALID_ARGUMENT``
  (the request is wrong, retrying cannot help) or any other status.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import stat
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from imagesig.credentials.base import Detection, IdentityToken
from imagesig.errors import (
    CredentialError,
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)

__all__ = ["DEFAULT_SOCKET", "SOCKET_VARIABLE", "SpiffeProvider", "socket_path"]

_log = logging.getLogger(__name__)

SOCKET_VARIABLE = "SPIFFE_ENDPOINT_SOCKET"
"""Names the Workload API socket (``unix:///path`` or a bare path)."""

DEFAULT_SOCKET = "/tmp/spire-agent/public/api.sock"  # noqa: S108 - SPIRE's documented default
"""The socket cosign looks for when ``SPIFFE_ENDPOINT_SOCKET`` is not set."""

_EXTRA_HINT = "install the SPIFFE extra: pip install 'imagesig[spiffe]'"
_RETRIED = frozenset({"UNAVAILABLE", "PERMISSION_DENIED"})
_BACKOFF = 0.1
_MAX_BACKOFF = 1.0


def socket_path(value: str) -> str:
    """Return the filesystem path of a Workload API address.

    Args:
        value: ``unix:///abs/path``, ``unix:/abs/path`` or a bare absolute path.

    Raises:
        ValueError: another scheme (``tcp://`` is not supported by the client), a relative
            path, or a URI with an authority, query or fragment.
    """
    if value.startswith("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme != "unix":
        if parts.scheme == "tcp":
            raise ValueError("tcp:// Workload API addresses are not supported; use a unix socket")
        raise ValueError("must be unix:///absolute/path or an absolute path")
    if parts.netloc or parts.query or parts.fragment:
        raise ValueError("a unix:// address has no host, query or fragment (unix:///path)")
    if not parts.path.startswith("/"):
        raise ValueError("the socket path must be absolute")
    return parts.path


class SpiffeProvider:
    """The ``spiffe`` provider: a JWT-SVID for the audience from the Workload API.

    Args:
        socket: the Workload API address; default ``SPIFFE_ENDPOINT_SOCKET``, else
            :data:`DEFAULT_SOCKET`.
        environ: the environment to read (default :data:`os.environ`, read at each call).
    """

    name = "spiffe"

    def __init__(self, socket: str | None = None, *, environ: Mapping[str, str] | None = None):
        self._socket = socket
        self._environ = environ

    def __repr__(self) -> str:
        return f"SpiffeProvider({self._socket!r})" if self._socket else "SpiffeProvider()"

    def _address(self) -> tuple[str, str]:
        """``(address, where it came from)``."""
        if self._socket:
            return self._socket, "the socket given"
        env = os.environ if self._environ is None else self._environ
        value = env.get(SOCKET_VARIABLE)
        if value:
            return value, SOCKET_VARIABLE
        return DEFAULT_SOCKET, "the default socket"

    def detect(self) -> Detection:
        """Applies when the socket is named (and then even when it is missing), or exists."""
        address, origin = self._address()
        if origin == "the default socket":
            if _is_socket(address):
                return Detection(True, f"{address} exists ({SOCKET_VARIABLE} is not set)")
            return Detection(False, f"{SOCKET_VARIABLE} is not set and {address} does not exist")
        try:
            path = socket_path(address)
        except ValueError as exc:
            return Detection(True, f"{origin} is {address!r}, which is unusable: {exc}")
        reason = f"{origin} names {path}"
        if not _is_socket(path):
            reason += ", which is not a socket"
        if importlib.util.find_spec("spiffe") is None:
            reason += " (the spiffe package is not installed)"
        return Detection(True, reason)

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Fetch a JWT-SVID for ``audience`` within ``timeout`` seconds.

        Args:
            audience: the SVID's audience.
            timeout: the deadline for the whole exchange, retries included.

        Raises:
            CredentialNotFoundError: no socket named and the default one does not exist.
            CredentialPermissionError: the agent kept refusing (``PERMISSION_DENIED``).
            CredentialProviderError: the address is unusable, the socket is missing, the
                ``spiffe`` package is not installed, the agent answered another error or
                stayed unavailable until the deadline.
            InvalidIdentityTokenError: the SVID is not a valid JWT for ``audience``.
        """
        address, origin = self._address()
        try:
            path = socket_path(address)
        except ValueError as exc:
            raise CredentialProviderError(
                f"{origin} is {address!r}, which is not a usable Workload API address: {exc}",
                provider=self.name,
            ) from None
        if not _is_socket(path):
            if origin == "the default socket":
                raise CredentialNotFoundError(
                    f"{SOCKET_VARIABLE} is not set and {path} does not exist",
                    provider=self.name,
                    source=path,
                )
            raise CredentialProviderError(
                f"the SPIFFE Workload API socket {path} ({origin}) does not exist "
                "or is not a socket",
                hint="is the SPIRE agent running, and is its socket mounted into this container?",
                provider=self.name,
                source=path,
            )
        try:
            from spiffe import WorkloadApiClient  # noqa: PLC0415 - optional extra
        except ImportError:
            raise CredentialProviderError(
                "the SPIFFE provider needs the spiffe package, which is not installed",
                hint=_EXTRA_HINT,
                provider=self.name,
                extra="spiffe",
            ) from None
        return self._fetch(WorkloadApiClient, path, audience, timeout)

    def _fetch(self, client_class: type, path: str, audience: str, timeout: float) -> IdentityToken:
        from spiffe.errors import ArgumentError, PySpiffeError  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        attempt = 0
        last_code: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._gave_up(path, timeout, last_code)
            try:
                client = client_class(socket_path=f"unix:{path}", default_timeout=remaining)
            except PySpiffeError as exc:
                raise CredentialProviderError(
                    f"cannot open the SPIFFE Workload API at {path} ({type(exc).__name__})",
                    provider=self.name,
                    source=path,
                ) from exc
            try:
                svid = client.fetch_jwt_svid({audience}, timeout=remaining)
            except (PySpiffeError, ArgumentError) as exc:
                code = _grpc_code(exc)
                if code is None:
                    # Not a transport status: the agent answered, but the SVID is unusable.
                    raise InvalidIdentityTokenError(
                        f"the JWT-SVID from {path} is unusable ({type(exc).__name__})",
                        provider=self.name,
                        source=path,
                    ) from exc
                if code == "DEADLINE_EXCEEDED":
                    # Our own deadline ran out during the call: report what the agent said
                    # before it (e.g. PERMISSION_DENIED), not the timeout itself.
                    raise self._gave_up(path, timeout, last_code) from exc
                if code not in _RETRIED:
                    hint = None
                    if code == "INVALID_ARGUMENT":
                        hint = (
                            "INVALID_ARGUMENT means the agent refuses the request itself "
                            "(no workload.spiffe.io header, or no audience); it is not retried"
                        )
                    raise CredentialProviderError(
                        f"the SPIFFE Workload API at {path} refused the request ({code})",
                        hint=hint,
                        provider=self.name,
                        source=path,
                        status=code,
                    ) from exc
                last_code = code
            else:
                token = getattr(svid, "token", None)
                if not isinstance(token, str):
                    raise InvalidIdentityTokenError(
                        f"the Workload API at {path} answered without a JWT-SVID",
                        provider=self.name,
                        source=path,
                    )
                return IdentityToken.parse(
                    token, audience=audience, provider=self.name, source=path
                )
            finally:
                client.close()
            delay = random.uniform(0, min(_MAX_BACKOFF, _BACKOFF * 2**attempt))  # noqa: S311
            delay = min(delay, max(deadline - time.monotonic(), 0.0))
            _log.debug("credentials: spiffe: %s from %s; retrying in %.2f s", code, path, delay)
            attempt += 1
            time.sleep(delay)

    def _gave_up(self, path: str, timeout: float, last_code: str | None) -> CredentialError:
        if last_code == "PERMISSION_DENIED":
            return CredentialPermissionError(
                f"the SPIFFE Workload API at {path} did not issue a JWT-SVID to this workload "
                f"within {timeout:g} s (PERMISSION_DENIED)",
                hint="register this workload with the SPIRE server (an entry whose selectors "
                "match it), or wait until the agent has attested it",
                provider=self.name,
                source=path,
                status=last_code,
            )
        answer = f"last answer: {last_code}" if last_code else "no answer"
        return CredentialProviderError(
            f"the SPIFFE Workload API at {path} did not deliver a JWT-SVID within "
            f"{timeout:g} s ({answer})",
            hint="is the SPIRE agent running and healthy?",
            provider=self.name,
            source=path,
            status=last_code,
        )


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _grpc_code(exc: BaseException) -> str | None:
    """The gRPC status name behind a py-spiffe error, if it came from the transport."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if callable(code):
            try:
                status = code()
            except Exception:  # a foreign object; treat it as "no status"
                status = None
            name = getattr(status, "name", None)
            if isinstance(name, str):
                return name
        current = current.__cause__ or current.__context__
    return None
