"""cosign's encrypted private-key files (``cosign.key``) and key-pair writing.

A cosign private key is one PEM block labelled ``ENCRYPTED SIGSTORE PRIVATE KEY`` (what
cosign writes today) or ``ENCRYPTED COSIGN PRIVATE KEY`` (older cosign; read, and written
only on request). Its body is compact JSON, the envelope of go-securesystemslib's
``encrypted`` package, with its fields in this order::

    {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<base64, 32 bytes>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<base64, 24 bytes>"},
     "ciphertext":"<base64>"}

(on one line; base64 is the standard alphabet with padding). The secretbox key is
``scrypt(password, salt, N, r, p, 32 bytes)`` and the ciphertext is NaCl secretbox
(XSalsa20-Poly1305): the 16-byte Poly1305 tag, then the encrypted plaintext. The plaintext
is the private key in PKCS#8 DER.

Reading accepts exactly the scrypt parameters go-securesystemslib's ``CheckParams``
accepts, ``(N, r, p)`` in {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}, and refuses any
other before deriving a key, so a file asking for ``N = 2**30`` fails at once instead of
allocating a terabyte. Like cosign, a plaintext that is not PKCS#8 (an SEC1
``EC PRIVATE KEY`` or a PKCS#1 ``RSA PRIVATE KEY``) is refused even when the password is
right. Writing uses N = 65536, r = 8, p = 1, a fresh 32-byte salt and 24-byte nonce.

:func:`write_key_pair` writes ``cosign.key`` (mode 0600) and ``cosign.pub`` (mode 0644
before the umask, the SPKI PEM) as ``cosign generate-key-pair`` does.

This follows sigstore/cosign ``pkg/cosign/keys.go`` (``LoadPrivateKey``,
``marshalKeyPair``) and secure-systems-lab/go-securesystemslib ``encrypted/encrypted.go``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from imagesig.errors import (
    ImageSigError,
    InvalidPasswordError,
    KeyFileExistsError,
    KeyFormatError,
    SignerError,
    UnsupportedAlgorithmError,
)
from imagesig.signers._password import PasswordSource, resolve_password
from imagesig.signers._pem import describe_source, encode_pem, first_pem_block
from imagesig.signers.base import SupportedPrivateKey, narrow_private_key

if TYPE_CHECKING:
    from imagesig.signers.local import LocalSigner

__all__ = [
    "ACCEPTED_SCRYPT_PARAMETERS",
    "COSIGN_PRIVATE_KEY_LABEL",
    "DEFAULT_SCRYPT_N",
    "SIGSTORE_PRIVATE_KEY_LABEL",
    "decrypt_private_key",
    "encrypt_private_key",
    "is_cosign_private_key",
    "write_key_pair",
]

#: The label cosign writes.
SIGSTORE_PRIVATE_KEY_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
#: The label older cosign wrote; still read.
COSIGN_PRIVATE_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
_LABELS = (SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL)

#: ``(N, r, p)`` triples a key file may use (go-securesystemslib's legacy, standard, OWASP).
ACCEPTED_SCRYPT_PARAMETERS = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
#: The scrypt cost written to new key files (go-securesystemslib's ``Standard``).
DEFAULT_SCRYPT_N = 65536
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 32
_NONCE_BYTES = 24
_BOX_KEY_BYTES = 32
_BOX_TAG_BYTES = 16
_KDF_NAME = "scrypt"
_CIPHER_NAME = "nacl/secretbox"


def is_cosign_private_key(data: bytes | str) -> bool:
    """Tell whether the first PEM block of ``data`` is a cosign encrypted private key.

    Args:
        data: PEM text.

    Returns:
        ``True`` for either cosign label; ``False`` otherwise, including for text with no
        PEM block.
    """
    try:
        return first_pem_block(data).label in _LABELS
    except ImageSigError:  # no PEM block, bad base64, over the size cap
        return False


def encrypt_private_key(
    private_key: SupportedPrivateKey,
    password: bytes | str,
    *,
    label: str = SIGSTORE_PRIVATE_KEY_LABEL,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> bytes:
    """Encrypt ``private_key`` into the PEM text of a cosign key file.

    Args:
        private_key: an ECDSA, RSA or Ed25519 private key.
        password: the password; the empty password is allowed, as in cosign.
        label: :data:`SIGSTORE_PRIVATE_KEY_LABEL` (default) or
            :data:`COSIGN_PRIVATE_KEY_LABEL`.
        scrypt_n: the scrypt cost; one of the ``N`` in :data:`ACCEPTED_SCRYPT_PARAMETERS`.

    Returns:
        The PEM file contents, byte-compatible with ``cosign generate-key-pair``.

    Raises:
        UnsupportedAlgorithmError: the key is not supported, or ``scrypt_n`` is not accepted.
        KeyFormatError: ``label`` is not a cosign label.
    """
    if label not in _LABELS:
        raise KeyFormatError(f"{label!r} is not a cosign private-key label")
    if (scrypt_n, _SCRYPT_R, _SCRYPT_P) not in ACCEPTED_SCRYPT_PARAMETERS:
        raise UnsupportedAlgorithmError(
            f"scrypt N={scrypt_n} is not accepted by cosign; use 32768, 65536 or 131072"
        )
    key = narrow_private_key(private_key)
    plaintext = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    from nacl.secret import SecretBox  # noqa: PLC0415 - libsodium loads only when needed

    salt = secrets.token_bytes(_SALT_BYTES)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    box_key = _derive(_password_bytes(password), salt, scrypt_n, _SCRYPT_R, _SCRYPT_P)
    ciphertext = SecretBox(box_key).encrypt(plaintext, nonce).ciphertext
    envelope = {
        "kdf": {
            "name": _KDF_NAME,
            "params": {"N": scrypt_n, "r": _SCRYPT_R, "p": _SCRYPT_P},
            "salt": _b64(salt),
        },
        "cipher": {"name": _CIPHER_NAME, "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }
    return encode_pem(label, json.dumps(envelope, separators=(",", ":")).encode("ascii"))


def decrypt_private_key(
    data: bytes | str, password: bytes | str, *, source: str | None = None
) -> SupportedPrivateKey:
    """Decrypt a cosign key file.

    Args:
        data: the PEM text of the file.
        password: its password.
        source: the file name, for messages.

    Returns:
        The private key.

    Raises:
        KeyFormatError: not a cosign key, a malformed envelope, scrypt parameters cosign
            refuses, or a plaintext that is not PKCS#8.
        InvalidPasswordError: the password is wrong (or the ciphertext was altered).
        UnsupportedAlgorithmError: the key type, curve or RSA size is not supported.
        SizeLimitExceededError: ``data`` is implausibly large for a key.
    """
    block = first_pem_block(data, source=source)
    where = describe_source(source)
    if block.label not in _LABELS:
        raise KeyFormatError(
            f"{where} is not an encrypted cosign private key (its PEM label is {block.label!r})",
            key=source,
        )
    plaintext = _open(block.der, _password_bytes(password), where, source)
    return _load_pkcs8(plaintext, where, source)


def write_key_pair(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    signer: LocalSigner,
    password: PasswordSource,
    *,
    overwrite: bool = False,
) -> None:
    """Write ``signer``'s key as ``cosign.key`` and ``cosign.pub`` files.

    The private file is created with mode 0600 (enforced even when it is overwritten), the
    public one with 0644 less the umask, as cosign does. Without ``overwrite`` neither file
    may exist already; the check and the creation are one atomic step for each file.

    Args:
        private_path: where the encrypted private key goes (cosign's ``cosign.key``).
        public_path: where the SPKI PEM public key goes (``cosign.pub``).
        signer: the key to write.
        password: the password, resolved like :class:`~imagesig.signers.LocalSigner`'s
            (value, callback, then ``COSIGN_PASSWORD``); empty is allowed.
        overwrite: replace existing files.

    Raises:
        KeyFileExistsError: a file exists and ``overwrite`` is false.
        PasswordRequiredError: no password was given and ``COSIGN_PASSWORD`` is not set.
        SignerError: a file cannot be written.
    """
    private_name = os.fspath(private_path)
    public_name = os.fspath(public_path)
    if not overwrite:
        for name in (private_name, public_name):
            if os.path.lexists(name):
                raise KeyFileExistsError(
                    f"key file '{name}' already exists",
                    hint="choose another name or allow overwriting",
                    key=name,
                )
    private_pem = signer.to_cosign_key(
        resolve_password(password, source=private_name, for_writing=True)
    )
    _write(private_name, private_pem, 0o600, overwrite=overwrite, enforce_mode=True)
    _write(public_name, signer.public_key().pem, 0o644, overwrite=overwrite, enforce_mode=False)


def _write(name: str, content: bytes, mode: int, *, overwrite: bool, enforce_mode: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    if not overwrite:
        flags |= os.O_EXCL
    try:
        descriptor = os.open(name, flags, mode)
    except FileExistsError as exc:
        raise KeyFileExistsError(f"key file '{name}' already exists", key=name) from exc
    except OSError as exc:
        raise SignerError(
            f"cannot write key file '{name}': {exc.strerror or exc}", key=name
        ) from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if enforce_mode and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            handle.write(content)
    except OSError as exc:
        raise SignerError(
            f"cannot write key file '{name}': {exc.strerror or exc}", key=name
        ) from exc


def _open(envelope_bytes: bytes, password: bytes, where: str, source: str | None) -> bytes:
    """Check the envelope, derive the key and open the secretbox."""
    try:
        envelope = json.loads(envelope_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFormatError(f"{where} does not hold a JSON key envelope", key=source) from exc
    kdf = _member(envelope, "kdf", dict, where, source)
    cipher = _member(envelope, "cipher", dict, where, source)
    if kdf.get("name") != _KDF_NAME:
        raise KeyFormatError(
            f"{where} uses key derivation {kdf.get('name')!r}; only scrypt is supported",
            key=source,
        )
    if cipher.get("name") != _CIPHER_NAME:
        raise KeyFormatError(
            f"{where} uses cipher {cipher.get('name')!r}; only nacl/secretbox is supported",
            key=source,
        )
    params = _member(kdf, "params", dict, where, source)
    n, r, p = (params.get(name) for name in ("N", "r", "p"))
    if not all(type(value) is int for value in (n, r, p)) or (
        (n, r, p) not in ACCEPTED_SCRYPT_PARAMETERS
    ):
        raise KeyFormatError(
            f"{where} asks for scrypt parameters N={n!r}, r={r!r}, p={p!r}; cosign accepts "
            "only N=32768, 65536 or 131072 with r=8, p=1",
            key=source,
        )
    assert isinstance(n, int)
    assert isinstance(r, int)
    assert isinstance(p, int)
    salt = _b64_member(kdf, "salt", where, source)
    nonce = _b64_member(cipher, "nonce", where, source)
    ciphertext = _b64_member(envelope, "ciphertext", where, source)
    if len(nonce) != _NONCE_BYTES:
        raise KeyFormatError(
            f"{where} has a {len(nonce)}-byte nonce; secretbox needs {_NONCE_BYTES}", key=source
        )
    if len(ciphertext) < _BOX_TAG_BYTES:
        raise KeyFormatError(f"{where} has a truncated ciphertext", key=source)

    from nacl.exceptions import CryptoError  # noqa: PLC0415 - libsodium loads only when needed
    from nacl.secret import SecretBox  # noqa: PLC0415

    box_key = _derive(password, salt, n, r, p)
    try:
        return SecretBox(box_key).decrypt(ciphertext, nonce)
    except CryptoError:
        raise InvalidPasswordError(
            f"wrong password for {where} (or the key file was altered)", key=source
        ) from None


def _load_pkcs8(plaintext: bytes, where: str, source: str | None) -> SupportedPrivateKey:
    kind = _der_private_key_kind(plaintext)
    if kind != "PKCS#8":
        raise KeyFormatError(
            f"{where} decrypts to {kind}, not a PKCS#8 private key; cosign refuses such keys too",
            hint="re-import the key so that it is stored as PKCS#8 "
            "(cosign import-key-pair does this)",
            key=source,
        )
    try:
        raw = serialization.load_der_private_key(plaintext, password=None)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedAlgorithmError(
            f"{where} holds a private key of an unsupported type", key=source
        ) from exc
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"{where} decrypts to a damaged PKCS#8 key", key=source) from exc
    return narrow_private_key(raw, source=source)


def _der_private_key_kind(der: bytes) -> str:
    """Name the structure of a DER private key from its first fields.

    PKCS#8 is SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key ... }; SEC1
    has an OCTET STRING second, PKCS#1 an INTEGER. Only the tags are looked at here;
    ``cryptography`` parses the rest.
    """
    try:
        tag, start, end = _tlv(der, 0)
        if tag != 0x30 or end != len(der):
            return "data that is not a DER private key"
        tag, _, end = _tlv(der, start)
        if tag != 0x02:
            return "data that is not a DER private key"
        second, _, _ = _tlv(der, end)
    except IndexError:
        return "data that is not a DER private key"
    return {
        0x30: "PKCS#8",
        0x04: "an SEC1 'EC PRIVATE KEY'",
        0x02: "a PKCS#1 'RSA PRIVATE KEY'",
    }.get(second, "data that is not a DER private key")


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, value start, value end) of the element at ``pos``; IndexError if cut."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(der):
            raise IndexError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise IndexError("DER element runs past the end")
    return tag, pos, pos + length


def _member(obj: Any, name: str, kind: type, where: str, source: str | None) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise KeyFormatError(f"{where} has no valid {name!r} in its key envelope", key=source)
    return value


def _b64_member(obj: dict[str, Any], name: str, where: str, source: str | None) -> bytes:
    text = _member(obj, name, str, where, source)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(
            f"{where} has a {name!r} that is not base64 in its key envelope", key=source
        ) from exc


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=_BOX_KEY_BYTES, n=n, r=r, p=p).derive(password)


def _password_bytes(password: bytes | str) -> bytes:
    return password.encode("utf-8") if isinstance(password, str) else password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
