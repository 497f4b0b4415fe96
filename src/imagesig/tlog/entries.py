"""Rekor v1 log entries: the entry model, its three wire forms, and entry bodies.

One :class:`LogEntry` model serves every place an entry travels, so that one verifier
(:mod:`imagesig.tlog.verify`) checks them all:

- cosign's ``dev.sigstore.cosign/bundle`` annotation (Go JSON:
  ``{"SignedEntryTimestamp","Payload":{"body","integratedTime","logIndex","logID"}}``,
  log id in hex) — :meth:`LogEntry.from_cosign_bundle_annotation`;
- ``verificationMaterial.tlogEntries[]`` of a Sigstore bundle (protojson: int64 fields are
  JSON *strings*, bytes are base64, the log id is ``logId.keyId``, zero values are omitted)
  — :meth:`LogEntry.from_bundle_tlog_entry`;
- the Rekor v1 API's ``{"<uuid>": {...}}`` answer (hex hashes, integer fields)
  — :meth:`LogEntry.from_rekor_response`.

The *body* is the canonical entry JSON Rekor stored and hashed into its tree. The builders
:func:`hashedrekord_body` and :func:`dsse_body` reproduce Rekor's bytes exactly: RFC 8785
JSON, keys and certificates re-encoded as standard PEM (Rekor's ``CanonicalValue``), DSSE
signatures sorted by their base64 text. :func:`hashedrekord_proposed_entry` and
:func:`dsse_proposed_entry` build what a client submits. They live in
:mod:`imagesig.tlog.bodies`, with :func:`parse_body` and the PEM helpers, and are
importable from here as well.

Caps (checked before any hashing or signature work): a body is at most
:data:`MAX_BODY_BYTES`, an encoded entry :data:`MAX_ENCODED_ENTRY_BYTES`, an inclusion proof
:data:`~imagesig.tlog.merkle.MAX_PROOF_HASHES` hashes, a bundle :data:`MAX_TLOG_ENTRIES`
entries, and integers stay within ±(2**53 - 1), the range RFC 8785 represents exactly.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import rfc8785

from imagesig.errors import MissingLogEntryError, SizeLimitExceededError, TransparencyLogError
from imagesig.tlog._entry_json import b64text, format_error, json_object, load_json, text_field
from imagesig.tlog.bodies import (
    MAX_BODY_BYTES,
    EntryBody,
    canonical_pem,
    decode_pem_blocks,
    dsse_body,
    dsse_proposed_entry,
    hashedrekord_body,
    hashedrekord_proposed_entry,
    parse_body,
)
from imagesig.tlog.merkle import HASH_SIZE, MAX_PROOF_HASHES, leaf_hash

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ENCODED_ENTRY_BYTES",
    "MAX_SAFE_INTEGER",
    "MAX_TLOG_ENTRIES",
    "EntryBody",
    "InclusionProof",
    "LogEntry",
    "canonical_pem",
    "decode_pem_blocks",
    "dsse_body",
    "dsse_proposed_entry",
    "hashedrekord_body",
    "hashedrekord_proposed_entry",
    "parse_body",
    "parse_bundle_tlog_entries",
]

MAX_ENCODED_ENTRY_BYTES = 512 * 1024
"""Largest annotation or API answer parsed into an entry."""
MAX_TLOG_ENTRIES = 32
"""Most transparency-log entries read from one bundle (sigstore-go's limit)."""
MAX_SAFE_INTEGER = 2**53 - 1
"""Largest log index, tree size or time accepted: RFC 8785 encodes integers as doubles."""

_MAX_SIGNATURE_BYTES = 4096
_LOG_ID_SIZE = 32


def _int(value: object, field: str, *, protojson: bool = False) -> int:
    """An integer field; protojson writes int64 as a decimal string."""
    if protojson and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise format_error(f"{field} must be an integer", field)
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise format_error(f"{field} is out of range", field)
    return value


def _b64(value: object, field: str, *, limit: int) -> bytes:
    """Standard or URL-safe base64, padding optional (protojson accepts all four)."""
    if not isinstance(value, str):
        raise format_error(f"{field} must be a base64 string", field)
    if len(value) > (limit + 2) // 3 * 4:
        raise SizeLimitExceededError(
            f"{field} is larger than {limit} bytes", check="entry-format", field=field, limit=limit
        )
    text = value.rstrip("=")
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise format_error(f"{field} is not valid base64", field) from exc


def _hex(value: object, field: str, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise format_error(f"{field} must be {2 * size} hex digits", field)
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise format_error(f"{field} must be hex", field) from exc


def _to_hashes(value: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


@attrs.frozen
class InclusionProof:
    """A Merkle inclusion proof of an entry, with the signed checkpoint it leads to.

    Attributes:
        log_index: the leaf's index *in the proof's tree*. On sharded Rekor v1 this is the
            index within the current shard and differs from the entry's global log index.
        root_hash: the root the proof leads to.
        tree_size: the size of that tree.
        hashes: the sibling hashes, leaf level first.
        checkpoint: the signed note committing to ``tree_size`` and ``root_hash``.
    """

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...] = attrs.field(converter=_to_hashes)
    checkpoint: str | None = None


def _proof_from(
    proof: Mapping[str, Any], field: str, *, hashes: list[bytes], root: bytes, protojson: bool
) -> InclusionProof:
    checkpoint = proof.get("checkpoint")
    if protojson and checkpoint is not None:
        checkpoint = json_object(checkpoint, f"{field}.checkpoint").get("envelope")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise format_error(f"{field}.checkpoint must be text", f"{field}.checkpoint")
    size = proof.get("treeSize", 0 if protojson else None)
    return InclusionProof(
        log_index=_int(
            proof.get("logIndex", 0 if protojson else None),
            f"{field}.logIndex",
            protojson=protojson,
        ),
        root_hash=root,
        tree_size=_int(size, f"{field}.treeSize", protojson=protojson),
        hashes=hashes,
        checkpoint=checkpoint or None,
    )


def _proof_hashes(value: object, field: str, decode: Any) -> list[bytes]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise format_error(f"{field} must be a list", field)
    if len(value) > MAX_PROOF_HASHES:
        raise SizeLimitExceededError(
            f"{field} has {len(value)} hashes; at most {MAX_PROOF_HASHES} are possible",
            check="inclusion-proof",
            limit=MAX_PROOF_HASHES,
        )
    return [decode(item, f"{field}[{i}]") for i, item in enumerate(value)]


@attrs.frozen
class LogEntry:
    """A Rekor v1 entry with whatever proofs came with it.

    Attributes:
        body: the canonical entry body (the leaf data).
        integrated_time: when the log says it added the entry (Unix seconds).
        log_id: the log's id (SHA-256 of its DER public key).
        log_index: the entry's global index in the log.
        signed_entry_timestamp: the log's signature over :meth:`set_payload` (the SET,
            "inclusion promise"), if any.
        inclusion_proof: the Merkle inclusion proof, if any.
        kind: the body's kind as the container states it (bundles state it).
        version: the body's API version as the container states it.
        uuid: the entry UUID (leaf hash, hex; optionally prefixed by a 16-hex tree id), when
            the entry came from the Rekor API.
    """

    body: bytes
    integrated_time: int
    log_id: bytes
    log_index: int
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None
    kind: str | None = None
    version: str | None = None
    uuid: str | None = None

    def leaf_hash(self) -> bytes:
        """Return the RFC 6962 leaf hash of the body (also the entry UUID)."""
        return leaf_hash(self.body)

    def set_payload(self) -> bytes:
        """Return the bytes the SET signs: RFC 8785 JSON of body, time, log id and index."""
        return rfc8785.dumps(
            {
                "body": b64text(self.body),
                "integratedTime": self.integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": self.log_index,
            }
        )

    def parse_body(self) -> EntryBody:
        """Parse :attr:`body` (see :func:`parse_body`).

        Raises:
            SizeLimitExceededError: the body is larger than :data:`MAX_BODY_BYTES`.
            TransparencyLogError: it is not an entry body (``check="entry-format"``).
        """
        return parse_body(self.body)

    @classmethod
    def from_cosign_bundle_annotation(cls, text: str | bytes) -> LogEntry:
        """Parse cosign's ``dev.sigstore.cosign/bundle`` annotation value.

        Raises:
            TransparencyLogError: it is malformed (``check="entry-format"``).
            SizeLimitExceededError: it or the body is too large.
        """
        document = json_object(
            load_json(text, "cosign bundle annotation", MAX_ENCODED_ENTRY_BYTES), "bundle"
        )
        payload = json_object(document.get("Payload"), "Payload")
        set_value = document.get("SignedEntryTimestamp")
        return cls(
            body=_b64(payload.get("body"), "Payload.body", limit=MAX_BODY_BYTES),
            integrated_time=_int(payload.get("integratedTime"), "Payload.integratedTime"),
            log_id=_hex(payload.get("logID"), "Payload.logID", _LOG_ID_SIZE),
            log_index=_int(payload.get("logIndex"), "Payload.logIndex"),
            signed_entry_timestamp=(
                None
                if set_value in (None, "")
                else _b64(set_value, "SignedEntryTimestamp", limit=_MAX_SIGNATURE_BYTES)
            ),
        )

    def to_cosign_bundle_annotation(self) -> str:
        """Return the ``dev.sigstore.cosign/bundle`` annotation value, as cosign writes it.

        Raises:
            MissingLogEntryError: the entry has no signed entry timestamp to carry.
        """
        if self.signed_entry_timestamp is None:
            raise MissingLogEntryError(
                "a cosign bundle annotation needs a signed entry timestamp", check="set"
            )
        document = {
            "SignedEntryTimestamp": b64text(self.signed_entry_timestamp),
            "Payload": {
                "body": b64text(self.body),
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id.hex(),
            },
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_bundle_tlog_entry(cls, obj: Mapping[str, Any]) -> LogEntry:
        """Parse one ``verificationMaterial.tlogEntries[]`` item of a Sigstore bundle.

        Raises:
            TransparencyLogError: it is malformed (``check="entry-format"``).
            SizeLimitExceededError: the body, SET or proof is too large.
        """
        entry = json_object(obj, "tlogEntry")
        kind_version = json_object(entry.get("kindVersion"), "kindVersion")
        promise = entry.get("inclusionPromise")
        signed_entry_timestamp = None
        if promise is not None:
            signed_entry_timestamp = _b64(
                json_object(promise, "inclusionPromise").get("signedEntryTimestamp"),
                "inclusionPromise.signedEntryTimestamp",
                limit=_MAX_SIGNATURE_BYTES,
            )
        proof = None
        if entry.get("inclusionProof") is not None:
            raw = json_object(entry["inclusionProof"], "inclusionProof")

            def decode(item: object, field: str) -> bytes:
                return _b64(item, field, limit=HASH_SIZE)

            proof = _proof_from(
                raw,
                "inclusionProof",
                hashes=_proof_hashes(raw.get("hashes"), "inclusionProof.hashes", decode),
                root=decode(raw.get("rootHash"), "inclusionProof.rootHash"),
                protojson=True,
            )
        log_id = _b64(
            json_object(entry.get("logId"), "logId").get("keyId"), "logId.keyId", limit=_LOG_ID_SIZE
        )
        if len(log_id) != _LOG_ID_SIZE:
            raise format_error(f"logId.keyId must be {_LOG_ID_SIZE} bytes", "logId.keyId")
        return cls(
            body=_b64(entry.get("canonicalizedBody"), "canonicalizedBody", limit=MAX_BODY_BYTES),
            integrated_time=_int(entry.get("integratedTime", 0), "integratedTime", protojson=True),
            log_id=log_id,
            log_index=_int(entry.get("logIndex", 0), "logIndex", protojson=True),
            signed_entry_timestamp=signed_entry_timestamp,
            inclusion_proof=proof,
            kind=text_field(kind_version.get("kind"), "kindVersion.kind"),
            version=text_field(kind_version.get("version"), "kindVersion.version"),
        )

    def to_bundle_tlog_entry(self) -> dict[str, Any]:
        """Return the protojson ``tlogEntries[]`` item (field order and omissions as Go's).

        Raises:
            TransparencyLogError: :attr:`kind` is unset and the body cannot be parsed.
        """
        kind, version = self.kind, self.version
        if kind is None or version is None:
            parsed = self.parse_body()
            kind, version = parsed.kind, parsed.api_version
        entry: dict[str, Any] = {}
        if self.log_index:
            entry["logIndex"] = str(self.log_index)
        entry["logId"] = {"keyId": b64text(self.log_id)}
        entry["kindVersion"] = {"kind": kind, "version": version}
        if self.integrated_time:
            entry["integratedTime"] = str(self.integrated_time)
        if self.signed_entry_timestamp is not None:
            entry["inclusionPromise"] = {
                "signedEntryTimestamp": b64text(self.signed_entry_timestamp)
            }
        if self.inclusion_proof is not None:
            proof = self.inclusion_proof
            item: dict[str, Any] = {}
            if proof.log_index:
                item["logIndex"] = str(proof.log_index)
            item["rootHash"] = b64text(proof.root_hash)
            item["treeSize"] = str(proof.tree_size)
            if proof.hashes:
                item["hashes"] = [b64text(h) for h in proof.hashes]
            if proof.checkpoint is not None:
                item["checkpoint"] = {"envelope": proof.checkpoint}
            entry["inclusionProof"] = item
        entry["canonicalizedBody"] = b64text(self.body)
        return entry

    @classmethod
    def from_rekor_response(cls, obj: Mapping[str, Any]) -> LogEntry:
        """Parse a Rekor v1 API entry: ``{"<uuid>": {"body", "integratedTime", ...}}``.

        Raises:
            TransparencyLogError: it is malformed (``check="entry-format"``).
            SizeLimitExceededError: the body, SET or proof is too large.
        """
        if not isinstance(obj, dict) or len(obj) != 1:
            raise format_error("a Rekor entry is an object with exactly one UUID key", "uuid")
        ((uuid, value),) = obj.items()
        if not re.fullmatch(r"(?:[0-9a-f]{16})?[0-9a-f]{64}", uuid):
            raise format_error("the entry UUID must be 64 or 80 lowercase hex digits", "uuid")
        entry = json_object(value, uuid)
        verification = entry.get("verification")
        signed_entry_timestamp = None
        proof = None
        if verification is not None:
            verification = json_object(verification, "verification")
            if verification.get("signedEntryTimestamp") is not None:
                signed_entry_timestamp = _b64(
                    verification["signedEntryTimestamp"],
                    "verification.signedEntryTimestamp",
                    limit=_MAX_SIGNATURE_BYTES,
                )
            if verification.get("inclusionProof") is not None:
                raw = json_object(verification["inclusionProof"], "verification.inclusionProof")

                def decode(item: object, field: str) -> bytes:
                    return _hex(item, field, HASH_SIZE)

                proof = _proof_from(
                    raw,
                    "verification.inclusionProof",
                    hashes=_proof_hashes(
                        raw.get("hashes"), "verification.inclusionProof.hashes", decode
                    ),
                    root=decode(raw.get("rootHash"), "verification.inclusionProof.rootHash"),
                    protojson=False,
                )
        return cls(
            body=_b64(entry.get("body"), "body", limit=MAX_BODY_BYTES),
            integrated_time=_int(entry.get("integratedTime"), "integratedTime"),
            log_id=_hex(entry.get("logID"), "logID", _LOG_ID_SIZE),
            log_index=_int(entry.get("logIndex"), "logIndex"),
            signed_entry_timestamp=signed_entry_timestamp,
            inclusion_proof=proof,
            uuid=uuid,
        )

    def to_rekor_response(self) -> dict[str, Any]:
        """Return the Rekor v1 API form ``{"<uuid>": {...}}`` (UUID: :attr:`uuid` or leaf hash)."""
        entry: dict[str, Any] = {
            "body": b64text(self.body),
            "integratedTime": self.integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": self.log_index,
        }
        verification: dict[str, Any] = {}
        if self.inclusion_proof is not None:
            proof = self.inclusion_proof
            verification["inclusionProof"] = {
                "checkpoint": proof.checkpoint,
                "hashes": [h.hex() for h in proof.hashes],
                "logIndex": proof.log_index,
                "rootHash": proof.root_hash.hex(),
                "treeSize": proof.tree_size,
            }
        if self.signed_entry_timestamp is not None:
            verification["signedEntryTimestamp"] = b64text(self.signed_entry_timestamp)
        if verification:
            entry["verification"] = verification
        return {self.uuid or self.leaf_hash().hex(): entry}


def parse_bundle_tlog_entries(items: object) -> tuple[LogEntry, ...]:
    """Parse a bundle's ``tlogEntries`` list, capped and without duplicates.

    Raises:
        SizeLimitExceededError: more than :data:`MAX_TLOG_ENTRIES` entries (checked first).
        TransparencyLogError: an entry is malformed, or two name the same log and index
            (``check="duplicate-entry"``; duplicates could inflate a threshold).
    """
    if not isinstance(items, list):
        raise format_error("tlogEntries must be a list", "tlogEntries")
    if len(items) > MAX_TLOG_ENTRIES:
        raise SizeLimitExceededError(
            f"bundle lists {len(items)} transparency-log entries; at most {MAX_TLOG_ENTRIES} "
            "are read",
            check="entry-count",
            limit=MAX_TLOG_ENTRIES,
        )
    entries = tuple(LogEntry.from_bundle_tlog_entry(item) for item in items)
    seen: set[tuple[bytes, int]] = set()
    for entry in entries:
        key = (entry.log_id, entry.log_index)
        if key in seen:
            raise TransparencyLogError(
                f"bundle lists log entry {entry.log_index} of log {entry.log_id.hex()} twice",
                check="duplicate-entry",
                log_index=entry.log_index,
            )
        seen.add(key)
    return entries
