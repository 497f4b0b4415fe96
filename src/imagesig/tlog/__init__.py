"""Transparency logs (Rekor): entries, proofs, trusted roots and offline verification.

A signature is "in the log" when a trusted transparency log vouches for an entry recording
exactly that signature, key and artifact. The pieces, each in its own module:

- :mod:`~imagesig.tlog.merkle` — RFC 6962 hashes, inclusion proofs, an in-memory tree;
- :mod:`~imagesig.tlog.checkpoint` — signed tree heads (signed notes) as Rekor v1 writes them;
- :mod:`~imagesig.tlog.entries` — the :class:`LogEntry` model and its three storage formats
  (cosign's bundle annotation, Sigstore bundle ``tlogEntries``, the Rekor API);
- :mod:`~imagesig.tlog.bodies` — the exact entry bodies Rekor stores and the entries a
  client submits (also importable from :mod:`~imagesig.tlog.entries`);
- :mod:`~imagesig.tlog.trust` — trusted roots: which logs, which keys, valid when;
- :mod:`~imagesig.tlog.verify` — :func:`verify_log_entry`, the one offline verifier for
  every format;
- :mod:`~imagesig.tlog.client` — the Rekor API client (loaded on first use).

Example:
    >>> from imagesig.tlog import LogEntry, TrustedRoot, ExpectedEntry, verify_log_entry
    >>> entry = LogEntry.from_cosign_bundle_annotation(annotation)  # doctest: +SKIP
    >>> expected = ExpectedEntry.hashedrekord(
    ...     signature=signature, public_key_pem=key_pem, digest_hex=payload_sha256
    ... )  # doctest: +SKIP
    >>> verify_log_entry(entry, TrustedRoot.from_environment(), expected)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagesig.tlog.checkpoint import (
    Checkpoint,
    NoteSignature,
    parse_signed_note,
    sign_checkpoint,
    verify_checkpoint,
)
from imagesig.tlog.entries import (
    MAX_BODY_BYTES,
    MAX_TLOG_ENTRIES,
    EntryBody,
    InclusionProof,
    LogEntry,
    canonical_pem,
    dsse_body,
    dsse_proposed_entry,
    hashedrekord_body,
    hashedrekord_proposed_entry,
    parse_body,
    parse_bundle_tlog_entries,
)
from imagesig.tlog.merkle import (
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_inclusion,
)
from imagesig.tlog.trust import (
    DEFAULT_REKOR_URL,
    CertificateAuthority,
    TransparencyLogInstance,
    TrustedRoot,
    load_log_public_key,
    log_id_for_key,
    verify_log_signature,
)
from imagesig.tlog.verify import (
    ExpectedEntry,
    VerifiedLogEntry,
    verify_entry_matches,
    verify_inclusion_proof,
    verify_log_entries,
    verify_log_entry,
    verify_signed_entry_timestamp,
)

if TYPE_CHECKING:
    from imagesig.tlog.client import (
        AsyncRekorClient,
        LogInfo,
        RekorClient,
        RekorProtocol,
    )

# The client lives in its own module and pulls in httpx; load it on first use so that
# offline verification never needs it.
_LAZY = {
    "AsyncRekorClient": "imagesig.tlog.client",
    "LogInfo": "imagesig.tlog.client",
    "RekorClient": "imagesig.tlog.client",
    "RekorProtocol": "imagesig.tlog.client",
}

__all__ = [
    "DEFAULT_REKOR_URL",
    "MAX_BODY_BYTES",
    "MAX_TLOG_ENTRIES",
    "AsyncRekorClient",
    "CertificateAuthority",
    "Checkpoint",
    "EntryBody",
    "ExpectedEntry",
    "InclusionProof",
    "LogEntry",
    "LogInfo",
    "MerkleTree",
    "NoteSignature",
    "RekorClient",
    "RekorProtocol",
    "TransparencyLogInstance",
    "TrustedRoot",
    "VerifiedLogEntry",
    "canonical_pem",
    "dsse_body",
    "dsse_proposed_entry",
    "hashedrekord_body",
    "hashedrekord_proposed_entry",
    "leaf_hash",
    "load_log_public_key",
    "log_id_for_key",
    "node_hash",
    "parse_body",
    "parse_bundle_tlog_entries",
    "parse_signed_note",
    "root_from_inclusion_proof",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_entry_matches",
    "verify_inclusion",
    "verify_inclusion_proof",
    "verify_log_entries",
    "verify_log_entry",
    "verify_log_signature",
    "verify_signed_entry_timestamp",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagesig.tlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
