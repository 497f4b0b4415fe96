"""Registry credentials: docker's ``config.json``, credential helpers and keychains.

A *keychain* answers one question: which credential, if any, goes to a registry host
(``"ghcr.io"``, ``"docker.io"``, ``"127.0.0.1:5000"``). ``None`` means "nothing here, ask
someone else"; :class:`ChainKeychain` asks its members in turn.

:class:`DockerConfigKeychain` reads credentials the way the docker CLI does, so
``docker login`` is all a user has to do. For a registry it looks up, in this order:

0. ``DOCKER_AUTH_CONFIG`` (a JSON document ``{"auths": {KEY: {"auth": ...}}}`` in the
   environment), exact key only (KEY as in step 2). When it has the key, nothing else is
   consulted and no file is read. A value docker would refuse is ignored with a warning,
   as docker does.

1. **Which file.** With an explicit ``config_path``, that file. Otherwise the first of:

   a. docker's config, when ``~/.docker/config.json`` or ``$DOCKER_CONFIG/config.json``
      exists: ``$DOCKER_CONFIG/config.json`` if ``DOCKER_CONFIG`` is set, else
      ``~/.docker/config.json`` (``DOCKER_CONFIG`` wins even when only the home file
      exists, as in docker);
   b. ``$REGISTRY_AUTH_FILE``;
   c. podman's ``$XDG_RUNTIME_DIR/containers/auth.json``, else
      ``$XDG_CONFIG_HOME/containers/auth.json`` (``~/.config`` when unset).

   Only one file is read; a missing file means "no credentials", not an error.

2. **The key.** Docker Hub (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``)
   is stored under ``https://index.docker.io/v1/``; every other registry under its host.

3. **The store** for the key: ``credHelpers[KEY]`` when that entry exists (even as ``""``,
   which selects the file itself and bypasses ``credsStore``), else ``credsStore``.

   * A helper (``docker-credential-<name> get``, server URL ``KEY`` on stdin) is the only
     source of the user name, password and identity token: an ``auths`` entry is *not* a
     fallback when the helper has nothing. ``docker login`` writes an empty placeholder
     (``"auths": {"ghcr.io": {}}``) when a store is configured; it simply means "ask the
     store". Only ``registrytoken`` is still taken from the ``auths`` entry.
   * Without a helper, the ``auths`` entry: the key as written, else the first key (in
     file order) whose host part equals the registry — ``"https://ghcr.io/v2/"``,
     ``"http://ghcr.io"`` and ``"ghcr.io/team"`` all serve ``ghcr.io``. For Docker Hub,
     keys for ``docker.io``, ``index.docker.io`` or ``registry-1.docker.io`` (what podman
     writes) are accepted after the canonical key.

   An entry's ``auth`` is ``base64("user:password")`` split at the first colon; when it is
   set it replaces the ``username``/``password`` fields. ``identitytoken`` is an OAuth2
   refresh token, ``registrytoken`` a bearer token sent as is.

4. Nothing found, or everything found is empty: ``None``.

This follows docker/cli ``cli/config/configfile/file.go`` (``GetAuthConfig``,
``GetCredentialsStore``, ``decodeAuth``), ``cli/config/credentials/file_store.go``
(``ConvertToHostname``) and ``native_store.go``, the helper client of
docker/docker-credential-helpers, and go-containerregistry's ``DefaultKeychain``
(``pkg/authn/keychain.go``) for the choice of file. Differences: an ``auth`` value that
does not decode fails only lookups that use that entry (docker refuses the whole file), the
podman spelling of Docker Hub's key is accepted, and a helper name containing a path
separator is refused instead of being run as a relative path.

Helpers are never asked to store or erase anything, and nothing here prompts or writes.
A helper's answer is cached per keychain (optionally for a limited time) because helpers
are slow; the cache is dropped when the config file changes. A helper that is missing,
fails, times out, writes more than :data:`MAX_HELPER_OUTPUT_BYTES` or answers garbage raises
:class:`~imagesig.errors.CredentialStoreError`; its "credentials not found in native
keychain" answer is ``None``.

Ambient cloud credentials plug in through :class:`CallableKeychain`, limited to the hosts
they are meant for::

    keychain = ChainKeychain([
        DockerConfigKeychain(),
        CallableKeychain(google_token_for, hosts=GOOGLE_REGISTRY_HOSTS),
    ])
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from imagesig.errors import CredentialStoreError

__all__ = [
    "ANONYMOUS",
    "CREDENTIALS_NOT_FOUND_MESSAGE",
    "DOCKER_HUB_AUTH_KEY",
    "GOOGLE_REGISTRY_HOSTS",
    "MAX_CONFIG_BYTES",
    "MAX_HELPER_OUTPUT_BYTES",
    "CallableKeychain",
    "ChainKeychain",
    "DockerConfigKeychain",
    "Keychain",
    "RegistryCredential",
    "StaticKeychain",
    "default_keychain",
]

_log = logging.getLogger(__name__)

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
"""The key docker stores Docker Hub credentials under, and the URL its helpers are asked."""

GOOGLE_REGISTRY_HOSTS = ("gcr.io", "*.gcr.io", "*.pkg.dev")
"""Host patterns of Container Registry and Artifact Registry, for :class:`CallableKeychain`."""

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Largest credentials file read; larger ones are refused."""

