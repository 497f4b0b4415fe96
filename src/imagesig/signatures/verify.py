"""``verify_image``: check an image's signatures against public keys, the way cosign does.

The reference is resolved once; the digest found is the one verified and the one the result
is pinned to, never looked up again. Signatures are gathered from both places (OCI referrers
holding Sigstore bundles, and the ``sha256-<hex>.sig`` manifest, see :mod:`.attach`) and each
one is judged on its own — one that fails never stops the others from being evaluated. The
image is verified when at least one signature passes every check with one of the given keys.

A legacy (``.sig``) signature passes when, in order:

1. its layer is a simple-signing payload with a base64 ``dev.cosignproject.cosign/signature``;
2. the payload parses and its ``docker-manifest-digest`` is exactly the image digest;
3. every required annotation is in the payload's ``optional`` object with an equal value;
4. the signature verifies over the payload's exact stored bytes with one of the keys;
5. a transparency-log entry vouches for it (unless the log is ignored): the entry in its
   ``dev.sigstore.cosign/bundle`` annotation, or — online only — one found in Rekor by the
   payload's hash; the entry must record this signature, this key and this payload's hash,
   come from a trusted log whose key was valid at the entry's time, and carry a valid promise
   (SET) or inclusion proof.

A bundle passes when:

1. it parses (strictly, under 10 MiB) and is at least version 0.3;
2. its content is a DSSE envelope whose ``payloadType`` is the in-toto type, holding an in-toto
   statement with a subject whose digest is the image digest (a message-signature bundle must
   instead have a ``messageDigest`` equal to the image digest, and signs the manifest itself);
3. every required annotation is on that subject with an equal value;
4. its verification material is a public key (certificate bundles need identity verification,
   which a key cannot give);
5. the signature verifies over the DSSE pre-authentication encoding built from the envelope's
   own payload bytes and type, with one of the keys;
6. its transparency-log entries (unless ignored) include one from a trusted log recording
   this signature, key and payload, with a valid inclusion proof or promise. Bundles must
   carry their entries; the log is not searched for them.

Signatures that are byte-for-byte duplicates of one already seen (the same layer twice, the
same bundle under two referrers) are evaluated once and the result says how many were
dropped. Reasons are sentences naming the check that failed and what was found.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import attrs

from imagesig._flow import Flow
from imagesig.client import Client, _RekorCall, _TrustedRootCall
from imagesig.errors import (
    ImageSigError,
    KeyFormatError,
    RekorError,
    SignatureFormatError,
    SizeLimitExceededError,
    TransparencyLogError,
    UnsupportedAlgorithmError,
)
from imagesig.reference import Digest, ImageReference
from imagesig.signatures import _json
from imagesig.signatures.attach import (
    LOG_BUNDLE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    AttachedSignature,
    Discovery,
    discover_flow,
    resolve_digest_flow,
)
from imagesig.signatures.bundle import Bundle
from imagesig.signatures.dsse import IN_TOTO_PAYLOAD_TYPE, MAX_SIGNATURE_BYTES
from imagesig.signatures.intoto import MAX_STATEMENT_BYTES, Statement
from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
from imagesig.signatures.result import (
    VERIFIED_REASON,
    SignatureCheck,
    VerificationResult,
)
from imagesig.signatures.sign import log_hash_algorithm
from imagesig.signatures.simplesigning import SIMPLE_SIGNING_MEDIA_TYPE, SimpleSigningPayload
from imagesig.signers.base import PublicKey
from imagesig.tlog.entries import LogEntry
from imagesig.tlog.trust import TrustedRoot
from imagesig.tlog.verify import (
    ExpectedEntry,
    VerifiedLogEntry,
    verify_log_entries,
    verify_log_entry,
)

__all__ = [
    "MAX_SEARCHED_ENTRIES",
    "TLOG_SKIPPED_WARNING",
    "KeyLike",
    "resolve_keys",
    "verify_flow",
    "verify_image",
]

#: What a key argument may be: a key, something with ``public_key()`` (a signer, a
#: verifier), PEM text or bytes, or the path (or ``file://`` URI) of a PEM file.
KeyLike: TypeAlias = PublicKey | str | bytes | os.PathLike[str]

#: The warning a result carries when transparency-log verification was skipped.
TLOG_SKIPPED_WARNING = "transparency log verification skipped (--insecure-ignore-tlog)"
#: Most Rekor entries fetched when searching the log for one legacy signature.
MAX_SEARCHED_ENTRIES = 10

_FILE_SCHEME = "file://"
_PEM_MARKER = "-----BEGIN"
_SUBJECTS_SHOWN = 3


def resolve_keys(keys: Any) -> tuple[PublicKey, ...]:
    """Turn a ``keys`` argument into public keys (see :data:`KeyLike`).

    Args:
        keys: one key-like value or a sequence of them.

    Returns:
        The keys, in order, without duplicates.

    Raises:
        KeyFormatError: PEM text holds no public key.
        SignerError: a key file cannot be read.
        UnsupportedAlgorithmError: a key type is not supported.
        ValueError: no key was given.
        TypeError: a value is not key-like.
    """
    items: Sequence[Any] = (
        [keys]
        if isinstance(keys, (PublicKey, str, bytes, os.PathLike)) or hasattr(keys, "public_key")
        else list(keys)
    )
    resolved: dict[PublicKey, None] = {}
    for item in items:
        resolved.setdefault(_resolve_key(item), None)
    if not resolved:
        raise ValueError("verification needs at least one public key")
    return tuple(resolved)


def _resolve_key(item: Any) -> PublicKey:
    if isinstance(item, PublicKey):
        return item
    if isinstance(item, bytes):
        return PublicKey.from_pem(item)
    if isinstance(item, str) and _PEM_MARKER in item:
        return PublicKey.from_pem(item)
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if "://" in path and not path.startswith(_FILE_SCHEME):
            # gcpkms://, env:// and plugin schemes: the provider fetches the public key.
            from imagesig.signers.uri import verifier_from_uri  # noqa: PLC0415 - lazy providers

            return verifier_from_uri(path).public_key()
        return PublicKey.from_file(path.removeprefix(_FILE_SCHEME))
    public_key = getattr(item, "public_key", None)
    if callable(public_key):
        key = public_key()
        if isinstance(key, PublicKey):
            return key
        raise KeyFormatError(f"{type(item).__name__}.public_key() did not return a PublicKey")
    raise TypeError(
        f"a key must be a PublicKey, PEM text or a file path, not {type(item).__name__}"
    )


class _RefusedError(Exception):
    """A signature failed a check; ``reason`` says which and why."""

    def __init__(self, reason: str, *, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_id = key_id


@attrs.frozen
class _Context:
    digest: Digest
    keys: tuple[PublicKey, ...]
    annotations: Mapping[str, str]
    options: TransparencyLogOptions
    root: TrustedRoot | None


def _describe_keys(count: int) -> str:
    return "the given key" if count == 1 else f"any of the {count} given keys"


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else _json.encode(value, html_safe=False)
    return repr(text if len(text) <= 100 else text[:100] + "...")


def _check_annotations(have: Mapping[str, Any] | None, ctx: _Context, where: str) -> None:
    present = have or {}
    for key, want in ctx.annotations.items():
        if key not in present:
            raise _RefusedError(f"annotation {key}={want} is required but {where} does not have it")
        if not _json.json_equal(present[key], want):
            raise _RefusedError(
                f"annotation {key} is required to be {want!r} but {where} has {_show(present[key])}"
            )


def _verifying_key(ctx: _Context, signature: bytes, data: bytes, what: str) -> PublicKey:
    for key in ctx.keys:
        if key.verify(signature, data):
            return key
    raise _RefusedError(f"{what} does not verify with {_describe_keys(len(ctx.keys))}")


def _tlog_reason(exc: ImageSigError) -> str:
    return f"transparency log: {exc.message}"


# -- legacy signatures ------------------------------------------------------------------------


def _check_legacy(found: AttachedSignature, ctx: _Context) -> Flow[SignatureCheck]:
    layer = found.layer
    content = found.content
    assert layer is not None
    assert content is not None
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
        raise _RefusedError(
            f"the layer's media type is {layer.media_type!r}, not the simple-signing type "
            f"{SIMPLE_SIGNING_MEDIA_TYPE!r}"
        )
    text = layer.annotations.get(SIGNATURE_ANNOTATION)
    if not text:
        raise _RefusedError(f"the layer has no {SIGNATURE_ANNOTATION} annotation")
    try:
        signature = _json.decode_base64(
            text,
            field=SIGNATURE_ANNOTATION,
            error=SignatureFormatError,
            max_bytes=MAX_SIGNATURE_BYTES,
        )
    except (SignatureFormatError, SizeLimitExceededError) as exc:
        raise _RefusedError(
            f"the {SIGNATURE_ANNOTATION} annotation is unusable: {exc.message}"
        ) from exc
    try:
        payload = SimpleSigningPayload.parse(content)
    except (SignatureFormatError, SizeLimitExceededError) as exc:
        raise _RefusedError(f"the simple-signing payload is malformed: {exc.message}") from exc
    if not payload.matches(ctx.digest):
        raise _RefusedError(
            f"the payload signs image {payload.docker_manifest_digest}, not the verified "
            f"image {ctx.digest}"
        )
    _check_annotations(payload.optional, ctx, "the payload")
    key = _verifying_key(ctx, signature, content, "the signature over the payload")
    if ctx.options.ignore:
        return SignatureCheck(SignatureFormat.LEGACY, key.key_id, True, VERIFIED_REASON, "")
    assert ctx.root is not None
    algorithm = log_hash_algorithm(key)
    expected = ExpectedEntry.hashedrekord(
        signature=signature,
        public_key_pem=key.pem,
        digest_hex=hashlib.new(algorithm, content).hexdigest(),
        algorithm=algorithm,
    )
    verified = yield from _layer_log_entry(layer.annotations, ctx, key, expected)
    return _passed(SignatureFormat.LEGACY, key, verified)


def _layer_log_entry(
    annotations: Mapping[str, str],
    ctx: _Context,
    key: PublicKey,
    expected: ExpectedEntry,
    *,
    query: str | None = None,
) -> Flow[VerifiedLogEntry]:
    """The entry vouching for a layer's signature: the one in its
    ``dev.sigstore.cosign/bundle`` annotation, or else one found in the log (see
    :func:`_search_log`)."""
    assert ctx.root is not None
    annotation = annotations.get(LOG_BUNDLE_ANNOTATION)
    if annotation:
        try:
            entry = LogEntry.from_cosign_bundle_annotation(annotation)
            return verify_log_entry(entry, ctx.root, expected)
        except (TransparencyLogError, SizeLimitExceededError) as exc:
            raise _RefusedError(_tlog_reason(exc), key_id=key.key_id) from exc
    return (yield from _search_log(expected, ctx, key, query=query))


def _search_log(
    expected: ExpectedEntry, ctx: _Context, key: PublicKey, *, query: str | None = None
) -> Flow[VerifiedLogEntry]:
    """Find the entry recording a signature in the log; ``query`` is the index hash searched
    (default: the payload digest of a ``hashedrekord`` expectation)."""
    url = ctx.options.rekor_url
    if ctx.options.offline:
        raise _RefusedError(
            f"no transparency-log entry is attached (no {LOG_BUNDLE_ANNOTATION} annotation) "
            "and offline verification does not search the log",
            key_id=key.key_id,
        )
    assert ctx.root is not None
    if query is None:
        assert expected.digest_hex is not None
        query = f"{expected.digest_algorithm}:{expected.digest_hex}"
    try:
        uuids: list[str] = yield _RekorCall(url, "search_by_hash", (query,))
        last: ImageSigError | None = None
        for uuid in uuids[:MAX_SEARCHED_ENTRIES]:
            entry: LogEntry = yield _RekorCall(url, "get_entry", (uuid,))
            try:
                return verify_log_entry(entry, ctx.root, expected)
            except (TransparencyLogError, SizeLimitExceededError) as exc:
                last = exc
    except (RekorError, SizeLimitExceededError, ValueError) as exc:
        detail = exc.message if isinstance(exc, ImageSigError) else str(exc)
        raise _RefusedError(
            f"transparency log: searching {url} failed: {detail}", key_id=key.key_id
        ) from exc
    suffix = f" (the last candidate: {last.message})" if last is not None else ""
    raise _RefusedError(
        f"transparency log: no entry in {url} records this signature{suffix}",
        key_id=key.key_id,
    )


# -- bundles ----------------------------------------------------------------------------------


def _describe_subjects(statement: Statement) -> str:
    shown = [
        ", ".join(f"{algorithm}:{value}" for algorithm, value in sorted(subject.digest.items()))
        for subject in statement.subjects[:_SUBJECTS_SHOWN]
    ]
    more = len(statement.subjects) - len(shown)
    return "; ".join(shown) + (f" and {more} more" if more > 0 else "")


def _check_bundle_version(bundle: Bundle) -> None:
    if bundle.version[:2] < (0, 3):
        version = ".".join(map(str, bundle.version))
        raise _RefusedError(
            f"bundle version {version} is older than 0.3, the oldest accepted on images"
        )


def _parse_statement(
    payload_type: str, payload: bytes, *, max_bytes: int = MAX_STATEMENT_BYTES
) -> Statement:
    """The in-toto statement a DSSE envelope carries, refused unless its type says so."""
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise _RefusedError(
            f"the DSSE payloadType is {payload_type[:100]!r}, not {IN_TOTO_PAYLOAD_TYPE!r}"
        )
    try:
        return Statement.parse(payload, max_bytes=max_bytes)
    except (SignatureFormatError, SizeLimitExceededError) as exc:
        raise _RefusedError(f"the in-toto statement is malformed: {exc.message}") from exc


def _check_subject(statement: Statement, ctx: _Context) -> None:
    """One subject is the verified image and carries every required annotation."""
    subject = statement.matching_subject(ctx.digest)
    if subject is None:
        raise _RefusedError(
            f"the in-toto statement's subject is {_describe_subjects(statement)}, not the "
            f"verified image {ctx.digest}"
        )
    _check_annotations(subject.annotations, ctx, "the statement's subject")


def _bundle_log_entry(
    bundle: Bundle, ctx: _Context, key: PublicKey, expected: ExpectedEntry
) -> VerifiedLogEntry:
    """The first of a bundle's own transparency-log entries that vouches for it."""
    assert ctx.root is not None
    try:
        entries = bundle.log_entries()
        if not entries:
            raise _RefusedError("the bundle carries no transparency-log entry", key_id=key.key_id)
        verified = verify_log_entries(entries, ctx.root, expected)
    except (TransparencyLogError, SizeLimitExceededError) as exc:
        raise _RefusedError(_tlog_reason(exc), key_id=key.key_id) from exc
    return verified[0]


