"""Rekor v1 entry bodies: the exact bytes Rekor stores, and the entries a client submits.

The *body* is the canonical entry JSON Rekor stored and hashed into its tree. The builders
:func:`hashedrekord_body` and :func:`dsse_body` reproduce Rekor's bytes exactly: RFC 8785
JSON, keys and certificates re-encoded as standard PEM (Rekor's ``CanonicalValue``), DSSE
signatures sorted by their base64 text. :func:`hashedrekord_proposed_entry` and
:func:`dsse_proposed_entry` build what a client submits. :func:`parse_body` reads a body
back, refusing one larger than :data:`MAX_BODY_BYTES`.

Everything here is also importable from :mod:`imagesig.tlog.entries`, whose
:class:`~imagesig.tlog.entries.LogEntry` carries a body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import rfc8785
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from imagesig.tlog._entry_json import b64text, json_object, load_json, text_field

__all__ = [
    "MAX_BODY_BYTES",
    "EntryBody",
    "canonical_pem",
    "decode_pem_blocks",
    "dsse_body",
    "dsse_proposed_entry",
    "hashedrekord_body",
    "hashedrekord_proposed_entry",
    "parse_body",
]

MAX_BODY_BYTES = 128 * 1024
"""Largest entry body accepted (a hashedrekord with a certificate is about 3 KiB)."""

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----\r?\n?"
)
_HEX_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@attrs.frozen
class EntryBody:
    """A parsed entry body: ``{"apiVersion", "kind", "spec"}``.

    Attributes:
        kind: ``hashedrekord``, ``dsse``, ``intoto``...
        api_version: ``0.0.1``...
        spec: the kind-specific content, as parsed JSON.
    """

    kind: str
    api_version: str
    spec: Mapping[str, Any]


def parse_body(body: bytes) -> EntryBody:
    """Parse a canonical entry body (bounded; duplicate keys refused).

    Raises:
        SizeLimitExceededError: the body is larger than :data:`MAX_BODY_BYTES`.
        TransparencyLogError: it is not an entry body (``check="entry-format"``).
    """
    document = json_object(load_json(body, "entry body", MAX_BODY_BYTES), "entry body")
    return EntryBody(
        kind=text_field(document.get("kind"), "body.kind"),
        api_version=text_field(document.get("apiVersion"), "body.apiVersion"),
        spec=json_object(document.get("spec"), "body.spec"),
    )


def decode_pem_blocks(data: bytes) -> tuple[tuple[str, bytes], ...]:
    """Split PEM text into ``(label, DER)`` pairs; nothing but blocks and white space allowed.

    Raises:
        ValueError: the text is not a sequence of PEM blocks.
    """
    blocks: list[tuple[str, bytes]] = []
    position = 0
    text = data.strip()
    while position < len(text):
        match = _PEM_BLOCK.match(text, position)
        if match is None:
            raise ValueError("not a sequence of PEM blocks")
        try:
            der = base64.b64decode(re.sub(rb"\s", b"", match.group(2)), validate=True)
        except binascii.Error as exc:
            raise ValueError("PEM block is not valid base64") from exc
        blocks.append((match.group(1).decode("ascii"), der))
        position = match.end()
        while position < len(text) and text[position : position + 1].isspace():
            position += 1
    if not blocks:
        raise ValueError("no PEM block found")
    return tuple(blocks)


def canonical_pem(pem: bytes) -> bytes:
    """Re-encode a PEM public key or certificate(s) the way Rekor stores it.

    Rekor keeps the ``CanonicalValue`` of a submitted key: one ``PUBLIC KEY`` block (DER
    SubjectPublicKeyInfo) or the ``CERTIFICATE`` block(s), base64 in 64-character lines.

    Raises:
        ValueError: ``pem`` is neither a single public key nor certificates.
    """
    blocks = decode_pem_blocks(pem)
    labels = {label for label, _ in blocks}
    try:
        if labels == {"PUBLIC KEY"} and len(blocks) == 1:
            key = serialization.load_der_public_key(blocks[0][1])
            return key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        if labels == {"CERTIFICATE"}:
            return b"".join(
                x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
                for _, der in blocks
            )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"PEM {sorted(labels)} does not parse") from exc
    raise ValueError(f"expected one PUBLIC KEY or CERTIFICATE blocks, found {sorted(labels)}")


def _checked_digest(digest_hex: str, algorithm: str) -> str:
    if _HEX_DIGEST_LENGTHS.get(algorithm) != len(digest_hex) or not re.fullmatch(
        r"[0-9a-fA-F]+", digest_hex
    ):
        raise ValueError(f"{digest_hex!r} is not a {algorithm} hex digest")
    return digest_hex


def hashedrekord_proposed_entry(
    *, signature: bytes, public_key_pem: bytes, digest_hex: str, algorithm: str = "sha256"
) -> dict[str, Any]:
    """Return the ``hashedrekord`` v0.0.1 entry a client submits to Rekor.

    Args:
        signature: the raw signature bytes.
        public_key_pem: the PEM public key or certificate that verifies it.
        digest_hex: the hex digest of the signed data.
        algorithm: ``sha256``, ``sha384`` or ``sha512``.

    Raises:
        ValueError: the digest does not fit the algorithm.
    """
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {
                "hash": {"algorithm": algorithm, "value": _checked_digest(digest_hex, algorithm)}
            },
            "signature": {
                "content": b64text(signature),
                "publicKey": {"content": b64text(public_key_pem)},
            },
        },
    }


def hashedrekord_body(
    *, signature: bytes, public_key_pem: bytes, digest_hex: str, algorithm: str = "sha256"
) -> bytes:
    """Return the exact body Rekor stores for a ``hashedrekord`` v0.0.1 entry.

    Raises:
        ValueError: the key is not PEM, or the digest does not fit the algorithm.
    """
    entry = hashedrekord_proposed_entry(
        signature=signature,
        public_key_pem=canonical_pem(public_key_pem),
        digest_hex=digest_hex,
        algorithm=algorithm,
    )
    return rfc8785.dumps(entry)


def dsse_proposed_entry(*, envelope: bytes, verifiers: Sequence[bytes]) -> dict[str, Any]:
    """Return the ``dsse`` v0.0.1 entry a client submits: the envelope text and PEM keys.

    Args:
        envelope: the DSSE envelope JSON, exactly as it will be stored elsewhere (Rekor
            records the SHA-256 of these bytes).
        verifiers: PEM public keys or certificates, one per signature.
    """
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope.decode("utf-8"),
                "verifiers": [b64text(pem) for pem in verifiers],
            }
        },
    }


def dsse_body(
    *, envelope: bytes, payload: bytes, signatures: Sequence[tuple[bytes | str, bytes]]
) -> bytes:
    """Return the exact body Rekor stores for a ``dsse`` v0.0.1 entry.

    Args:
        envelope: the envelope bytes as submitted (their SHA-256 is the ``envelopeHash``).
        payload: the decoded DSSE payload (its SHA-256 is the ``payloadHash``).
        signatures: ``(signature, verifier PEM)`` pairs; a ``str`` signature is the
            envelope's ``sig`` text used verbatim, ``bytes`` are encoded as standard base64.

    Raises:
        ValueError: a verifier is not PEM.
    """
    by_signature: dict[str, str] = {}
    for signature, verifier in signatures:
        text = signature if isinstance(signature, str) else b64text(signature)
        by_signature[text] = b64text(canonical_pem(verifier))
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(envelope).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [
                    {"signature": text, "verifier": by_signature[text]}
                    for text in sorted(by_signature)
                ],
            },
        }
    )
