"""``verify_attestations``: check an image's attestations against public keys, as cosign does.

The reference is resolved once and the digest found is the one checked and reported.
Attestations are gathered from both places (OCI referrers holding Sigstore bundles, and the
layers of the ``sha256-<hex>.att`` image, see :mod:`.attach`); at most 100 are examined, and
each is judged on its own. Every attestation found is listed in the result with its
statement, predicate type, signing key, status and reason.

An attestation **verifies** when, in order:

1. it is a DSSE envelope — a bundle (parsed strictly, version 0.3 or later) or an ``.att``
   layer of media type ``application/vnd.dsse.envelope.v1+json`` read under its cap — whose
   ``payloadType`` is ``application/vnd.in-toto+json``; any other type is refused, since the
   signature covers the type (a verifier must never read the payload as something else);
2. its payload is an in-toto statement (v1 or v0.1) no larger than ``max_statement_bytes``
   (16 MiB by default) with at most 1024 subjects, and one subject's digest is exactly the
   image digest (names are ignored, as cosign ignores them);
3. every required annotation is on that subject with an equal value;
4. it is signed with a key (certificate bundles need an identity, which a key cannot give)
   and a signature verifies over the DSSE pre-authentication encoding with one of the keys;
5. a transparency-log entry vouches for it, unless the log is ignored: a bundle's own
   entries (with an inclusion proof or promise), or for an ``.att`` layer the entry in its
   ``dev.sigstore.cosign/bundle`` annotation — which must record exactly the layer's bytes
   (``envelopeHash``), this signature and this key — or, online only, one found in the log
   by the envelope's hash.

Then its predicate type is compared with the one asked for: a verified attestation of
another type is listed as ``wrong-type`` and never counts. The image passes when at least
``threshold`` distinct keys verified attestations of the type asked for; asking for a type
of which none exists is a failure whose summary names the types that were found
(GHSA-vjxv-45g9-9296). ``predicate_type=None`` accepts any type.

Image signatures made in the bundle format are DSSE statements too (predicate type
``https://sigstore.dev/cosign/sign/v1``); they are left out of the list unless that type is
asked for, and message-signature bundles are never attestations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imagesig._flow import Flow
from imagesig.client import Client
from imagesig.errors import (
    SignatureFormatError,
    SizeLimitExceededError,
)
from imagesig.reference import ImageReference
from imagesig.signatures.attach import (
    ATTESTATION_TAG_SUFFIX,
    AttachedSignature,
    discover_flow,
    resolve_digest_flow,
)
from imagesig.signatures.attest import DEFAULT_MAX_STATEMENT_BYTES
from imagesig.signatures.bundle import Bundle
from imagesig.signatures.dsse import DSSE_ENVELOPE_MEDIA_TYPE, Envelope
from imagesig.signatures.intoto import (
    COSIGN_SIGN_PREDICATE_TYPE,
    Statement,
    resolve_predicate_type,
)
from imagesig.signatures.options import TransparencyLogOptions
from imagesig.signatures.result import (
    VERIFIED_REASON,
    AttestationCheck,
    AttestationStatus,
    AttestationVerificationResult,
)
from imagesig.signatures.verify import (
    _KEYLESS,
    KeyLike,
    _bundle_log_entry,
    _check_bundle_version,
    _check_subject,
    _Context,
    _context_flow,
    _describe_keys,
    _judge_all,
    _layer_log_entry,
    _parse_statement,
    _Prepared,
    _RefusedError,
    _verifying_key,
)
from imagesig.signers.base import PublicKey
from imagesig.tlog.verify import (
    ExpectedEntry,
    VerifiedLogEntry,
)

__all__ = [
    "DEFAULT_MAX_STATEMENT_BYTES",
    "envelope_cap",
    "verify_attestations",
    "verify_attestations_flow",
]

# Room in an .att layer beyond the base64 statement: up to 32 signatures and the JSON around.
_ENVELOPE_OVERHEAD = 4 * 1024 * 1024


def envelope_cap(max_statement_bytes: int) -> int:
    """The largest ``.att`` layer read for statements of up to ``max_statement_bytes``."""
    return 4 * ((max_statement_bytes + 2) // 3) + _ENVELOPE_OVERHEAD


@attrs.define
class _Seen:
    """What is known about an attestation so far (kept when a later check refuses it)."""

    statement: Statement | None = None
    key: PublicKey | None = None


@attrs.frozen
class _Passed:
    key: PublicKey
    entry: VerifiedLogEntry | None


class _SkippedError(Exception):
    """Not an attestation (a message signature, or an image signature not asked for)."""


def _statement(payload_type: str, payload: bytes, max_bytes: int, seen: _Seen) -> Statement:
    statement = _parse_statement(payload_type, payload, max_bytes=max_bytes)
    seen.statement = statement
    return statement


def _check_statement(statement: Statement, ctx: _Context, wanted: str | None) -> None:
    if (
        statement.predicate_type == COSIGN_SIGN_PREDICATE_TYPE
        and wanted != statement.predicate_type
    ):
        raise _SkippedError
    _check_subject(statement, ctx)


def _check_bundle(
    bundle: Bundle, ctx: _Context, wanted: str | None, seen: _Seen, cap: int
) -> _Passed:
    envelope = bundle.dsse_envelope
    if envelope is None:
        raise _SkippedError  # a message signature: an image signature, not an attestation
    _check_bundle_version(bundle)
    statement = _statement(envelope.payload_type, envelope.payload, cap, seen)
    _check_statement(statement, ctx, wanted)
    if bundle.verification_material.leaf_certificate is not None:
        raise _RefusedError(_KEYLESS)
    signature = envelope.signatures[0].sig
    key = _verifying_key(ctx, signature, envelope.pae_bytes(), "the DSSE signature")
    seen.key = key
    if ctx.options.ignore:
        return _Passed(key, None)
    expected = ExpectedEntry.dsse(
        signature=signature, public_key_pem=key.pem, payload=envelope.payload
    )
    return _Passed(key, _bundle_log_entry(bundle, ctx, key, expected))


def _check_layer(
    found: AttachedSignature, ctx: _Context, wanted: str | None, seen: _Seen, cap: int
) -> Flow[_Passed]:
    layer, content = found.layer, found.content
    assert layer is not None
    assert content is not None
    if layer.media_type != DSSE_ENVELOPE_MEDIA_TYPE:
        raise _RefusedError(
            f"the layer's media type is {layer.media_type[:100]!r}, not the DSSE envelope type "
            f"{DSSE_ENVELOPE_MEDIA_TYPE!r}"
        )
    try:
        envelope = Envelope.parse(content, max_bytes=envelope_cap(cap))
    except (SignatureFormatError, SizeLimitExceededError) as exc:
        raise _RefusedError(f"the DSSE envelope is malformed: {exc.message}") from exc
    statement = _statement(envelope.payload_type, envelope.payload, cap, seen)
    _check_statement(statement, ctx, wanted)
    if not envelope.signatures:
        raise _RefusedError("the DSSE envelope has no signature")
    pae = envelope.pae_bytes()
    # Any one signature by one of the keys suffices; each distinct signature is tried once.
    match = next(
        (
            (signature, key)
            for signature in dict.fromkeys(item.sig for item in envelope.signatures)
            for key in ctx.keys
            if key.verify(signature, pae)
        ),
        None,
    )
    if match is None:
        count = len(envelope.signatures)
        what = "the DSSE signature" if count == 1 else f"none of the {count} DSSE signatures"
        verb = "does not verify" if count == 1 else "verifies"
        raise _RefusedError(f"{what} {verb} with {_describe_keys(len(ctx.keys))}")
    signature, key = match
    seen.key = key
    if ctx.options.ignore:
        return _Passed(key, None)
    assert ctx.root is not None
    expected = ExpectedEntry.dsse(
        signature=signature, public_key_pem=key.pem, payload=envelope.payload, envelope=content
    )
    query = f"sha256:{hashlib.sha256(content).hexdigest()}"
    verified = yield from _layer_log_entry(layer.annotations, ctx, key, expected, query=query)
    return _Passed(key, verified)


def _judge(
    prepared: _Prepared, ctx: _Context, wanted: str | None, cap: int
) -> Flow[AttestationCheck | None]:
    found = prepared.found
    seen = _Seen()
    try:
        if prepared.refusal is not None:
            raise _RefusedError(prepared.refusal)
        if prepared.bundle is not None:
            passed = _check_bundle(prepared.bundle, ctx, wanted, seen, cap)
        else:
            passed = yield from _check_layer(found, ctx, wanted, seen, cap)
    except _SkippedError:
        return None
    except _RefusedError as refusal:
        key_id = refusal.key_id or (seen.key.key_id if seen.key is not None else None)
        return AttestationCheck(
            found.format,
            AttestationStatus.FAILED,
            refusal.reason,
            found.location,
            predicate_type=None if seen.statement is None else seen.statement.predicate_type,
            statement=seen.statement,
            key_id=key_id,
        )
    statement = seen.statement
    assert statement is not None
    status, reason = AttestationStatus.VERIFIED, VERIFIED_REASON
    if wanted is not None and statement.predicate_type != wanted:
        status = AttestationStatus.WRONG_TYPE
        reason = (
            f"the predicate type is {statement.predicate_type[:200]!r}, not the requested "
            f"{wanted!r}"
        )
    entry = passed.entry
    return AttestationCheck(
        found.format,
        status,
        reason,
        found.location,
        predicate_type=statement.predicate_type,
        statement=statement,
        key_id=passed.key.key_id,
        log_index=None if entry is None else entry.log_index,
        integrated_time=None if entry is None else entry.integrated_time,
    )


def verify_attestations_flow(
    reference: ImageReference,
    keys: Sequence[PublicKey],
    *,
    predicate_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    tlog: TransparencyLogOptions | None = None,
    threshold: int = 1,
    max_statement_bytes: int = DEFAULT_MAX_STATEMENT_BYTES,
) -> Flow[AttestationVerificationResult]:
    """The attestation verification as a flow (see the module notes); run by the clients.

    Args:
        reference: the image; a tag is resolved once, a digest is used as is.
        keys: the trusted public keys.
        predicate_type: the predicate type asked for (short name or URI); ``None``: any.
        annotations: annotations the statement's subject must carry.
        tlog: transparency-log options (default cosign's).
        threshold: distinct keys that must verify an attestation of the type.
        max_statement_bytes: the largest statement read.

    Returns:
        The result, pinned to the verified digest.
    """
    wanted = None if predicate_type is None else resolve_predicate_type(predicate_type)
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, not {threshold}")
    if max_statement_bytes < 1:
        raise ValueError(f"max_statement_bytes must be positive, not {max_statement_bytes}")
    options = tlog or TransparencyLogOptions()
    digest = yield from resolve_digest_flow(reference)
    discovery = yield from discover_flow(
        reference.repository,
        digest,
        suffix=ATTESTATION_TAG_SUFFIX,
        legacy_cap=envelope_cap(max_statement_bytes),
    )
    ctx = yield from _context_flow(digest, discovery, keys, annotations, options)

    def judge(prepared: _Prepared, ctx: _Context) -> Flow[AttestationCheck | None]:
        return _judge(prepared, ctx, wanted, max_statement_bytes)

    checks, warnings = yield from _judge_all(discovery, ctx, judge, "attestation")
    # Distinct keys only: one key verifying several attestations counts once.
    keys_verified = {check.key_id for check in checks if check.ok and check.key_id is not None}
    return AttestationVerificationResult(
        image=reference.with_digest(digest),
        digest=digest,
        predicate_type=wanted,
        verified=len(keys_verified) >= threshold,
        attestations=checks,
        warnings=warnings,
        threshold=threshold,
    )


def verify_attestations(
    reference: str | ImageReference,
    keys: Sequence[KeyLike] | KeyLike,
    *,
    predicate_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    tlog: TransparencyLogOptions | None = None,
    threshold: int = 1,
    max_statement_bytes: int = DEFAULT_MAX_STATEMENT_BYTES,
    client: Client | None = None,
) -> AttestationVerificationResult:
    """Verify an image's attestations with public keys (see the module notes).

    Args:
        reference: the image; a tag is resolved to a digest once and only that digest is
            checked (and returned in the result).
        keys: trusted public keys: :class:`~imagesig.signers.PublicKey` objects, PEM text or
            bytes, paths or ``file://`` URIs of PEM files (``cosign.pub``).
        predicate_type: the predicate type required: a cosign short name (``slsaprovenance``,
            ``slsaprovenance1``, ``spdxjson``, ``cyclonedx``, ``vuln``, ``openvex``,
            ``custom``, ``link``...) or a URI. ``None`` accepts any type (``cosign
            verify-attestation`` defaults to ``custom``; its CLI here does too).
        annotations: ``-a key=value`` annotations the statement's subject must carry.
        tlog: transparency-log options; default the client's (a proof is required).
        threshold: how many distinct keys must have verified an attestation of the type
            (one key verifying several attestations counts once).
        max_statement_bytes: the largest statement read (16 MiB by default; bundles are
            capped at 10 MiB whatever this says, as in cosign).
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The result; ``result.verified`` (or ``bool(result)``) says whether to trust the
        statements in ``result.statements``, about the image at ``result.image``. Failures
        are in the result, not raised (see
        :meth:`~imagesig.signatures.result.AttestationVerificationResult.raise_for_failure`).

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the tag does not exist.
        StatementError: ``predicate_type`` is neither a short name nor a URI.
        KeyFormatError: a key is not a PEM public key.
        SignerError: a key file cannot be read.
        TrustRootError: the trusted root could not be loaded.
        RegistryError: the registry failed while listing attestations.
        StoreError: another store failure while listing attestations.
        ValueError: ``threshold`` or ``max_statement_bytes`` is below 1.

    Example:
        >>> result = verify_attestations(  # doctest: +SKIP
        ...     "registry.example.com/app:1.4", "cosign.pub", predicate_type="slsaprovenance1"
        ... )
        >>> result.raise_for_failure()  # doctest: +SKIP
        >>> [p.builder_id for p in result.typed_predicates()]  # doctest: +SKIP
        ['https://ci.example.com/builder']
    """
    arguments: dict[str, Any] = {
        "predicate_type": predicate_type,
        "annotations": annotations,
        "tlog": tlog,
        "threshold": threshold,
        "max_statement_bytes": max_statement_bytes,
    }
    if client is not None:
        return client.verify_attestations(reference, keys, **arguments)
    with Client() as temporary:
        return temporary.verify_attestations(reference, keys, **arguments)