def _check_bundle(found: AttachedSignature, bundle: Bundle, ctx: _Context) -> SignatureCheck:
    _check_bundle_version(bundle)
    material = bundle.verification_material
    keyless = material.leaf_certificate is not None
    expected: ExpectedEntry
    if bundle.dsse_envelope is not None:
        envelope = bundle.dsse_envelope
        _check_subject(_parse_statement(envelope.payload_type, envelope.payload), ctx)
        if keyless:
            raise _RefusedError(_KEYLESS)
        signature = envelope.signatures[0].sig
        key = _verifying_key(ctx, signature, envelope.pae_bytes(), "the DSSE signature")
        expected = ExpectedEntry.dsse(
            signature=signature, public_key_pem=key.pem, payload=envelope.payload
        )
    else:
        message = bundle.message_signature
        assert message is not None
        image_digest = bytes.fromhex(ctx.digest.hex)
        if message.hashlib_name != ctx.digest.algorithm or message.digest != image_digest:
            raise _RefusedError(
                f"the bundle's messageDigest is {message.digest_algorithm} "
                f"{message.digest.hex()}, not the verified image {ctx.digest}"
            )
        if ctx.annotations:
            raise _RefusedError(
                "annotations are required but a message-signature bundle carries none"
            )
        if keyless:
            raise _RefusedError(_KEYLESS)
        key = _verifying_digest_key(ctx, message.signature, image_digest)
        signature = message.signature
        expected = ExpectedEntry.hashedrekord(
            signature=signature,
            public_key_pem=key.pem,
            digest_hex=ctx.digest.hex,
            algorithm=ctx.digest.algorithm,
        )
    if ctx.options.ignore:
        return SignatureCheck(SignatureFormat.BUNDLE, key.key_id, True, VERIFIED_REASON, "")
    return _passed(SignatureFormat.BUNDLE, key, _bundle_log_entry(bundle, ctx, key, expected))


