"""Offline verification of transparency-log entries, for every way an entry is stored.

:func:`verify_log_entry` decides whether a :class:`~imagesig.tlog.entries.LogEntry` — read
from cosign's bundle annotation, a Sigstore bundle or the Rekor API — proves that *this*
signature was logged. In order, cheapest first:

1. caps: body, proof and signature sizes (before any hashing or signature work);
2. at least one proof: a signed entry timestamp (SET) or an inclusion proof; with
   ``require_inclusion_proof`` the inclusion proof is mandatory;
3. the log: a trusted log with the entry's log id whose key was valid at the entry's
   integrated time (a key outside its ``validFor`` window vouches for nothing);
4. the body records the artifact being verified (:class:`ExpectedEntry`): the same digest,
   signature and key or certificate — otherwise a genuine entry for *another* artifact
   would pass (cosign GHSA-ccxc-vr6p-4858, GHSA-8gw7-4j42-w388, GHSA-whqx-f9j3-ch6m);
5. the SET: the log's signature over RFC 8785 JSON of body, integrated time, log id and
   log index;
6. the inclusion proof: the checkpoint is signed by the log's key, its tree size and root
   equal the proof's, and the Merkle path leads from the body's leaf hash to that root.

Every failure raises a specific :class:`~imagesig.errors.TransparencyLogError` subclass
whose ``context["check"]`` names what did not match:

- ``MissingLogEntryError``: ``log-proof``, ``inclusion-proof``, ``threshold``;
- ``UnknownLogError``: ``log-id``, ``log-key-validity``;
- ``LogEntryMismatchError``: ``kind-version``, ``body-kind``, ``body-digest``,
  ``body-signature``, ``body-public-key``, ``body-payload-hash``, ``body-envelope-hash``,
  ``uuid``;
- ``SignedEntryTimestampError``: ``set``;
- ``CheckpointError``: ``checkpoint-missing``, ``checkpoint-format``, ``checkpoint-key-hint``,
  ``checkpoint-signature``, ``checkpoint-tree-size``, ``checkpoint-root-hash``;
- ``InclusionProofError``: ``inclusion-proof``;
- ``TransparencyLogError`` itself: ``entry-format``, ``body-format``, ``duplicate-entry``,
  ``expected-public-key``.

An integrated time is only authenticated by a SET: :attr:`VerifiedLogEntry.set_verified`
says whether it may be used as a signing time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imagesig.errors import (
    CheckpointError,
    InclusionProofError,
    LogEntryMismatchError,
    MissingLogEntryError,
    SignedEntryTimestampError,
    SizeLimitExceededError,
    TransparencyLogError,
    UnknownLogError,
)
from imagesig.tlog.checkpoint import MAX_CHECKPOINT_BYTES, Checkpoint, verify_checkpoint
from imagesig.tlog.entries import (
    MAX_BODY_BYTES,
    MAX_TLOG_ENTRIES,
    EntryBody,
    LogEntry,
    canonical_pem,
)
from imagesig.tlog.merkle import MAX_PROOF_HASHES, verify_inclusion
from imagesig.tlog.trust import TransparencyLogInstance, TrustedRoot

__all__ = [
    "ExpectedEntry",
    "VerifiedLogEntry",
    "verify_entry_matches",
    "verify_inclusion_proof",
    "verify_log_entries",
    "verify_log_entry",
    "verify_signed_entry_timestamp",
]

_MAX_SET_BYTES = 4096
_SUPPORTED = {("hashedrekord", "0.0.1"), ("dsse", "0.0.1")}


def _expected_pem(pem: bytes) -> bytes:
    try:
        return canonical_pem(pem)
    except ValueError as exc:
        raise TransparencyLogError(
            f"the key or certificate to look for in the log entry is not usable PEM: {exc}",
            check="expected-public-key",
        ) from exc


@attrs.frozen
class ExpectedEntry:
    """What a log entry must record to vouch for the signature being verified.

    Build it with :meth:`hashedrekord` or :meth:`dsse`.

    Attributes:
        kind: ``hashedrekord`` or ``dsse``.
        signature: the signature bytes.
        public_key_pem: the verifying key or certificate, re-encoded as canonical PEM.
        digest_hex: hashedrekord: hex digest of the signed payload.
        digest_algorithm: hashedrekord: its algorithm (``sha256``...).
        payload_sha256: dsse: hex SHA-256 of the decoded DSSE payload.
        envelope_sha256: dsse: hex SHA-256 of the envelope bytes as submitted, when known.
    """

    kind: str
    signature: bytes = attrs.field(repr=False)
    public_key_pem: bytes = attrs.field(repr=False)
    digest_hex: str | None = None
    digest_algorithm: str = "sha256"
    payload_sha256: str | None = None
    envelope_sha256: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind == "hashedrekord" and not self.digest_hex:
            raise ValueError("a hashedrekord expectation needs the payload digest")
        if self.kind == "dsse" and not self.payload_sha256:
            raise ValueError("a dsse expectation needs the payload hash")
        if self.kind not in ("hashedrekord", "dsse"):
            raise ValueError(f"cannot expect {self.kind!r} entries; hashedrekord or dsse")

    @classmethod
    def hashedrekord(
        cls,
        *,
        signature: bytes,
        public_key_pem: bytes,
        digest_hex: str,
        algorithm: str = "sha256",
    ) -> ExpectedEntry:
        """Expect a ``hashedrekord`` entry (cosign's image and blob signatures).

        Args:
            signature: the signature being verified.
            public_key_pem: the PEM key, or the PEM certificate for keyless signatures.
            digest_hex: hex digest of the signed bytes (for images: of the payload layer).
            algorithm: the digest's algorithm as Rekor names it.

        Raises:
            TransparencyLogError: the key is not PEM (``check="expected-public-key"``).
        """
        return cls(
            kind="hashedrekord",
            signature=signature,
            public_key_pem=_expected_pem(public_key_pem),
            digest_hex=digest_hex.lower(),
            digest_algorithm=algorithm,
        )

    @classmethod
    def dsse(
        cls,
        *,
        signature: bytes,
        public_key_pem: bytes,
        payload: bytes,
        envelope: bytes | None = None,
    ) -> ExpectedEntry:
        """Expect a ``dsse`` entry (attestations).

        Args:
            signature: the DSSE signature being verified.
            public_key_pem: the PEM key or certificate.
            payload: the decoded DSSE payload.
            envelope: the envelope bytes exactly as submitted to the log; give them when
                known (a legacy ``.att`` layer), omit them when the envelope was re-serialised
                (a Sigstore bundle).

        Raises:
            TransparencyLogError: the key is not PEM (``check="expected-public-key"``).
        """
        return cls(
            kind="dsse",
            signature=signature,
            public_key_pem=_expected_pem(public_key_pem),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            envelope_sha256=None if envelope is None else hashlib.sha256(envelope).hexdigest(),
        )


@attrs.frozen
class VerifiedLogEntry:
    """A log entry that verified, and what it established.

    Attributes:
        log_index: the entry's global log index.
        integrated_time: the log's integration time (Unix seconds).
        log_id: the log's id.
        log_base_url: the trusted log's URL.
        kind: the body's kind.
        set_verified: a SET verified, so :attr:`integrated_time` is signed by the log.
        inclusion_verified: an inclusion proof up to a signed checkpoint verified.
        checkpoint: the verified checkpoint, with an inclusion proof.
    """

    log_index: int
    integrated_time: int
    log_id: bytes
    log_base_url: str
    kind: str
    set_verified: bool
    inclusion_verified: bool
    checkpoint: Checkpoint | None = None


def _mismatch(message: str, check: str, entry: LogEntry) -> LogEntryMismatchError:
    return LogEntryMismatchError(message, check=check, log_index=entry.log_index)


def _body_format(message: str, field: str) -> TransparencyLogError:
    return TransparencyLogError(
        f"malformed log entry body: {message}", check="body-format", field=field
    )


def _get(spec: Mapping[str, Any], path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise _body_format(f"spec.{path} is missing", f"spec.{path}")
        value = value[part]
    return value


def _get_str(spec: Mapping[str, Any], path: str) -> str:
    value = _get(spec, path)
    if not isinstance(value, str):
        raise _body_format(f"spec.{path} must be a string", f"spec.{path}")
    return value


def _decode(text: str, field: str) -> bytes:
    """Base64 from a body: standard, or URL-safe (DSSE signatures may be either)."""
    stripped = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _body_format(f"{field} is not base64", field) from exc


def _same_key(recorded_b64: str, expected: ExpectedEntry, field: str) -> bool:
    try:
        return canonical_pem(_decode(recorded_b64, field)) == expected.public_key_pem
    except ValueError:
        return False


def _match_hashedrekord(entry: LogEntry, spec: Mapping[str, Any], expected: ExpectedEntry) -> None:
    algorithm = _get_str(spec, "data.hash.algorithm")
    value = _get_str(spec, "data.hash.value")
    if algorithm != expected.digest_algorithm or value.lower() != expected.digest_hex:
        raise _mismatch(
            f"log entry {entry.log_index} records digest {algorithm}:{value}, not the "
            f"verified payload's {expected.digest_algorithm}:{expected.digest_hex}",
            "body-digest",
            entry,
        )
    content = _get_str(spec, "signature.content")
    if _decode(content, "spec.signature.content") != expected.signature:
        raise _mismatch(
            f"log entry {entry.log_index} records another signature than the one verified",
            "body-signature",
            entry,
        )
    if not _same_key(
        _get_str(spec, "signature.publicKey.content"),
        expected,
        "spec.signature.publicKey.content",
    ):
        raise _mismatch(
            f"log entry {entry.log_index} records another public key or certificate than "
            "the one the signature was verified with",
            "body-public-key",
            entry,
        )


def _match_dsse(entry: LogEntry, spec: Mapping[str, Any], expected: ExpectedEntry) -> None:
    for field, want, check in (
        ("payloadHash", expected.payload_sha256, "body-payload-hash"),
        ("envelopeHash", expected.envelope_sha256, "body-envelope-hash"),
    ):
        if want is None:
            continue
        algorithm = _get_str(spec, f"{field}.algorithm")
        value = _get_str(spec, f"{field}.value")
        if algorithm != "sha256" or value.lower() != want:
            raise _mismatch(
                f"log entry {entry.log_index} records {field} {algorithm}:{value}, not "
                f"sha256:{want}",
                check,
                entry,
            )
    signatures = _get(spec, "signatures")
    if not isinstance(signatures, list) or not all(isinstance(s, dict) for s in signatures):
        raise _body_format("spec.signatures must be a list of objects", "spec.signatures")
    matching = [
        item
        for item in signatures
        if isinstance(item.get("signature"), str)
        and _decode(item["signature"], "spec.signatures[].signature") == expected.signature
    ]
    if not matching:
        raise _mismatch(
            f"log entry {entry.log_index} does not record the DSSE signature being verified",
            "body-signature",
            entry,
        )
    if not any(
        isinstance(item.get("verifier"), str)
        and _same_key(item["verifier"], expected, "spec.signatures[].verifier")
        for item in matching
    ):
        raise _mismatch(
            f"log entry {entry.log_index} records the DSSE signature with another key or "
            "certificate than the one it was verified with",
            "body-public-key",
            entry,
        )


def verify_entry_matches(entry: LogEntry, expected: ExpectedEntry) -> EntryBody:
    """Check that the entry's body records the expected signature, key and artifact.

    Args:
        entry: the log entry.
        expected: what it must record.

    Returns:
        The parsed body.

    Raises:
        LogEntryMismatchError: the body records something else; ``check`` names what.
        TransparencyLogError: the body is malformed (``check="body-format"``).
        SizeLimitExceededError: the body is too large.
    """
    body = entry.parse_body()
    if (entry.kind is not None and entry.kind != body.kind) or (
        entry.version is not None and entry.version != body.api_version
    ):
        raise _mismatch(
            f"log entry {entry.log_index} claims kind {entry.kind}/{entry.version} but its "
            f"body is {body.kind}/{body.api_version}",
            "kind-version",
            entry,
        )
    if body.kind != expected.kind or (body.kind, body.api_version) not in _SUPPORTED:
        raise _mismatch(
            f"log entry {entry.log_index} is a {body.kind} {body.api_version} entry; expected "
            f"{expected.kind} 0.0.1",
            "body-kind",
            entry,
        )
    if entry.uuid is not None and entry.uuid[-64:] != entry.leaf_hash().hex():
        raise _mismatch(
            f"log entry {entry.log_index}: its UUID is not the leaf hash of its body",
            "uuid",
            entry,
        )
    if body.kind == "hashedrekord":
        _match_hashedrekord(entry, body.spec, expected)
    else:
        _match_dsse(entry, body.spec, expected)
    return body


def verify_signed_entry_timestamp(entry: LogEntry, log: TransparencyLogInstance) -> None:
    """Check the entry's SET with the log's key.

    Raises:
        MissingLogEntryError: the entry has no SET (``check="set"``).
        SignedEntryTimestampError: the SET does not verify (``check="set"``).
    """
    if entry.signed_entry_timestamp is None:
        raise MissingLogEntryError(
            f"log entry {entry.log_index} has no signed entry timestamp", check="set"
        )
    if not log.verify(entry.signed_entry_timestamp, entry.set_payload()):
        raise SignedEntryTimestampError(
            f"the signed entry timestamp of log entry {entry.log_index} does not verify with "
            f"the key of {log.base_url or 'the log'}: the body, integratedTime "
            f"({entry.integrated_time}), logIndex ({entry.log_index}) or the SET itself was "
            "altered, or another log signed it",
            check="set",
            log_index=entry.log_index,
            integrated_time=entry.integrated_time,
            log_id=entry.log_id.hex(),
        )


def verify_inclusion_proof(entry: LogEntry, log: TransparencyLogInstance) -> Checkpoint:
    """Check the entry's inclusion proof up to a checkpoint signed by the log.

    Returns:
        The verified checkpoint.

    Raises:
        MissingLogEntryError: the entry has no inclusion proof (``check="inclusion-proof"``).
        CheckpointError: the checkpoint is missing, malformed, not signed by the log, or
            names another tree size or root than the proof.
        InclusionProofError: the Merkle path does not lead to the root.
    """
    proof = entry.inclusion_proof
    if proof is None:
        raise MissingLogEntryError(
            f"log entry {entry.log_index} has no inclusion proof", check="inclusion-proof"
        )
    if proof.checkpoint is None:
        raise CheckpointError(
            f"the inclusion proof of log entry {entry.log_index} has no signed checkpoint, "
            "so its root hash is not vouched for",
            check="checkpoint-missing",
            log_index=entry.log_index,
        )
    checkpoint = verify_checkpoint(proof.checkpoint, log.public_key, log_id=log.log_id)
    if checkpoint.tree_size != proof.tree_size:
        raise CheckpointError(
            f"the inclusion proof of log entry {entry.log_index} is for tree size "
            f"{proof.tree_size} but the signed checkpoint is for {checkpoint.tree_size}",
            check="checkpoint-tree-size",
            log_index=entry.log_index,
            tree_size=proof.tree_size,
        )
    if checkpoint.root_hash != proof.root_hash:
        raise CheckpointError(
            f"the inclusion proof of log entry {entry.log_index} claims root "
            f"{proof.root_hash.hex()} but the signed checkpoint has {checkpoint.root_hash.hex()}",
            check="checkpoint-root-hash",
            log_index=entry.log_index,
        )
    try:
        verify_inclusion(
            proof.log_index, proof.tree_size, entry.leaf_hash(), proof.hashes, proof.root_hash
        )
    except InclusionProofError as exc:
        raise InclusionProofError(
            f"log entry {entry.log_index}: {exc.message}",
            check="inclusion-proof",
            log_index=entry.log_index,
            proof_index=proof.log_index,
            tree_size=proof.tree_size,
        ) from exc
    return checkpoint


def _check_limits(entry: LogEntry) -> None:
    def too_large(what: str, limit: int) -> SizeLimitExceededError:
        return SizeLimitExceededError(
            f"log entry {entry.log_index}: {what} exceeds {limit}",
            check="entry-format",
            limit=limit,
        )

    if len(entry.body) > MAX_BODY_BYTES:
        raise too_large("the body size", MAX_BODY_BYTES)
    if (
        entry.signed_entry_timestamp is not None
        and len(entry.signed_entry_timestamp) > _MAX_SET_BYTES
    ):
        raise too_large("the SET size", _MAX_SET_BYTES)
    proof = entry.inclusion_proof
    if proof is not None:
        if len(proof.hashes) > MAX_PROOF_HASHES:
            raise too_large("the number of proof hashes", MAX_PROOF_HASHES)
        if proof.checkpoint is not None and len(proof.checkpoint) > MAX_CHECKPOINT_BYTES:
            raise too_large("the checkpoint size", MAX_CHECKPOINT_BYTES)


def verify_log_entry(
    entry: LogEntry,
    trusted_root: TrustedRoot,
    expected: ExpectedEntry,
    *,
    require_inclusion_proof: bool = False,
) -> VerifiedLogEntry:
    """Verify one log entry offline: the right log, the right artifact, valid proofs.

    Args:
        entry: the entry, from any of its storage formats.
        trusted_root: the logs to trust.
        expected: what the entry must record.
        require_inclusion_proof: refuse entries that carry only a SET.

    Returns:
        What the entry established.

    Raises:
        SizeLimitExceededError: the entry is larger than the caps.
        MissingLogEntryError: no SET and no inclusion proof, or no inclusion proof when one
            is required.
        UnknownLogError: no trusted log with that id had a valid key at the entry's time.
        LogEntryMismatchError: the entry records another artifact, signature or key.
        SignedEntryTimestampError: the SET does not verify.
        CheckpointError: the checkpoint is missing, malformed, badly signed or mismatched.
        InclusionProofError: the Merkle inclusion proof does not lead to the root.
        TransparencyLogError: the body is malformed.
    """
    _check_limits(entry)
    if entry.signed_entry_timestamp is None and entry.inclusion_proof is None:
        raise MissingLogEntryError(
            f"log entry {entry.log_index} carries neither a signed entry timestamp nor an "
            "inclusion proof",
            check="log-proof",
            log_index=entry.log_index,
        )
    if require_inclusion_proof and entry.inclusion_proof is None:
        raise MissingLogEntryError(
            f"log entry {entry.log_index} carries no inclusion proof and one is required",
            check="inclusion-proof",
            log_index=entry.log_index,
        )
    log = trusted_root.find_tlog(entry.log_id, entry.integrated_time)
    body = verify_entry_matches(entry, expected)
    set_verified = False
    if entry.signed_entry_timestamp is not None:
        verify_signed_entry_timestamp(entry, log)
        set_verified = True
    checkpoint = None
    if entry.inclusion_proof is not None:
        checkpoint = verify_inclusion_proof(entry, log)
    return VerifiedLogEntry(
        log_index=entry.log_index,
        integrated_time=entry.integrated_time,
        log_id=entry.log_id,
        log_base_url=log.base_url,
        kind=body.kind,
        set_verified=set_verified,
        inclusion_verified=checkpoint is not None,
        checkpoint=checkpoint,
    )


def verify_log_entries(
    entries: Sequence[LogEntry],
    trusted_root: TrustedRoot,
    expected: ExpectedEntry,
    *,
    threshold: int = 1,
    require_inclusion_proof: bool = False,
) -> tuple[VerifiedLogEntry, ...]:
    """Verify a bundle's entries and require ``threshold`` distinct trusted logs.

    Entries from logs the trusted root does not know are skipped (as sigstore-go does);
    any other failure is raised. Entries count once per log, so one log cannot satisfy a
    threshold of two (sigstore-go GHSA-9vcr-p3rj-q5q6).

    Args:
        entries: the entries (at most :data:`~imagesig.tlog.entries.MAX_TLOG_ENTRIES`).
        trusted_root: the logs to trust.
        expected: what every entry must record.
        threshold: how many distinct logs must vouch.
        require_inclusion_proof: refuse entries that carry only a SET.

    Returns:
        The entries that verified.

    Raises:
        SizeLimitExceededError: too many entries (checked before any verification).
        TransparencyLogError: two entries name the same log and index
            (``check="duplicate-entry"``), or any error of :func:`verify_log_entry`.
        UnknownLogError: too few entries verified, and some came from unknown logs.
        MissingLogEntryError: too few distinct logs vouch (``check="threshold"``).
    """
    if len(entries) > MAX_TLOG_ENTRIES:
        raise SizeLimitExceededError(
            f"{len(entries)} transparency-log entries; at most {MAX_TLOG_ENTRIES} are verified",
            check="entry-count",
            limit=MAX_TLOG_ENTRIES,
        )
    if len({(e.log_id, e.log_index) for e in entries}) != len(entries):
        raise TransparencyLogError("the same log entry is listed twice", check="duplicate-entry")
    verified: list[VerifiedLogEntry] = []
    unknown: list[UnknownLogError] = []
    for entry in entries:
        try:
            verified.append(
                verify_log_entry(
                    entry,
                    trusted_root,
                    expected,
                    require_inclusion_proof=require_inclusion_proof,
                )
            )
        except UnknownLogError as exc:
            unknown.append(exc)
    logs = {item.log_id for item in verified}
    if len(logs) < max(threshold, 1):
        if unknown:
            raise unknown[0]
        raise MissingLogEntryError(
            f"{len(logs)} trusted transparency log(s) vouch for the signature; "
            f"{max(threshold, 1)} required",
            check="threshold",
        )
    return tuple(verified)
