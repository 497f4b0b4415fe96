"""Identity tokens someone else already fetched: a token file, or ``SIGSTORE_ID_TOKEN``.

``filesystem`` reads ``/var/run/sigstore/cosign/oidc-token`` — where a Kubernetes pod mounts
a projected service-account token with ``audience: sigstore``; kubelet rewrites the file
before the token expires, so the file is read again whenever the token held is about to
expire or the file changed. A JWT-SVID written by spiffe-helper works the same way with
``path=`` pointing at it.

``envvar`` takes ``SIGSTORE_ID_TOKEN`` (GitLab CI's ``id_tokens:`` exports it, and anyone
can). It applies as soon as the variable is set, even empty — an empty value is then
reported as the error it is instead of being passed on.

Unlike cosign, both check what they read: surrounding whitespace is removed, the length is
capped before anything else, and the token must be a JWT for the requested audience that
has not expired.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from imagesig.credentials.base import MAX_TOKEN_CHARS, Detection, IdentityToken
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)

__all__ = [
    "DEFAULT_TOKEN_FILE",
    "DEFAULT_TOKEN_VARIABLE",
    "EnvironmentTokenProvider",
    "FileTokenProvider",
]

_log = logging.getLogger(__name__)

DEFAULT_TOKEN_FILE = "/var/run/sigstore/cosign/oidc-token"  # noqa: S105 - a path, not a secret
"""Where cosign's ``filesystem`` provider looks for a token."""

DEFAULT_TOKEN_VARIABLE = "SIGSTORE_ID_TOKEN"  # noqa: S105 - a variable name
"""The environment variable cosign's ``envvar`` provider reads."""

_REFRESH_MARGIN = 60.0
"""A token held that expires sooner than this is replaced by reading the file again."""


class FileTokenProvider:
    """The ``filesystem`` provider: an identity token in a file.

    Args:
        path: the token file (default :data:`DEFAULT_TOKEN_FILE`).
        name: the provider's name; change it to register a second file provider.

    Example:
        >>> provider = FileTokenProvider("/var/run/secrets/tokens/sigstore")   # doctest: +SKIP
        >>> provider.fetch_token("sigstore", timeout=5).subject              # doctest: +SKIP
        'system:serviceaccount:ci:builder'
    """

    def __init__(
        self, path: str | os.PathLike[str] = DEFAULT_TOKEN_FILE, *, name: str = ""
    ) -> None:
        self.path = Path(path)
        self._name = name or "filesystem"
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int, int], str, IdentityToken] | None = None

    @property
    def name(self) -> str:
        """The provider's name (``"filesystem"`` by default)."""
        return self._name

    def __repr__(self) -> str:
        return f"FileTokenProvider({str(self.path)!r})"

    def detect(self) -> Detection:
        """Applies when the file exists (``stat`` only)."""
        try:
            self.path.stat()
        except FileNotFoundError:
            return Detection(False, f"{self.path} does not exist")
        except OSError as exc:
            return Detection(True, f"{self.path} exists but cannot be examined ({exc.strerror})")
        return Detection(True, f"{self.path} exists")

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Read the token (again when the one held expires within a minute or the file changed).

        Args:
            audience: the audience the token must carry.
            timeout: unused (reading a local file does not wait on anyone).

        Raises:
            CredentialNotFoundError: the file does not exist.
            CredentialProviderError: it is not a regular file or cannot be read.
            InvalidIdentityTokenError: it is empty, too long, not a JWT, expired or for
                another audience.
        """
        source = str(self.path)
        try:
            status = self.path.stat()
        except FileNotFoundError:
            raise CredentialNotFoundError(
                f"the token file {source} does not exist", provider=self.name, source=source
            ) from None
        except OSError as exc:
            raise self._unreadable(exc) from exc
        if not stat.S_ISREG(status.st_mode):
            raise CredentialProviderError(
                f"{source} is not a regular file", provider=self.name, source=source
            )
        stamp = (status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev)
        with self._lock:
            cached = self._cached
        if (
            cached is not None
            and cached[0] == stamp
            and cached[1] == audience
            and not cached[2].expires_within(_REFRESH_MARGIN)
        ):
            return cached[2]
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_TOKEN_CHARS + 1)
        except OSError as exc:
            raise self._unreadable(exc) from exc
        _log.debug("credentials: %s: read %d bytes from %s", self.name, len(data), source)
        if len(data) > MAX_TOKEN_CHARS:
            # Longer than any token: refused by length alone, and the rest is never read.
            raise InvalidIdentityTokenError(
                f"the token file {source} is larger than {MAX_TOKEN_CHARS} bytes",
                provider=self.name,
                source=source,
            )
        token = IdentityToken.parse(data, audience=audience, provider=self.name, source=source)
        with self._lock:
            self._cached = (stamp, audience, token)
        return token

    def _unreadable(self, exc: OSError) -> CredentialProviderError:
        source = str(self.path)
        return CredentialProviderError(
            f"cannot read the token file {source}: {exc.strerror or type(exc).__name__}",
            hint="check the file's permissions and the volume mount",
            provider=self.name,
            source=source,
        )


class EnvironmentTokenProvider:
    """The ``envvar`` provider: an identity token in an environment variable.

    Args:
        variable: the variable (default :data:`DEFAULT_TOKEN_VARIABLE`).
        environ: where to read it (default :data:`os.environ`, read at each call).
        name: the provider's name.
    """

    def __init__(
        self,
        variable: str = DEFAULT_TOKEN_VARIABLE,
        *,
        environ: Mapping[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.variable = variable
        self._environ = environ
        self._name = name or "envvar"

    @property
    def name(self) -> str:
        """The provider's name (``"envvar"`` by default)."""
        return self._name

    def __repr__(self) -> str:
        return f"EnvironmentTokenProvider({self.variable!r})"

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def detect(self) -> Detection:
        """Applies when the variable is set, even to an empty value."""
        if self.variable in self._env():
            return Detection(True, f"{self.variable} is set")
        return Detection(False, f"{self.variable} is not set")

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        """Return the variable's token after checking it.

        Args:
            audience: the audience the token must carry.
            timeout: unused.

        Raises:
            CredentialNotFoundError: the variable is not set.
            InvalidIdentityTokenError: it is empty, too long, not a JWT, expired or for
                another audience.
        """
        value = self._env().get(self.variable)
        source = f"${self.variable}"
        if value is None:
            raise CredentialNotFoundError(
                f"{self.variable} is not set", provider=self.name, source=source
            )
        return IdentityToken.parse(value, audience=audience, provider=self.name, source=source)