_KEYLESS = (
    "the bundle is signed with a certificate (keyless signing); verifying it needs a "
    "certificate identity, not a key"
)


def _verifying_digest_key(ctx: _Context, signature: bytes, digest: bytes) -> PublicKey:
    for key in ctx.keys:
        try:
            if key.verify_digest(signature, digest):
                return key
        except UnsupportedAlgorithmError:
            continue
    raise _RefusedError(
        f"the message signature does not verify with {_describe_keys(len(ctx.keys))}"
    )


def _passed(format: SignatureFormat, key: PublicKey, entry: VerifiedLogEntry) -> SignatureCheck:
    return SignatureCheck(
        format,
        key.key_id,
        True,
        VERIFIED_REASON,
        "",
        log_index=entry.log_index,
        integrated_time=entry.integrated_time,
    )


# -- the operation ----------------------------------------------------------------------------


@attrs.frozen
class _Prepared:
    """A found signature, parsed as far as needed to recognise duplicates."""

    found: AttachedSignature
    identity: tuple[Any, ...]
    bundle: Bundle | None = None
    refusal: str | None = None


def _prepare(found: AttachedSignature) -> _Prepared:
    """Parse what needs parsing; the identity is the exact stored form of the signature.

    Only byte-for-byte duplicates are dropped: the same layer (digest and annotations) or the
    same bundle blob. A copy carrying other annotations or another log entry is judged on its
    own, so a forged twin listed first can never hide the genuine signature.
    """
    if found.error is not None or found.content is None or found.layer is None:
        return _Prepared(found, ("unreadable", found.location), refusal=found.error)
    if found.format is SignatureFormat.LEGACY:
        annotations = tuple(sorted(found.layer.annotations.items()))
        return _Prepared(found, ("legacy", found.layer.digest, annotations))
    identity = ("bundle", found.layer.digest)
    try:
        bundle = Bundle.parse(found.content)
    except (SignatureFormatError, SizeLimitExceededError) as exc:
        return _Prepared(found, identity, refusal=f"the bundle is malformed: {exc.message}")
    return _Prepared(found, identity, bundle=bundle)


