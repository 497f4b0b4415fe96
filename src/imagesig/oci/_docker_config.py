"""Docker's ``config.json`` (or podman's ``auth.json``): which file, and what it says.

The lookup this serves is described in :mod:`imagesig.oci.credentials`; this module finds
the file, reads it (capped at :data:`MAX_CONFIG_BYTES`) and parses it the way docker's Go
code does, including ``DOCKER_AUTH_CONFIG``. It neither runs credential helpers nor builds
:class:`~imagesig.oci.credentials.RegistryCredential` objects: it hands back the entries
and decoded ``auth`` values for the keychain to turn into credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from imagesig.errors import CredentialStoreError

__all__ = [
    "DOCKER_HUB_AUTH_KEY",
    "MAX_CONFIG_BYTES",
    "ConfigFile",
    "ConfigStamp",
    "auth_key",
    "config_stamp",
    "decode_auth",
    "find_config",
    "json_field",
    "parse_config",
    "parse_env_config",
    "read_config",
    "registry_name",
]

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
"""The key docker stores Docker Hub credentials under, and the URL its helpers are asked."""

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Largest credentials file read; larger ones are refused."""

_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_ENTRY_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")

ConfigStamp: TypeAlias = tuple[str, int, int, int, int]
"""What says a file is unchanged: its name, modification time, size, inode and device."""


# -- keys -----------------------------------------------------------------------------------


def _convert_to_hostname(key: str) -> str:
    """The host part of a config key: scheme, user-info and path removed."""
    if "://" in key:
        rest = key.split("://", 1)[1]
        host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        if host:
            return host
    return key.split("/", 1)[0]


def registry_name(name: str) -> str:
    """The registry a config key names: its host, lower-cased; Docker Hub as ``docker.io``."""
    host = _convert_to_hostname(name.strip()).lower()
    return "docker.io" if host in _DOCKER_HUB_HOSTS else host


def auth_key(registry: str) -> str:
    """The key docker stores ``registry``'s credentials under."""
    return DOCKER_HUB_AUTH_KEY if registry.lower() in _DOCKER_HUB_HOSTS else registry


# -- values ---------------------------------------------------------------------------------


def json_field(entry: Mapping[str, Any], name: str) -> Any:
    """``entry[name]`` as Go's encoding/json finds it; ``None`` when absent."""
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


def decode_auth(value: str) -> tuple[str, str]:
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


# -- the file -------------------------------------------------------------------------------


@attrs.frozen
class ConfigFile:
    """A parsed credentials file: its ``auths`` entries and the helpers it configures."""

    path: str
    auths: Mapping[str, Mapping[str, Any]]
    creds_store: str
    cred_helpers: Mapping[str, str]

    def helper_for(self, key: str) -> str:
        """The helper for ``key``: ``credHelpers[key]`` when present, else ``credsStore``."""
        if key in self.cred_helpers:
            return self.cred_helpers[key]
        return self.creds_store

    def entry_for(self, key: str) -> tuple[str, Mapping[str, Any]] | None:
        """The ``auths`` entry (key as written, entry) serving ``key``, if any."""
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


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _home(env: Mapping[str, str], *, ask_os: bool) -> Path | None:
    home = env.get("USERPROFILE" if os.name == "nt" else "HOME")
    if home:
        return Path(home)
    if not ask_os:
        return None  # an explicit environment without a home has no home
    try:
        return Path.home()
    except RuntimeError:
        return None


def find_config(env: Mapping[str, str], *, ask_os: bool) -> Path | None:
    """The credentials file to read, found as docker, then podman, would find it.

    Args:
        env: the environment to take the variables from.
        ask_os: whether the operating system may supply the home directory when ``env``
            names none (``False`` for an explicitly given environment).
    """
    home = _home(env, ask_os=ask_os)
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


def _unreadable(name: str, exc: OSError) -> CredentialStoreError:
    return CredentialStoreError(
        f"cannot read credentials file {name}: {exc.strerror or type(exc).__name__}",
        hint="check the file's permissions, or point DOCKER_CONFIG elsewhere",
        path=name,
    )


def config_stamp(path: Path) -> ConfigStamp | None:
    """Stat ``path`` for :class:`ConfigStamp`; ``None`` when it does not exist.

    Raises:
        CredentialStoreError: the file cannot be stat'ed.
    """
    name = str(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    return (name, status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev)


def read_config(path: Path) -> ConfigFile | None:
    """Read and parse ``path``; ``None`` when it does not exist.

    Raises:
        CredentialStoreError: the file cannot be read, is larger than
            :data:`MAX_CONFIG_BYTES` or does not parse.
    """
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise CredentialStoreError(
            f"credentials file {name} is larger than {MAX_CONFIG_BYTES} bytes", path=name
        )
    return parse_config(name, data)


def parse_config(path: str, data: bytes) -> ConfigFile:
    """Parse a credentials file's bytes as docker does.

    Raises:
        CredentialStoreError: the bytes are not a config document docker would accept.
    """

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
    auths = _or(json_field(document, "auths"), {})
    creds_store = _or(json_field(document, "credsStore"), "")
    cred_helpers = _or(json_field(document, "credHelpers"), {})
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
            isinstance(json_field(entry, f), (str, type(None))) for f in _ENTRY_FIELDS
        ):
            raise broken(f"has an entry for {name!r} that is not an object of strings")
        entries[name] = entry
    return ConfigFile(path, entries, creds_store, dict(cred_helpers))


def parse_env_config(value: str) -> dict[str, tuple[str, str]]:
    """``DOCKER_AUTH_CONFIG`` as docker reads it: key → ``(username, password)``.

    Raises:
        ValueError: docker would refuse the value (the message names no secret).
    """
    try:
        document = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError("is not valid JSON") from None
    if not isinstance(document, dict) or any(k.lower() != "auths" for k in document):
        raise ValueError('must be {"auths": {...}} and nothing else')
    auths = _or(json_field(document, "auths"), {})
    if not isinstance(auths, dict):
        raise ValueError("has an 'auths' that is not an object")
    result: dict[str, tuple[str, str]] = {}
    for name, entry in auths.items():
        if not isinstance(entry, dict) or any(k.lower() != "auth" for k in entry):
            raise ValueError(f"entry {name!r} may only hold 'auth'")
        auth = json_field(entry, "auth")
        if not isinstance(auth, str) or not auth:
            raise ValueError(f"entry {name!r} has no 'auth'")
        try:
            result[name] = decode_auth(auth)
        except ValueError as exc:
            raise ValueError(f"entry {name!r}: 'auth' {exc}") from None
    return result