MAX_HELPER_OUTPUT_BYTES = 1024 * 1024
"""Most bytes read from a credential helper's stdout (and, separately, its stderr)."""

CREDENTIALS_NOT_FOUND_MESSAGE = "credentials not found in native keychain"
"""What a helper prints (and exits non-zero) when it has nothing for the server URL."""

_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_TOKEN_USERNAME = "<token>"  # noqa: S105 - the marker, not a secret
_HELPER_PREFIX = "docker-credential-"
_EXCERPT_CHARS = 200
_READ_CHUNK = 65536
_HOST_PATTERN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)


# -- the credential -------------------------------------------------------------------------


def _optional_str(instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"RegistryCredential.{attribute.name} must be a str or None")


@attrs.frozen(repr=False)
class RegistryCredential:
    """What a registry is sent: Basic credentials, an identity token or a bearer token.

    Attributes:
        username: the user name for HTTP Basic or the token server's password grant.
        password: the password; never shown by ``repr``.
        identity_token: an OAuth2 refresh token exchanged at the token endpoint (docker's
            ``identitytoken``).
        registry_token: a bearer token sent to the registry as is (docker's
            ``registrytoken``).

    Example:
        >>> RegistryCredential(username="alice", password="s3cret")
        RegistryCredential(username='alice', password=***)
    """

    username: str | None = attrs.field(default=None, validator=_optional_str)
    password: str | None = attrs.field(default=None, validator=_optional_str)
    identity_token: str | None = attrs.field(default=None, validator=_optional_str)
    registry_token: str | None = attrs.field(default=None, validator=_optional_str)

    @property
    def is_anonymous(self) -> bool:
        """``True`` when no field is set (or all are empty): no credential at all."""
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __repr__(self) -> str:
        parts = [] if self.username is None else [f"username={self.username!r}"]
        secrets = (
            ("password", self.password),
            ("identity_token", self.identity_token),
            ("registry_token", self.registry_token),
        )
        parts.extend(f"{name}=***" for name, value in secrets if value is not None)
        return f"RegistryCredential({', '.join(parts)})"


ANONYMOUS = RegistryCredential()
"""No credential: the registry is accessed anonymously."""


def _credential(
    username: str | None = None,
    password: str | None = None,
    identity_token: str | None = None,
    registry_token: str | None = None,
) -> RegistryCredential | None:
    # Docker treats "" as "not set"; so do we.
    credential = RegistryCredential(
        username=username or None,
        password=password or None,
        identity_token=identity_token or None,
        registry_token=registry_token or None,
    )
    return None if credential.is_anonymous else credential


# -- keychains ------------------------------------------------------------------------------