def _judge(prepared: _Prepared, ctx: _Context) -> Flow[SignatureCheck]:
    found = prepared.found
    try:
        if prepared.refusal is not None:
            raise _RefusedError(prepared.refusal)
        if prepared.bundle is not None:
            check = _check_bundle(found, prepared.bundle, ctx)
        else:
            check = yield from _check_legacy(found, ctx)
    except _RefusedError as refusal:
        return SignatureCheck(found.format, refusal.key_id, False, refusal.reason, found.location)
    return attrs.evolve(check, location=found.location)


_T = TypeVar("_T")


def _judge_all(
    discovery: Discovery,
    ctx: _Context,
    judge: Callable[[_Prepared, _Context], Flow[_T | None]],
    noun: str,
) -> Flow[tuple[tuple[_T, ...], tuple[str, ...]]]:
    """Judge each distinct signature found, in order (``None`` judgements are left out).

    Returns:
        The judgements and the warnings: a skipped log, the duplicates dropped (each a
        ``noun``) and what discovery warned of.
    """
    checks: list[_T] = []
    seen: set[tuple[Any, ...]] = set()
    duplicates = 0
    for found in discovery.signatures:
        prepared = _prepare(found)
        if prepared.identity in seen:
            duplicates += 1
            continue
        seen.add(prepared.identity)
        check = yield from judge(prepared, ctx)
        if check is not None:
            checks.append(check)
    warnings: list[str] = []
    if ctx.options.ignore:
        warnings.append(TLOG_SKIPPED_WARNING)
    if duplicates:
        warnings.append(
            f"{duplicates} duplicate {noun}{'s' if duplicates > 1 else ''} counted once"
        )
    warnings.extend(discovery.warnings)
    return tuple(checks), tuple(warnings)


