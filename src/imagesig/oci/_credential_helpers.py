"""The docker credential-helper protocol, client side: ``docker-credential-<name> get``.

A helper is run with ``get`` as its argument and the server URL on stdin, and answers
``{"ServerURL", "Username", "Secret"}`` on stdout; a user name of ``<token>`` marks the
secret as an identity token. This follows the client of docker/docker-credential-helpers
and docker/cli's ``native_store.go``. :mod:`imagesig.oci.credentials` decides *which*
helper to ask; this module asks it and remembers the answer.

Each run is bounded: the helper must answer within a timeout, and at most
:data:`MAX_HELPER_OUTPUT_BYTES` are read from its stdout (and, separately, its stderr).
A helper that is missing, fails, times out, writes too much or answers garbage raises
:class:`~imagesig.errors.CredentialStoreError`, whose message quotes its output only when
that cannot be a credentials document, and never its secret. Its "credentials not found in
native keychain" answer (:data:`CREDENTIALS_NOT_FOUND_MESSAGE`) is ``None``. Helpers are
never asked to store or erase anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable

import attrs

from imagesig.errors import CredentialStoreError
from imagesig.oci._docker_config import json_field

__all__ = [
    "CREDENTIALS_NOT_FOUND_MESSAGE",
    "MAX_HELPER_OUTPUT_BYTES",
    "CredentialHelpers",
    "HelperCredential",
]

# Logged under the public module's name, where credential decisions are looked for.
_log = logging.getLogger("imagesig.oci.credentials")

MAX_HELPER_OUTPUT_BYTES = 1024 * 1024
"""Most bytes read from a credential helper's stdout (and, separately, its stderr)."""

CREDENTIALS_NOT_FOUND_MESSAGE = "credentials not found in native keychain"
"""What a helper prints (and exits non-zero) when it has nothing for the server URL."""

_TOKEN_USERNAME = "<token>"  # noqa: S105 - the marker, not a secret
_HELPER_PREFIX = "docker-credential-"
_EXCERPT_CHARS = 200
_READ_CHUNK = 65536


@attrs.frozen
class HelperCredential:
    """A helper's answer in docker's terms; empty strings are ``None``, secrets not shown."""

    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    identity_token: str | None = attrs.field(default=None, repr=False)


class CredentialHelpers:
    """Runs credential helpers and caches their answers per ``(helper, server URL)``.

    Only answers that hold a credential are cached; "not found" is asked again next time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[HelperCredential, float]] = {}

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._answers.clear()

    def get(
        self,
        helper: str,
        server_url: str,
        *,
        registry: str,
        path: str,
        timeout: float,
        cache_ttl: float | None,
    ) -> HelperCredential | None:
        """Return what ``docker-credential-<helper> get`` holds for ``server_url``.

        Args:
            helper: the helper's name, as in ``credHelpers`` or ``credsStore``.
            server_url: what the helper is asked for (the config key).
            registry: the registry the credential is for (for error messages).
            path: the config file that named the helper (for error messages).
            timeout: seconds the helper may take.
            cache_ttl: seconds the answer is reused; ``None`` for ever, ``0`` not at all.

        Returns:
            The credential, or ``None`` when the helper has nothing (or only empty values).

        Raises:
            CredentialStoreError: the helper is missing, fails, times out, writes too much
                or answers garbage.
        """
        program_name = _HELPER_PREFIX + helper
        cache_key = (helper, server_url)
        now = time.monotonic()
        with self._lock:
            cached = self._answers.get(cache_key)
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
            outcome = _run_helper(program, server_url, timeout)
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
            expires = float("inf") if cache_ttl is None else time.monotonic() + cache_ttl
            with self._lock:
                self._answers[cache_key] = (credential, expires)
        return credential


# -- one run --------------------------------------------------------------------------------


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


# -- its answer -----------------------------------------------------------------------------


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
        if isinstance(document, dict) and isinstance(json_field(document, "Secret"), str):
            secret = json_field(document, "Secret")
        stdout = ""
    text = " ".join((stdout or stderr).split())
    if secret:
        text = text.replace(secret, "***")
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return text


def _parse_helper_answer(stdout: bytes) -> HelperCredential | None:
    """Parse ``{"ServerURL","Username","Secret"}``; ``ValueError`` (without content) if bad."""
    try:
        text = stdout.decode("utf-8").strip()
        document = json.JSONDecoder().raw_decode(text)[0]
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("answered with something that is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("answered with JSON that is not an object")
    username, secret = json_field(document, "Username"), json_field(document, "Secret")
    if not isinstance(username, (str, type(None))) or not isinstance(secret, (str, type(None))):
        raise ValueError("answered with a Username or Secret that is not a string")
    # Docker treats "" as "not set"; an answer with nothing set is no answer.
    if username == _TOKEN_USERNAME:
        credential = HelperCredential(identity_token=secret or None)
    else:
        credential = HelperCredential(username=username or None, password=secret or None)
    if not (credential.username or credential.password or credential.identity_token):
        return None
    return credential
