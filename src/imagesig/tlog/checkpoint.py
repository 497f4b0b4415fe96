"""Checkpoints: the signed tree heads of a transparency log, as Rekor v1 writes them.

A checkpoint states "the log held ``size`` entries and their Merkle root was ``root``". Rekor
v1 serialises it as a *signed note* (the format of Go's ``golang.org/x/mod/sumdb/note``)::

    rekor.sigstore.dev - 1193050959916656506      origin: "<hostname> - <tree id>"
    649584076                                     tree size, decimal
    rnpacIXSjoToEDh0qD4CLAKdkPnW1Y4R1DhFMS+AGlI=  root hash, standard base64
    [optional extra lines, e.g. "Timestamp: ..."]
                                                  a blank line ends the note body
    — rekor.sigstore.dev wNI9ajBFAiB+dI3i...      em dash (U+2014), signer name,
                                                  base64(4-byte key hint || signature)

Rekor's conventions (``pkg/util/checkpoint.go`` and ``signed_note.go``): the signer name is
the bare hostname; the key hint is the first four bytes of SHA-256 over the key's DER
SubjectPublicKeyInfo — for Rekor v1 that is the first four bytes of the *log id*; the
signature covers the note body bytes including its final newline (ECDSA and RSA with
SHA-256, Ed25519 over the bytes themselves). This is not the hint rule of the sumdb note
format itself, which hashes the name and key type too.

Parsing is strict and bounded: the body must be in canonical form (no leading zeros, padded
base64 that re-encodes identically), so the parsed :class:`Checkpoint` always serialises
back to exactly the signed bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding

from imagesig.errors import CheckpointError, SizeLimitExceededError
from imagesig.tlog.trust import LogPrivateKey, LogPublicKey, log_id_for_key, verify_log_signature

__all__ = [
    "KEY_HINT_SIZE",
    "MAX_CHECKPOINT_BYTES",
    "MAX_NOTE_SIGNATURES",
    "Checkpoint",
    "NoteSignature",
    "parse_signed_note",
    "sign_checkpoint",
    "verify_checkpoint",
]

MAX_CHECKPOINT_BYTES = 16 * 1024
"""Largest signed note parsed (a Rekor checkpoint is about 200 bytes)."""

MAX_NOTE_SIGNATURES = 32
"""Most signature lines read from one note (the log's own plus any witnesses')."""

KEY_HINT_SIZE = 4
"""Bytes of key hint in front of each note signature."""

_EM_DASH = "\u2014"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_MAX_TREE_SIZE = 2**64 - 1


def _single_line(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or "\n" in value:
        raise ValueError(f"{attribute.name} must be a non-empty single line")


def _to_lines(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _lines(
    _instance: object, _attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if any(not line or "\n" in line for line in value):
        raise ValueError("extra checkpoint lines must be non-empty single lines")


@attrs.frozen
class Checkpoint:
    """A log's tree head: origin, size and root hash, plus optional extra lines.

    Attributes:
        origin: the log's identity line (Rekor v1: ``"<hostname> - <tree id>"``).
        tree_size: the number of entries the root commits to.
        root_hash: the Merkle tree root hash.
        other: further lines of the note body, in order, without newlines.
    """

    origin: str = attrs.field(validator=_single_line)
    tree_size: int = attrs.field(validator=attrs.validators.ge(0))
    root_hash: bytes
    other: tuple[str, ...] = attrs.field(default=(), converter=_to_lines, validator=_lines)

    def to_note_body(self) -> str:
        """Return the note body: the exact text a log signs, ending in a newline."""
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root_hash).decode()]
        lines.extend(self.other)
        return "".join(f"{line}\n" for line in lines)


@attrs.frozen
class NoteSignature:
    """One signature line of a signed note.

    Attributes:
        name: the signer's name (Rekor v1: its hostname).
        key_hint: the first four bytes of the signing key's id.
        signature: the signature over the note body.
    """

    name: str
    key_hint: bytes
    signature: bytes


def _malformed(reason: str) -> CheckpointError:
    return CheckpointError(f"malformed checkpoint: {reason}", check="checkpoint-format")


def _strict_b64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise _malformed(f"{what} is not standard base64") from exc
    if base64.b64encode(value).decode("ascii") != text:
        raise _malformed(f"{what} is not in canonical base64")
    return value


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise _malformed("the note body needs an origin, a tree size and a root hash")
    origin, size_text, root_text, *other = lines
    if not origin:
        raise _malformed("the origin line is empty")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_TREE_SIZE:
        raise _malformed(f"tree size {size_text[:30]!r} is not a canonical decimal number")
    root_hash = _strict_b64(root_text, "the root hash")
    if len(root_hash) != 32:
        raise _malformed(f"the root hash has {len(root_hash)} bytes, not 32")
    return Checkpoint(origin=origin, tree_size=int(size_text), root_hash=root_hash, other=other)


def _parse_signature_line(line: str) -> NoteSignature:
    prefix = _EM_DASH + " "
    if not line.startswith(prefix):
        raise _malformed("a signature line does not start with an em dash and a space")
    parts = line[len(prefix) :].split(" ")
    if len(parts) != 2 or not parts[0] or not parts[1] or any(c.isspace() for c in parts[0]):
        raise _malformed("a signature line is not '— <name> <base64 signature>'")
    name, encoded = parts
    raw = _strict_b64(encoded, f"the signature of {name!r}")
    if len(raw) <= KEY_HINT_SIZE:
        raise _malformed(f"the signature of {name!r} is too short")
    return NoteSignature(name=name, key_hint=raw[:KEY_HINT_SIZE], signature=raw[KEY_HINT_SIZE:])


def _split_note(text: str) -> tuple[str, tuple[NoteSignature, ...]]:
    if not isinstance(text, str):
        raise _malformed(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_CHECKPOINT_BYTES or len(text.encode("utf-8")) > MAX_CHECKPOINT_BYTES:
        raise SizeLimitExceededError(
            f"checkpoint is larger than {MAX_CHECKPOINT_BYTES} bytes",
            check="checkpoint-format",
            limit=MAX_CHECKPOINT_BYTES,
        )
    separator = text.find("\n\n")
    if separator < 0:
        raise _malformed("no blank line separates the note body from its signatures")
    body, block = text[: separator + 1], text[separator + 2 :]
    if not block.endswith("\n"):
        raise _malformed("the signature block must be non-empty and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise SizeLimitExceededError(
            f"checkpoint has more than {MAX_NOTE_SIGNATURES} signature lines",
            check="checkpoint-format",
            limit=MAX_NOTE_SIGNATURES,
        )
    return body, tuple(_parse_signature_line(line) for line in lines)


def parse_signed_note(text: str) -> tuple[Checkpoint, tuple[NoteSignature, ...]]:
    """Parse a signed checkpoint without verifying it.

    Args:
        text: the signed note (``inclusionProof.checkpoint`` of a Rekor entry, or
            ``checkpoint.envelope`` in a Sigstore bundle).

    Returns:
        The checkpoint and the signature lines, in order.

    Raises:
        CheckpointError: the text is not a well-formed, canonical signed checkpoint
            (``check="checkpoint-format"``).
        SizeLimitExceededError: it is larger than :data:`MAX_CHECKPOINT_BYTES` or has more
            than :data:`MAX_NOTE_SIGNATURES` signatures.
    """
    body, signatures = _split_note(text)
    return _parse_body(body), signatures


def verify_checkpoint(
    text: str, public_key: LogPublicKey, *, log_id: bytes, name: str | None = None
) -> Checkpoint:
    """Parse a signed checkpoint and check the log's signature on it.

    Signature lines whose key hint is not the log's (``log_id[:4]``) — witnesses' cosignatures,
    say — are ignored; at least one line with the log's hint must verify with ``public_key``.

    Args:
        text: the signed note.
        public_key: the log's key.
        log_id: the log's id; its first four bytes are the key hint Rekor v1 writes.
        name: when given, only signature lines by this signer name are considered.

    Returns:
        The verified checkpoint.

    Raises:
        CheckpointError: the note is malformed (``check="checkpoint-format"``), has no
            signature by the log (``"checkpoint-key-hint"``) or the signature does not verify
            (``"checkpoint-signature"``).
        SizeLimitExceededError: the note is larger than the caps.
    """
    body, signatures = _split_note(text)
    checkpoint = _parse_body(body)
    hint = log_id[:KEY_HINT_SIZE]
    candidates = [
        sig for sig in signatures if sig.key_hint == hint and (name is None or sig.name == name)
    ]
    if not candidates:
        raise CheckpointError(
            f"checkpoint of {checkpoint.origin!r} carries no signature with the key hint "
            f"{hint.hex()} of log {log_id.hex()}",
            check="checkpoint-key-hint",
            log_id=log_id.hex(),
            origin=checkpoint.origin,
        )
    data = body.encode("utf-8")
    if not any(verify_log_signature(public_key, sig.signature, data) for sig in candidates):
        raise CheckpointError(
            f"the signature on the checkpoint of {checkpoint.origin!r} (tree size "
            f"{checkpoint.tree_size}) does not verify with the key of log {log_id.hex()}",
            check="checkpoint-signature",
            log_id=log_id.hex(),
            origin=checkpoint.origin,
        )
    return checkpoint


def _sign(private_key: LogPrivateKey, data: bytes) -> bytes:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_checkpoint(
    checkpoint: Checkpoint,
    private_key: LogPrivateKey,
    *,
    name: str,
    log_id: bytes | None = None,
    cosignatures: Sequence[NoteSignature] = (),
) -> str:
    """Sign a checkpoint as Rekor v1 does and return the signed note.

    Args:
        checkpoint: the tree head to sign.
        private_key: the log's key (ECDSA and RSA sign SHA-256; Ed25519 the note itself).
        name: the signer name (Rekor v1 uses its hostname, e.g. ``rekor.sigstore.dev``).
        log_id: the log id whose first four bytes become the key hint (default: the SHA-256
            of the key's DER SubjectPublicKeyInfo, the Rekor v1 log id).
        cosignatures: further signature lines to append after the log's own.

    Returns:
        The signed note text.

    Raises:
        ValueError: ``name`` is empty or contains white space.
    """
    if not name or any(c.isspace() for c in name):
        raise ValueError("a note signer name must be non-empty and contain no white space")
    if log_id is None:
        log_id = log_id_for_key(private_key.public_key())
    body = checkpoint.to_note_body()
    own = NoteSignature(name, log_id[:KEY_HINT_SIZE], _sign(private_key, body.encode("utf-8")))
    lines = [
        f"{_EM_DASH} {sig.name} {base64.b64encode(sig.key_hint + sig.signature).decode()}\n"
        for sig in (own, *cosignatures)
    ]
    return body + "\n" + "".join(lines)