def _context_flow(
    digest: Digest,
    discovery: Discovery,
    keys: Sequence[PublicKey],
    annotations: Mapping[str, str] | None,
    options: TransparencyLogOptions,
) -> Flow[_Context]:
    """The context every signature found is judged in; the trusted root is loaded only when
    there is something to check against the log."""
    root: TrustedRoot | None = None
    if discovery.signatures and not options.ignore:
        root = yield _TrustedRootCall(options)
    return _Context(digest, tuple(keys), dict(annotations or {}), options, root)


def verify_flow(
    reference: ImageReference,
    keys: Sequence[PublicKey],
    *,
    annotations: Mapping[str, str] | None = None,
    tlog: TransparencyLogOptions | None = None,
) -> Flow[VerificationResult]:
    """The verification operation as a flow (see the module notes); run by the clients.

    Args:
        reference: the image; a tag is resolved once, a digest is used as is.
        keys: the trusted public keys.
        annotations: annotations every accepted signature must carry.
        tlog: transparency-log options (default cosign's).

    Returns:
        The result, pinned to the verified digest.
    """
    options = tlog or TransparencyLogOptions()
    digest = yield from resolve_digest_flow(reference)
    discovery = yield from discover_flow(reference.repository, digest)
    ctx = yield from _context_flow(digest, discovery, keys, annotations, options)
    checks, warnings = yield from _judge_all(discovery, ctx, _judge, "signature")
    return VerificationResult(
        image=reference.with_digest(digest),
        digest=digest,
        verified=any(check.ok for check in checks),
        signatures=checks,
        warnings=warnings,
    )


