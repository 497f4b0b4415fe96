"""PEM blocks and key files, read the way Go's ``encoding/pem`` reads them.

cosign and sigstore decode only the *first* PEM block of a key file and ignore any text
around it; the label decides the format. :func:`first_pem_block` does the same, and
:func:`encode_pem` writes a block byte for byte as Go's ``pem.EncodeToMemory`` does (64
base64 characters a line, ``\\n`` line ends).
"""

from __future__ import annotations

import base64
import binascii
import os
import re

import attrs

from imagesig.errors import KeyFormatError, SignerError, SizeLimitExceededError

__all__ = ["MAX_KEY_FILE_BYTES", "PemBlock", "encode_pem", "first_pem_block", "read_key_file"]

#: The largest key file read; an RSA-4096 private key in PEM is about 3.3 KiB.
MAX_KEY_FILE_BYTES = 1024 * 1024

_BLOCK = re.compile(
    r"^-----BEGIN (?P<label>[^\r\n]*?)-----[ \t]*\r?\n(?P<body>.*?)^-----END (?P=label)-----",
    re.MULTILINE | re.DOTALL,
)
_WHITESPACE = re.compile(r"[ \t\r\n]+")


@attrs.frozen
class PemBlock:
    """One decoded PEM block.

    Attributes:
        label: the text between ``-----BEGIN `` and ``-----`` (``"PUBLIC KEY"``...).
        headers: RFC 1421 headers (``Proc-Type``, ``DEK-Info``) in file order.
        der: the decoded body.
    """

    label: str
    headers: tuple[tuple[str, str], ...]
    der: bytes

    @property
    def encrypted(self) -> bool:
        """Whether the block is an encrypted key: an ``ENCRYPTED ...`` label or an
        OpenSSL ``Proc-Type: 4,ENCRYPTED`` header."""
        if self.label.startswith("ENCRYPTED"):
            return True
        return any(
            name == "Proc-Type" and "ENCRYPTED" in value.upper() for name, value in self.headers
        )

    def to_pem(self) -> bytes:
        """Encode the block again, headers included."""
        return encode_pem(self.label, self.der, headers=self.headers)


def describe_source(source: str | None) -> str:
    """Return how messages name key material: ``"'cosign.key'"`` or ``"the key data"``."""
    return f"'{source}'" if source else "the key data"


def first_pem_block(data: bytes | str, *, source: str | None = None) -> PemBlock:
    """Decode the first PEM block in ``data``, ignoring text before and after it.

    Args:
        data: PEM text.
        source: the file name, for messages.

    Returns:
        The block's label, headers and decoded body.

    Raises:
        KeyFormatError: there is no complete PEM block, or its body is not base64.
        SizeLimitExceededError: ``data`` is larger than :data:`MAX_KEY_FILE_BYTES`.
    """
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SizeLimitExceededError(
            f"{describe_source(source)} is larger than {MAX_KEY_FILE_BYTES} bytes; "
            "it is not a key file",
            key=source,
        )
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    match = _BLOCK.search(text)
    if match is None:
        raise KeyFormatError(f"no PEM block found in {describe_source(source)}", key=source)
    label = match["label"]
    lines = match["body"].splitlines()
    headers: list[tuple[str, str]] = []
    while lines and ":" in lines[0]:
        name, _, value = lines.pop(0).partition(":")
        headers.append((name.strip(), value.strip()))
    try:
        der = base64.b64decode(_WHITESPACE.sub("", "".join(lines)), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(
            f"the {label} PEM block in {describe_source(source)} is not valid base64",
            key=source,
        ) from exc
    return PemBlock(label=label, headers=tuple(headers), der=der)


def encode_pem(label: str, der: bytes, *, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Encode ``der`` as one PEM block exactly as Go's ``pem.EncodeToMemory`` writes it.

    Args:
        label: the block label, e.g. ``"PUBLIC KEY"``.
        der: the bytes to encode.
        headers: RFC 1421 headers, written before a blank line.

    Returns:
        ``-----BEGIN label-----``, the base64 body in 64-character lines and
        ``-----END label-----``, each line ending in ``\\n``.
    """
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    text = "".join(f"{line}\n" for line in lines)
    if headers:
        text = "".join(f"{name}: {value}\n" for name, value in headers) + "\n" + text
    return f"-----BEGIN {label}-----\n{text}-----END {label}-----\n".encode("ascii")


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """Read a key file of at most :data:`MAX_KEY_FILE_BYTES`.

    Args:
        path: the file to read.

    Returns:
        Its bytes.

    Raises:
        SignerError: the file cannot be read.
        SizeLimitExceededError: the file is larger than :data:`MAX_KEY_FILE_BYTES`.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise SignerError(
            f"cannot read key file '{name}': {exc.strerror or exc}", key=name
        ) from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SizeLimitExceededError(
            f"key file '{name}' is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a key file",
            key=name,
        )
    return data
