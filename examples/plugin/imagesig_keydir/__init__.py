"""imagesig-keydir: sign with keys kept in a directory, named ``keydir://NAME``.

A complete signer plugin in one module. imagesig finds it through the entry point in
``pyproject.toml`` (group ``imagesig.signers``, name ``keydir``), imports this module the
first time a ``keydir://`` reference is used, and calls :data:`provider`'s factories:

* ``provider.signer("keydir://release", **options)`` -> :class:`KeyDirSigner`, which signs
  with ``release.key`` (any key file imagesig reads: cosign's, PKCS#8, SEC1, PKCS#1);
* ``provider.verifier("keydir://release", **options)`` -> the ``release.pub`` public key,
  without touching the private key.

The async twins are left to imagesig, which runs this sync signer in a worker thread.

Options (passed through ``signer_from_uri(reference, **options)``): ``directory`` (else
``$IMAGESIG_KEYDIR``) and ``password`` (for an encrypted key; else ``COSIGN_PASSWORD``).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from imagesig.errors import KeyFormatError, SignerError
from imagesig.signers import (
    LocalSigner,
    PasswordSource,
    PublicKey,
    SignatureAlgorithm,
    SignerProvider,
    write_key_pair,
)

__all__ = ["DIRECTORY_ENV_VAR", "SCHEME", "KeyDirSigner", "generate", "provider"]

SCHEME = "keydir"
#: Where keys live when no ``directory=`` option is given.
DIRECTORY_ENV_VAR = "IMAGESIG_KEYDIR"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _locate(reference: str, directory: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """Split ``keydir://NAME`` into the key name and the directory holding it."""
    prefix = f"{SCHEME}://"
    if not reference.lower().startswith(prefix):
        raise KeyFormatError(f"{reference!r} is not a {prefix}NAME reference", key=reference)
    name = reference[len(prefix) :]
    if not _NAME.fullmatch(name):  # no "/" or "..": a name never leaves the directory
        raise KeyFormatError(
            f"{reference!r}: key names are letters, digits, '_', '.' and '-'", key=reference
        )
    where = directory if directory is not None else os.environ.get(DIRECTORY_ENV_VAR)
    if not where:
        raise SignerError(
            f"no key directory for {reference}",
            hint=f"pass directory=... or set {DIRECTORY_ENV_VAR}",
            key=reference,
        )
    return name, Path(where)


class KeyDirSigner:
    """Sign with ``NAME.key`` from a key directory; the key is read on first use.

    Args:
        reference: ``keydir://NAME``.
        directory: the key directory (default ``$IMAGESIG_KEYDIR``).
        password: for an encrypted key: a value or a callback (default ``COSIGN_PASSWORD``).
        algorithm: how to sign, when not the key's default.
    """

    def __init__(
        self,
        reference: str,
        *,
        directory: str | os.PathLike[str] | None = None,
        password: PasswordSource = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> None:
        key_name, folder = _locate(reference, directory)
        self._path = folder / f"{key_name}.key"
        self._name = f"{SCHEME}://{key_name}"
        self._password = password
        self._algorithm = algorithm
        self._signer: LocalSigner | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> LocalSigner:
        with self._lock:
            if self._signer is None:
                self._signer = LocalSigner.from_file(
                    self._path, self._password, algorithm=self._algorithm
                )
            return self._signer

    @property
    def name(self) -> str:
        """``keydir://NAME``: what messages show (never the password)."""
        return self._name

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The algorithm :meth:`sign` uses."""
        return self._loaded().algorithm

    def public_key(self) -> PublicKey:
        """The public key of ``NAME.key``."""
        return self._loaded().public_key()

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the message, not a digest)."""
        return self._loaded().sign(data)


def _verifier(
    reference: str,
    *,
    directory: str | os.PathLike[str] | None = None,
    algorithm: SignatureAlgorithm | None = None,
) -> PublicKey:
    key_name, folder = _locate(reference, directory)
    return PublicKey.from_file(folder / f"{key_name}.pub", algorithm=algorithm)


#: What the entry point names: a factory for signers plus a verify-only factory.
provider = SignerProvider(signer=KeyDirSigner, verifier=_verifier)


def generate(
    name: str,
    directory: str | os.PathLike[str],
    *,
    password: bytes | str = b"",
    algorithm: SignatureAlgorithm = SignatureAlgorithm.ECDSA_P256_SHA256,
) -> PublicKey:
    """Create ``NAME.key`` (cosign format) and ``NAME.pub`` in ``directory``.

    Args:
        name: the key name (letters, digits, ``_ . -``).
        directory: the key directory; created when missing.
        password: encrypts the private key (empty by default, as ``COSIGN_PASSWORD=""``).
        algorithm: the key's algorithm.

    Returns:
        The new public key.
    """
    _locate(f"{SCHEME}://{name}", directory)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    signer = LocalSigner.generate(algorithm)
    write_key_pair(folder / f"{name}.key", folder / f"{name}.pub", signer, password=password)
    return signer.public_key()