def verify_image(
    reference: str | ImageReference,
    keys: Sequence[KeyLike] | KeyLike,
    *,
    annotations: Mapping[str, str] | None = None,
    tlog: TransparencyLogOptions | None = None,
    client: Client | None = None,
) -> VerificationResult:
    """Verify an image's signatures with public keys (see the module notes).

    Args:
        reference: the image; a tag is resolved to a digest once and only that digest is
            verified (and returned in the result).
        keys: trusted public keys: :class:`~imagesig.signers.PublicKey` objects, PEM text or
            bytes, paths or ``file://`` URIs of PEM files (``cosign.pub``).
        annotations: ``-a key=value`` annotations a signature must carry to count.
        tlog: transparency-log options; default the client's (a proof is required).
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The result; ``result.verified`` (or ``bool(result)``) says whether to trust the
        image at ``result.image``. Policy failures are in the result, not raised.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the tag does not exist.
        KeyFormatError: a key is not a PEM public key.
        SignerError: a key file cannot be read.
        TrustRootError: the trusted root could not be loaded.
        RegistryError: the registry failed while listing signatures.
        StoreError: another store failure while listing signatures.

    Example:
        >>> result = verify_image("registry.example.com/app:1.4", ["cosign.pub"])  # doctest: +SKIP
        >>> result.raise_for_failure()  # doctest: +SKIP
    """
    if client is not None:
        return client.verify_image(reference, keys, annotations=annotations, tlog=tlog)
    with Client() as temporary:
        return temporary.verify_image(reference, keys, annotations=annotations, tlog=tlog)