@runtime_checkable
class Keychain(Protocol):
    """Finds the credential for a registry."""

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return the credential for ``registry``, or ``None`` when this keychain has none.

        Args:
            registry: a normalised ``host[:port]``: ``"docker.io"``, ``"ghcr.io"``,
                ``"127.0.0.1:5000"``.

        Raises:
            CredentialStoreError: the keychain applies but its source is broken.
        """
        ...


def default_keychain() -> Keychain:
    """Return a new keychain reading docker's config and credential helpers.

    Returns:
        A :class:`DockerConfigKeychain` with default settings.
    """
    return DockerConfigKeychain()


class StaticKeychain:
    """Credentials given explicitly, per registry.

    Keys are normalised like docker config keys: ``"https://ghcr.io/v2/"`` means
    ``ghcr.io``, and every Docker Hub spelling means Docker Hub.

    Args:
        credentials: registry → :class:`RegistryCredential` or ``(username, password)``.

    Raises:
        TypeError: a value is neither a credential nor a pair of strings.
        ValueError: two keys name the same registry.

    Example:
        >>> keychain = StaticKeychain({"ghcr.io": ("alice", "s3cret")})
        >>> keychain.resolve("ghcr.io")
        RegistryCredential(username='alice', password=***)
    """

    def __init__(
        self, credentials: Mapping[str, RegistryCredential | tuple[str, str]] | None = None
    ) -> None:
        self._credentials: dict[str, RegistryCredential] = {}
        for key, value in (credentials or {}).items():
            registry = _registry_name(key)
            if registry in self._credentials:
                raise ValueError(f"StaticKeychain: {key!r} names a registry given twice")
            self._credentials[registry] = _as_credential(key, value)

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return the credential given for ``registry``, or ``None``.

        Args:
            registry: a normalised ``host[:port]``.
        """
        return self._credentials.get(_registry_name(registry))

    def __repr__(self) -> str:
        return f"StaticKeychain(registries={sorted(self._credentials)!r})"


def _as_credential(key: str, value: object) -> RegistryCredential:
    if isinstance(value, RegistryCredential):
        return value
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(item, str) for item in value)
    ):
        return RegistryCredential(username=value[0], password=value[1])
    raise TypeError(
        f"StaticKeychain: the value for {key!r} must be a RegistryCredential or a "
        "(username, password) tuple"
    )


class ChainKeychain:
    """Asks several keychains in order; the first answer that is not ``None`` wins.

    A member returning :data:`ANONYMOUS` ends the search (anonymous access), unlike one
    returning ``None``. Errors from a member propagate.

    Args:
        keychains: the keychains to ask, in order.
    """

    def __init__(self, keychains: Iterable[Keychain]) -> None:
        self.keychains: tuple[Keychain, ...] = tuple(keychains)

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return the first member's answer that is not ``None``.

        Args:
            registry: a normalised ``host[:port]``.

        Raises:
            CredentialStoreError: a member's source is broken (as raised by that member).
        """
        for keychain in self.keychains:
            credential = keychain.resolve(registry)
            if credential is not None:
                return credential
        return None

    def __repr__(self) -> str:
        return f"ChainKeychain({list(self.keychains)!r})"


class CallableKeychain:
    """Adapts a function ``registry -> RegistryCredential | None``, limited to some hosts.

    This is how ambient cloud credentials are offered: the function only ever sees
    registries matching ``hosts``, so a cloud token is never sent to an arbitrary host.

    Args:
        resolve: the function to call.
        hosts: :mod:`fnmatch` patterns (case-insensitive) the registry must match, such as
            ``"gcr.io"``, ``"*.gcr.io"``, ``"*.pkg.dev"`` (see
            :data:`GOOGLE_REGISTRY_HOSTS`). ``None`` lets every registry through — only
            for functions that decide for themselves. A registry that is not a plain
            ``host[:port]`` never matches.

    Raises:
        TypeError: ``hosts`` is a single string instead of a collection of patterns.
    """

    def __init__(
        self,
        resolve: Callable[[str], RegistryCredential | None],
        *,
        hosts: Iterable[str] | None = None,
    ) -> None:
        if isinstance(hosts, str):
            raise TypeError("CallableKeychain: hosts must be a collection of patterns, not a str")
        self._resolve = resolve
        self.hosts: tuple[str, ...] | None = (
            None if hosts is None else tuple(pattern.lower() for pattern in hosts)
        )

    def applies_to(self, registry: str) -> bool:
        """Return whether ``registry`` is one the function may see.

        Args:
            registry: a normalised ``host[:port]``.
        """
        if self.hosts is None:
            return True
        host = registry.lower()
        if not _HOST_PATTERN.fullmatch(host):
            return False
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.hosts)

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Call the function when ``registry`` is allowed, else return ``None``.

        Args:
            registry: a normalised ``host[:port]``.

        Raises:
            Exception: whatever the function raises, unchanged.
        """
        if not self.applies_to(registry):
            _log.debug(
                "credentials: %s is not among %s; not asking %r",
                registry,
                self.hosts,
                self._resolve,
            )
            return None
        return self._resolve(registry)

    def __repr__(self) -> str:
        return f"CallableKeychain({self._resolve!r}, hosts={self.hosts!r})"


