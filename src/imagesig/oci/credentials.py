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

import fnmatch
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from imagesig.errors import CredentialStoreError
from imagesig.oci._credential_helpers import (
    CREDENTIALS_NOT_FOUND_MESSAGE,
    MAX_HELPER_OUTPUT_BYTES,
    CredentialHelpers,
)
from imagesig.oci._docker_config import (
    DOCKER_HUB_AUTH_KEY,
    MAX_CONFIG_BYTES,
    ConfigFile,
    ConfigStamp,
    auth_key,
    config_stamp,
    decode_auth,
    find_config,
    json_field,
    parse_env_config,
    read_config,
    registry_name,
)

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

GOOGLE_REGISTRY_HOSTS = ("gcr.io", "*.gcr.io", "*.pkg.dev")
"""Host patterns of Container Registry and Artifact Registry, for :class:`CallableKeychain`."""

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
            registry = registry_name(key)
            if registry in self._credentials:
                raise ValueError(f"StaticKeychain: {key!r} names a registry given twice")
            self._credentials[registry] = _as_credential(key, value)

    def resolve(self, registry: str) -> RegistryCredential | None:
        """Return the credential given for ``registry``, or ``None``.

        Args:
            registry: a normalised ``host[:port]``.
        """
        return self._credentials.get(registry_name(registry))

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
        self._config: ConfigFile | None = None
        self._config_stamp: ConfigStamp | None = None
        self._env_config: tuple[str, dict[str, RegistryCredential]] | None = None
        self._helpers = CredentialHelpers()

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
            self._helpers.clear()
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
        key = auth_key(registry)
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
            answer = self._helpers.get(
                helper,
                key,
                registry=registry,
                path=config.path,
                timeout=self.helper_timeout,
                cache_ttl=self.helper_cache_ttl,
            )
            registry_token = json_field(found[1], "registrytoken") if found else None
            if answer is None:
                return _credential(registry_token=registry_token)
            return _credential(
                answer.username, answer.password, answer.identity_token, registry_token
            )
        if found is None:
            _log.debug("credentials: %s has no entry for %s", config.path, registry)
            return None
        _log.debug("credentials: %s from entry %r of %s", registry, found[0], config.path)
        return _entry_credential(config.path, *found)

    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _find_config(self, env: Mapping[str, str]) -> Path | None:
        # Only the process environment may fall back on the operating system's home.
        return find_config(env, ask_os=self._environ is None)

    def _load(self, env: Mapping[str, str]) -> ConfigFile | None:
        path = self._config_path if self._config_path is not None else self._find_config(env)
        if path is None:
            return None
        stamp = config_stamp(path)
        if stamp is None:
            return None
        with self._lock:
            if stamp == self._config_stamp:
                return self._config
        config = read_config(path)
        if config is None:
            return None
        _log.debug("credentials: read %s", config.path)
        with self._lock:
            self._config, self._config_stamp = config, stamp
            self._helpers.clear()  # a new login may have changed what helpers hold
        return config

    def _from_env_config(self, value: str, key: str) -> RegistryCredential | None:
        if not value:
            return None
        with self._lock:
            cached = self._env_config
        if cached is None or cached[0] != value:
            try:
                parsed = {
                    name: RegistryCredential(username=username, password=password or None)
                    for name, (username, password) in parse_env_config(value).items()
                }
            except ValueError as exc:
                _log.warning("credentials: ignoring DOCKER_AUTH_CONFIG, which %s", exc)
                parsed = {}
            with self._lock:
                self._env_config = cached = (value, parsed)
        return cached[1].get(key)


def _entry_credential(path: str, name: str, entry: Mapping[str, Any]) -> RegistryCredential | None:
    """The credential an ``auths`` entry holds: ``auth``, when set, replaces the fields."""
    username, password = json_field(entry, "username"), json_field(entry, "password")
    auth = json_field(entry, "auth")
    if auth:
        try:
            username, password = decode_auth(auth)
        except ValueError as exc:
            raise CredentialStoreError(
                f"the 'auth' value for {name!r} in {path} {exc}",
                hint=f"log in again (docker login) or fix the entry for {name!r}",
                path=path,
                registry=name,
            ) from None
    return _credential(
        username,
        password,
        json_field(entry, "identitytoken"),
        json_field(entry, "registrytoken"),
    )