# -- docker config --------------------------------------------------------------------------


def _convert_to_hostname(key: str) -> str:
    """The host part of a config key: scheme, user-info and path removed."""
    if "://" in key:
        rest = key.split("://", 1)[1]
        host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        if host:
            return host
    return key.split("/", 1)[0]


def _registry_name(name: str) -> str:
    host = _convert_to_hostname(name.strip()).lower()
    return "docker.io" if host in _DOCKER_HUB_HOSTS else host


def _auth_key(registry: str) -> str:
    return DOCKER_HUB_AUTH_KEY if registry.lower() in _DOCKER_HUB_HOSTS else registry


def _field(entry: Mapping[str, Any], name: str) -> Any:
    # Go's encoding/json matches field names case-insensitively, preferring an exact match.
    if name in entry:
        return entry[name]
    lowered = name.lower()
    for key, value in entry.items():
        if key.lower() == lowered:
            return value
    return None


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _decode_auth(value: str) -> tuple[str, str]:
    """Split ``base64("user:password")``; raise ``ValueError`` (without the value) if bad."""
    try:
        raw = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("is not valid base64 of UTF-8 text") from None
    username, colon, password = text.partition(":")
    if not colon or not username:
        raise ValueError('does not decode to "username:password"')
    return username, password.strip("\x00")


@attrs.frozen
class _ConfigFile:
    path: str
    auths: Mapping[str, Mapping[str, Any]]
    creds_store: str
    cred_helpers: Mapping[str, str]

    def helper_for(self, key: str) -> str:
        if key in self.cred_helpers:
            return self.cred_helpers[key]
        return self.creds_store

    def entry_for(self, key: str) -> tuple[str, Mapping[str, Any]] | None:
        if key in self.auths:
            return key, self.auths[key]
        wanted = key.lower()
        for name, entry in self.auths.items():
            if _convert_to_hostname(name).lower() == wanted:
                return name, entry
        if key == DOCKER_HUB_AUTH_KEY:
            for name, entry in self.auths.items():
                if _convert_to_hostname(name).lower() in _DOCKER_HUB_HOSTS:
                    return name, entry
        return None

    def entry_credential(self, name: str, entry: Mapping[str, Any]) -> RegistryCredential | None:
        username, password = _field(entry, "username"), _field(entry, "password")
        auth = _field(entry, "auth")
        if auth:
            try:
                username, password = _decode_auth(auth)
            except ValueError as exc:
                raise CredentialStoreError(
                    f"the 'auth' value for {name!r} in {self.path} {exc}",
                    hint=f"log in again (docker login) or fix the entry for {name!r}",
                    path=self.path,
                    registry=name,
                ) from None
        return _credential(
            username, password, _field(entry, "identitytoken"), _field(entry, "registrytoken")
        )


_ENTRY_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")


def _parse_config(path: str, data: bytes) -> _ConfigFile:
    def broken(what: str) -> CredentialStoreError:
        return CredentialStoreError(
            f"credentials file {path} {what}",
            hint="fix or remove the file, or log in again (docker login)",
            path=path,
        )

    try:
        text = data.decode("utf-8-sig").strip()
        # Like docker: an empty file is an empty config, and text after the object is ignored.
        document = json.JSONDecoder().raw_decode(text)[0] if text else {}
    except UnicodeDecodeError:
        raise broken("is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise broken(f"is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise broken("does not hold a JSON object")
    # JSON null leaves a field at its zero value, as in Go; any other wrong type is an error.
    auths = _or(_field(document, "auths"), {})
    creds_store = _or(_field(document, "credsStore"), "")
    cred_helpers = _or(_field(document, "credHelpers"), {})
    if not isinstance(auths, dict):
        raise broken("has an 'auths' that is not an object")
    if not isinstance(creds_store, str):
        raise broken("has a 'credsStore' that is not a string")
    if not isinstance(cred_helpers, dict) or not all(
        isinstance(v, str) for v in cred_helpers.values()
    ):
        raise broken("has a 'credHelpers' that is not an object of strings")
    entries: dict[str, Mapping[str, Any]] = {}
    for name, value in auths.items():
        entry = {} if value is None else value
        if not isinstance(entry, dict) or not all(
            isinstance(_field(entry, f), (str, type(None))) for f in _ENTRY_FIELDS
        ):
            raise broken(f"has an entry for {name!r} that is not an object of strings")
        entries[name] = entry
    return _ConfigFile(path, entries, creds_store, dict(cred_helpers))


def _parse_env_config(value: str) -> dict[str, RegistryCredential]:
    """``DOCKER_AUTH_CONFIG`` as docker reads it; ``ValueError`` when docker would refuse it."""
    try:
        document = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError("is not valid JSON") from None
    if not isinstance(document, dict) or any(k.lower() != "auths" for k in document):
        raise ValueError('must be {"auths": {...}} and nothing else')
    auths = _or(_field(document, "auths"), {})
    if not isinstance(auths, dict):
        raise ValueError("has an 'auths' that is not an object")
    result: dict[str, RegistryCredential] = {}
    for name, entry in auths.items():
        if not isinstance(entry, dict) or any(k.lower() != "auth" for k in entry):
            raise ValueError(f"entry {name!r} may only hold 'auth'")
        auth = _field(entry, "auth")
        if not isinstance(auth, str) or not auth:
            raise ValueError(f"entry {name!r} has no 'auth'")
        try:
            username, password = _decode_auth(auth)
        except ValueError as exc:
            raise ValueError(f"entry {name!r}: 'auth' {exc}") from None
        result[name] = RegistryCredential(username=username, password=password or None)
    return result


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


# -- credential helpers ---------------------------------------------------------------------


@attrs.frozen
class _HelperRun:
    returncode: int
    stdout: bytes
    stderr: bytes


def _read_capped(fd: int, sink: bytearray, limit: int, overflow: Callable[[], None]) -> None:
    try:
        while chunk := os.read(fd, _READ_CHUNK):
            if len(sink) + len(chunk) > limit:
                overflow()
                return
            sink.extend(chunk)
    except OSError:
        return
    finally:
        os.close(fd)


def _run_helper(program: str, server_url: str, timeout: float) -> _HelperRun | str:
    """Run ``program get``; return its outcome, or a reason string when it had to be stopped."""
    process = subprocess.Popen(  # noqa: S603 - program was found on PATH by its fixed name
        [program, "get"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    overflowed = threading.Event()

    def overflow() -> None:
        overflowed.set()
        process.kill()

    outputs = (bytearray(), bytearray())
    readers = []
    for stream, sink in zip((process.stdout, process.stderr), outputs, strict=True):
        # The reader owns the descriptor: closing it elsewhere while a read blocks could
        # later make the reader read a reused descriptor.
        fd = os.dup(stream.fileno())
        stream.close()
        reader = threading.Thread(
            target=_read_capped,
            args=(fd, sink, MAX_HELPER_OUTPUT_BYTES, overflow),
            daemon=True,
        )
        reader.start()
        readers.append(reader)
    deadline = time.monotonic() + timeout
    # A helper that exits or closes stdin early is judged by its exit status instead.
    with contextlib.suppress(OSError):
        process.stdin.write(server_url.encode("utf-8"))
    with contextlib.suppress(OSError):
        process.stdin.close()
    try:
        returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"did not answer within {timeout:g} s"
    for reader in readers:
        # A grandchild holding the pipes open must not hang us past the deadline.
        reader.join(max(deadline - time.monotonic(), 0.0))
    if overflowed.is_set():
        return f"wrote more than {MAX_HELPER_OUTPUT_BYTES} bytes"
    if any(reader.is_alive() for reader in readers):
        return f"did not finish writing within {timeout:g} s"
    return _HelperRun(returncode, bytes(outputs[0]), bytes(outputs[1]))


def _is_not_found(run: _HelperRun) -> bool:
    # docker compares the whole trimmed stdout; a line of either stream is accepted so a
    # helper that also logs a warning is still understood.
    for stream in (run.stdout, run.stderr):
        text = stream.decode("utf-8", "replace")
        if any(line.strip() == CREDENTIALS_NOT_FOUND_MESSAGE for line in text.splitlines()):
            return True
    return False


def _excerpt(run: _HelperRun) -> str:
    """A short, secret-free excerpt of a failed helper's output for an error message."""
    stdout = run.stdout.decode("utf-8", "replace").strip()
    stderr = run.stderr.decode("utf-8", "replace").strip()
    secret = None
    if stdout.startswith(("{", "[")):
        # Possibly a credentials document: never quote it, and scrub its secret elsewhere.
        try:
            document = json.loads(stdout)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(_field(document, "Secret"), str):
            secret = _field(document, "Secret")
        stdout = ""
    text = " ".join((stdout or stderr).split())
    if secret:
        text = text.replace(secret, "***")
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return text


def _parse_helper_answer(stdout: bytes) -> RegistryCredential | None:
    """Parse ``{"ServerURL","Username","Secret"}``; ``ValueError`` (without content) if bad."""
    try:
        text = stdout.decode("utf-8").strip()
        document = json.JSONDecoder().raw_decode(text)[0]
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("answered with something that is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("answered with JSON that is not an object")
    username, secret = _field(document, "Username"), _field(document, "Secret")
    if not isinstance(username, (str, type(None))) or not isinstance(secret, (str, type(None))):
        raise ValueError("answered with a Username or Secret that is not a string")
    if username == _TOKEN_USERNAME:
        return _credential(identity_token=secret)
    return _credential(username=username, password=secret)


# -- the docker config keychain -------------------------------------------------------------


class DockerConfigKeychain:
    """Credentials from docker's ``config.json`` (or podman's ``auth.json``) and helpers.

    The lookup order is described in the module documentation. The file is parsed on the
    first :meth:`resolve` and again whenever its modification time, size or inode changes.

    Args:
        config_path: read this file instead of searching the usual places.
        environ: environment to take ``DOCKER_CONFIG``, ``HOME``, ``REGISTRY_AUTH_FILE``,
            ``XDG_RUNTIME_DIR``, ``XDG_CONFIG_HOME`` and ``DOCKER_AUTH_CONFIG`` from
            (default: :data:`os.environ`, read at each lookup). Helpers are found on, and
            run with, the process environment.
        helper_timeout: seconds a credential helper may take.
        helper_cache_ttl: seconds a helper's answer is reused; ``None`` for the keychain's
            lifetime, ``0`` to ask every time.

    Example:
        >>> keychain = DockerConfigKeychain()                           # doctest: +SKIP
        >>> keychain.resolve("ghcr.io")                                 # doctest: +SKIP
        RegistryCredential(username='alice', password=***)
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        helper_timeout: float = 30.0,
        helper_cache_ttl: float | None = None,
    ) -> None:
        self._config_path = None if config_path is None else Path(config_path)
        self._environ = environ
        self.helper_timeout = helper_timeout
        self.helper_cache_ttl = helper_cache_ttl
        self._lock = threading.Lock()
        self._config: _ConfigFile | None = None
        self._config_stamp: tuple[str, int, int, int, int] | None = None
        self._env_config: tuple[str, dict[str, RegistryCredential]] | None = None
        self._helper_cache: dict[tuple[str, str], tuple[RegistryCredential | None, float]] = {}

    def __repr__(self) -> str:
        where = "default locations" if self._config_path is None else str(self._config_path)
        return f"DockerConfigKeychain({where})"

    @property
    def config_path(self) -> Path | None:
        """The file lookups read now (``None`` when there is none); see the module docs."""
        if self._config_path is not None:
            return self._config_path
        return self._find_config(self._env())

    def clear_cache(self) -> None:
        """Forget cached helper answers and the parsed config file."""
        with self._lock:
            self._helper_cache.clear()
            self._config = self._config_stamp = None

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return the credential docker would use for ``registry``, or ``None``.

        Args:
            registry: a normalised ``host[:port]``; Docker Hub may be spelled ``docker.io``,
                ``index.docker.io`` or ``registry-1.docker.io``.

        Returns:
            The credential, or ``None`` when nothing (or only empty values) is configured.

        Raises:
            CredentialStoreError: the config file cannot be read or parsed, the matching
                ``auth`` value does not decode, or the credential helper is missing, fails,
                times out or answers garbage.
        """
        if not registry:
            return None
        env = self._env()
        key = _auth_key(registry)
        from_env = self._from_env_config(env.get("DOCKER_AUTH_CONFIG", ""), key)
        if from_env is not None:
            _log.debug("credentials: %s from DOCKER_AUTH_CONFIG", registry)
            return from_env
        config = self._load(env)
        if config is None:
            _log.debug("credentials: no credentials file; nothing for %s", registry)
            return None
        helper = config.helper_for(key)
        found = config.entry_for(key)
        if helper:
            answer = self._ask_helper(helper, key, registry, config.path)
            registry_token = _field(found[1], "registrytoken") if found else None
            if answer is None and not registry_token:
                return None
            answer = answer or ANONYMOUS
            return _credential(
                answer.username, answer.password, answer.identity_token, registry_token
            )
        if found is None:
            _log.debug("credentials: %s has no entry for %s", config.path, registry)
            return None
        _log.debug("credentials: %s from entry %r of %s", registry, found[0], config.path)
        return config.entry_credential(*found)

    # -- the file ----------------------------------------------------------------------

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _home(self, env: Mapping[str, str]) -> Path | None:
        home = env.get("USERPROFILE" if os.name == "nt" else "HOME")
        if home:
            return Path(home)
        if self._environ is not None:
            return None  # an explicit environment without a home has no home
        try:
            return Path.home()
        except RuntimeError:
            return None

    def _find_config(self, env: Mapping[str, str]) -> Path | None:
        home = self._home(env)
        docker_dir = env.get("DOCKER_CONFIG")
        home_file = home / ".docker" / "config.json" if home else None
        docker_file = Path(docker_dir) / "config.json" if docker_dir else None
        if (home_file and _is_file(home_file)) or (docker_file and _is_file(docker_file)):
            return docker_file or home_file
        auth_file = env.get("REGISTRY_AUTH_FILE")
        if auth_file and _is_file(Path(auth_file)):
            return Path(auth_file)
        runtime_dir = env.get("XDG_RUNTIME_DIR")
        if runtime_dir and _is_file(Path(runtime_dir, "containers", "auth.json")):
            return Path(runtime_dir, "containers", "auth.json")
        config_home = env.get("XDG_CONFIG_HOME") or (str(home / ".config") if home else None)
        if config_home and _is_file(Path(config_home, "containers", "auth.json")):
            return Path(config_home, "containers", "auth.json")
        return None

    def _load(self, env: Mapping[str, str]) -> _ConfigFile | None:
        path = self._config_path if self._config_path is not None else self._find_config(env)
        if path is None:
            return None
        name = str(path)
        try:
            status = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unreadable(name, exc) from exc
        stamp = (name, status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev)
        with self._lock:
            if stamp == self._config_stamp:
                return self._config
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_CONFIG_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unreadable(name, exc) from exc
        if len(data) > MAX_CONFIG_BYTES:
            raise CredentialStoreError(
                f"credentials file {name} is larger than {MAX_CONFIG_BYTES} bytes", path=name
            )
        config = _parse_config(name, data)
        _log.debug("credentials: read %s", name)
        with self._lock:
            self._config, self._config_stamp = config, stamp
            self._helper_cache.clear()  # a new login may have changed what helpers hold
        return config

    @staticmethod
    def _unreadable(name: str, exc: OSError) -> CredentialStoreError:
        return CredentialStoreError(
            f"cannot read credentials file {name}: {exc.strerror or type(exc).__name__}",
            hint="check the file's permissions, or point DOCKER_CONFIG elsewhere",
            path=name,
        )

    def _from_env_config(self, value: str, key: str) -> RegistryCredential | None:
        if not value:
            return None
        with self._lock:
            cached = self._env_config
        if cached is None or cached[0] != value:
            try:
                parsed = _parse_env_config(value)
            except ValueError as exc:
                _log.warning("credentials: ignoring DOCKER_AUTH_CONFIG, which %s", exc)
                parsed = {}
            with self._lock:
                self._env_config = cached = (value, parsed)
        return cached[1].get(key)

    # -- helpers -----------------------------------------------------------------------

    def _ask_helper(
        self, helper: str, server_url: str, registry: str, path: str
    ) -> RegistryCredential | None:
        program_name = _HELPER_PREFIX + helper
        cache_key = (helper, server_url)
        now = time.monotonic()
        with self._lock:
            cached = self._helper_cache.get(cache_key)
        if cached is not None and now < cached[1]:
            return cached[0]

        def failure(what: str, hint: str | None = None) -> CredentialStoreError:
            return CredentialStoreError(
                f"credential helper {program_name} {what} (asked for {registry}, "
                f"configured in {path})",
                hint=hint,
                helper=program_name,
                registry=registry,
                path=path,
            )

        if not helper.strip() or any(sep in helper for sep in ("/", "\\", "\x00")):
            raise failure(
                "has a name that is not a plain program name",
                hint="credHelpers and credsStore take a name like 'desktop' or 'gcloud'",
            )
        program = shutil.which(program_name)
        if program is None:
            raise failure(
                "is not installed (not found on PATH)",
                hint=f"install {program_name}, or remove it from credHelpers/credsStore in {path}",
            )
        _log.debug("credentials: asking %s for %s", program_name, server_url)
        try:
            outcome = _run_helper(program, server_url, self.helper_timeout)
        except OSError as exc:
            raise failure(f"could not be started: {exc.strerror or exc}") from exc
        if isinstance(outcome, str):
            raise failure(outcome)
        if outcome.returncode != 0:
            if _is_not_found(outcome):
                _log.debug("credentials: %s has nothing for %s", program_name, server_url)
                return None
            status = (
                f"was killed by signal {-outcome.returncode}"
                if outcome.returncode < 0
                else f"failed with exit status {outcome.returncode}"
            )
            excerpt = _excerpt(outcome)
            raise failure(f"{status}: {excerpt}" if excerpt else status)
        try:
            credential = _parse_helper_answer(outcome.stdout)
        except ValueError as exc:
            raise failure(str(exc)) from None
        if credential is not None:
            ttl = self.helper_cache_ttl
            expires = float("inf") if ttl is None else time.monotonic() + ttl
            with self._lock:
                self._helper_cache[cache_key] = (credential, expires)
        return credential
