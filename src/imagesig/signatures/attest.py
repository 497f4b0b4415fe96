"""``attest_image``: sign an in-toto statement about an image and attach it, as cosign does.

An attestation is a claim about an image — its SLSA provenance, an SBOM, a vulnerability
scan, anything with a predicate type — made verifiable: the predicate goes into an in-toto
statement whose subject is the image digest, the statement is signed as a DSSE envelope
(payload type ``application/vnd.in-toto+json``, signature over the DSSE pre-authentication
encoding), the envelope is recorded in the transparency log as a ``dsse`` entry, and the
result is attached next to the image.

The statement imagesig writes is an in-toto **v1** statement (``cosign attest`` writes v0.1;
every verifier accepts both)::

    {"_type":"https://in-toto.io/Statement/v1",
     "subject":[{"name":"<registry>/<repository>","digest":{"sha256":"<hex>"}}],
     "predicateType":"<URI>","predicate":{...}}

The subject is named after the repository the way cosign names it, and its digest is the
digest of the manifest bytes fetched once when the reference was resolved (a registry's
``Docker-Content-Digest`` is never trusted for what gets attested).

Two storage formats, as for signatures:

* **bundle** (default, cosign v3): a Sigstore bundle v0.3 holding the envelope and the log
  entry with its inclusion proof, attached as an OCI 1.1 referrer of the image whose
  ``dev.sigstore.bundle.predicateType`` annotation names the predicate type. Each
  attestation is its own referrer, so concurrent attesters never overwrite each other (on
  registries without the referrers API the ``sha256-<hex>`` index is updated with the
  store's re-read-after-write loop);
* **legacy**: the envelope bytes as one layer (media type
  ``application/vnd.dsse.envelope.v1+json``, annotations ``predicateType``, an empty
  ``dev.cosignproject.cosign/signature`` and the log entry in ``dev.sigstore.cosign/bundle``)
  appended to the image tagged ``sha256-<hex>.att``, with the same locking and
  re-read-after-write as ``.sig`` appends; ``replace=True`` drops the layers of the same
  predicate type first (``cosign attest --replace``). The layer holds exactly the bytes
  submitted to the log, so the entry's ``envelopeHash`` matches it.

As with :func:`~imagesig.sign_image`, the signature is checked with the signer's public key
and the log entry against the trusted root before anything is attached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from imagesig._flow import Flow
from imagesig.client import Client, _StoreCall, _TrustedRootCall
from imagesig.errors import SizeLimitExceededError
from imagesig.oci.model import Descriptor, Index, Manifest
from imagesig.reference import Digest, ImageReference
from imagesig.signatures.attach import (
    ATTESTATION_TAG_SUFFIX,
    PREDICATE_TYPE_ANNOTATION,
    append_signature_flow,
    attach_bundle_flow,
    attestation_layer,
)
from imagesig.signatures.bundle import (
    BUNDLE_V03_MEDIA_TYPE,
    MAX_BUNDLE_BYTES,
    Bundle,
    VerificationMaterial,
    cosign_key_hint,
)
from imagesig.signatures.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, EnvelopeSignature, pae
from imagesig.signatures.intoto import (
    STATEMENT_TYPE_V1,
    Statement,
    Subject,
    resolve_predicate_type,
)
from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
from imagesig.signatures.result import AttestResult
from imagesig.signatures.sign import _create_entry, _sign, _SignerCall
from imagesig.signatures.simplesigning import cosign_repository_name
from imagesig.signers._password import PasswordSource
from imagesig.signers.base import AsyncSigner, PublicKey, Signer
from imagesig.tlog.entries import LogEntry, dsse_proposed_entry
from imagesig.tlog.trust import TrustedRoot
from imagesig.tlog.verify import ExpectedEntry, verify_log_entry

__all__ = [
    "DEFAULT_MAX_STATEMENT_BYTES",
    "PredicateLike",
    "attest_flow",
    "attest_image",
    "build_statement",
]

#: Largest statement imagesig writes, and reads by default when verifying attestations.
DEFAULT_MAX_STATEMENT_BYTES: Final = 16 * 1024 * 1024
# Room in a bundle for everything but the base64 payload: signature, key hint, log entry
# with its inclusion proof and checkpoint.
_BUNDLE_OVERHEAD = 64 * 1024

#: A predicate: a JSON object, or a string (cosign's legacy ``spdx`` attestations).
PredicateLike = Mapping[str, Any] | str


def build_statement(
    repository_name: str,
    digest: Digest,
    predicate_type: str,
    predicate: PredicateLike,
) -> bytes:
    """Return the in-toto v1 statement :func:`attest_image` signs (see the module notes).

    Args:
        repository_name: the subject's name (cosign writes ``registry/repository``).
        digest: the image manifest digest.
        predicate_type: the predicate type URI (short names are not resolved here).
        predicate: the predicate.

    Returns:
        The statement bytes (protobuf JSON form, no optional spaces, keys sorted inside the
        predicate).

    Raises:
        StatementError: the predicate holds something JSON cannot represent.
        TypeError: the predicate is neither a mapping nor a string.
    """
    if not isinstance(predicate, (Mapping, str)):
        raise TypeError(
            f"a predicate must be a JSON object (a mapping) or a string, not "
            f"{type(predicate).__name__}"
        )
    subject = Subject(digest={digest.algorithm: digest.hex}, name=repository_name)
    statement = Statement(STATEMENT_TYPE_V1, (subject,), predicate_type, predicate)
    return statement.to_json()


def _check_size(statement: bytes, format: SignatureFormat) -> None:
    if len(statement) > DEFAULT_MAX_STATEMENT_BYTES:
        raise SizeLimitExceededError(
            f"the statement is {len(statement)} bytes, more than the "
            f"{DEFAULT_MAX_STATEMENT_BYTES}-byte cap verifiers apply",
            what="statement",
            size=len(statement),
            limit=DEFAULT_MAX_STATEMENT_BYTES,
        )
    encoded = 4 * ((len(statement) + 2) // 3)
    if format is SignatureFormat.BUNDLE and encoded + _BUNDLE_OVERHEAD > MAX_BUNDLE_BYTES:
        raise SizeLimitExceededError(
            f"a bundle holding this {len(statement)}-byte statement would exceed the "
            f"{MAX_BUNDLE_BYTES}-byte cap cosign and imagesig put on bundle layers",
            hint="use the legacy (.att) format for large predicates",
            what="bundle",
            size=encoded + _BUNDLE_OVERHEAD,
            limit=MAX_BUNDLE_BYTES,
        )


def attest_flow(
    reference: ImageReference,
    signer: Signer | AsyncSigner,
    predicate: PredicateLike,
    predicate_type: str,
    *,
    format: SignatureFormat = SignatureFormat.BUNDLE,
    tlog: TransparencyLogOptions | None = None,
    replace: bool = False,
) -> Flow[AttestResult]:
    """The attestation operation as a flow (see the module notes); run by the clients.

    Args:
        reference: the image; a tag is resolved once.
        signer: the signer.
        predicate: the predicate.
        predicate_type: a cosign short name or a predicate type URI.
        format: where to store the attestation.
        tlog: transparency-log options (default cosign's).
        replace: legacy format: drop existing ``.att`` layers of the same predicate type.

    Returns:
        What was attested, where it went and the log entry.
    """
    uri = resolve_predicate_type(predicate_type)
    if replace and format is not SignatureFormat.LEGACY:
        raise ValueError("replace applies to the legacy (.att) format only")
    options = tlog or TransparencyLogOptions()
    manifest: Manifest | Index = yield _StoreCall(reference.registry, "get_manifest", (reference,))
    digest = manifest.digest
    repository = reference.repository
    statement = build_statement(cosign_repository_name(repository), digest, uri, predicate)
    _check_size(statement, format)
    public_key: PublicKey = yield _SignerCall(signer, "public_key")
    root: TrustedRoot | None = None
    if options.upload:
        # Fetched first: a root that cannot be loaded should stop us before Rekor is touched.
        root = yield _TrustedRootCall(options)
    signature = yield from _sign(signer, public_key, pae(IN_TOTO_PAYLOAD_TYPE, statement))
    envelope = Envelope(statement, IN_TOTO_PAYLOAD_TYPE, (EnvelopeSignature(signature),))
    # The exact bytes logged; the legacy layer holds these very bytes.
    submitted = envelope.to_json(style="protobuf")
    bundle_format = format is SignatureFormat.BUNDLE
    entry: LogEntry | None = None
    if options.upload:
        assert root is not None
        entry = yield from _create_entry(
            options,
            dsse_proposed_entry(envelope=submitted, verifiers=[public_key.pem]),
            need_proof=bundle_format,
        )
        verify_log_entry(
            entry,
            root,
            ExpectedEntry.dsse(
                signature=signature,
                public_key_pem=public_key.pem,
                payload=statement,
                envelope=submitted,
            ),
            require_inclusion_proof=bundle_format,
        )
    pinned = reference.with_digest(digest)
    if not bundle_format:
        layer = attestation_layer(
            submitted,
            uri,
            log_bundle=entry.to_cosign_bundle_annotation() if entry is not None else None,
        )
        drop: Callable[[Descriptor], bool] | None = None
        if replace:

            def drop(item: Descriptor) -> bool:
                return item.annotations.get(PREDICATE_TYPE_ANNOTATION) == uri

        written = yield from append_signature_flow(
            repository, digest, submitted, layer, suffix=ATTESTATION_TAG_SUFFIX, drop=drop
        )
        return AttestResult(
            pinned, SignatureFormat.LEGACY, uri, statement, written.descriptor(), entry
        )
    bundle = Bundle(
        BUNDLE_V03_MEDIA_TYPE,
        VerificationMaterial(
            public_key_hint=cosign_key_hint(public_key.der),
            tlog_entries=(entry.to_bundle_tlog_entry(),) if entry is not None else (),
        ),
        dsse_envelope=envelope,
    )
    referrer = yield from attach_bundle_flow(
        repository,
        Descriptor(media_type=manifest.media_type, digest=digest, size=len(manifest.raw)),
        bundle.to_json(),
        predicate_type=uri,
    )
    return AttestResult(
        pinned, SignatureFormat.BUNDLE, uri, statement, referrer.descriptor(), entry
    )


def attest_image(
    reference: str | ImageReference,
    predicate: PredicateLike,
    predicate_type: str,
    *,
    signer: Signer | str | os.PathLike[str],
    format: SignatureFormat = SignatureFormat.BUNDLE,
    tlog: TransparencyLogOptions | None = None,
    replace: bool = False,
    password: PasswordSource = None,
    client: Client | None = None,
) -> AttestResult:
    """Attest an image: sign a statement about it and attach it (see the module notes).

    Args:
        reference: the image; a tag is resolved to a digest once and that digest is the
            statement's subject.
        predicate: the predicate: a JSON object (a mapping), or a string for cosign's legacy
            ``spdx`` form. :func:`imagesig.signatures.predicates.build_predicate` makes one
            from a predicate file as ``cosign attest`` does.
        predicate_type: a cosign short name (``slsaprovenance1``, ``spdxjson``, ``vuln``,
            ``custom``...) or a predicate type URI.
        signer: a :class:`~imagesig.signers.Signer`, or a key file path / ``file://`` URI.
        format: :attr:`SignatureFormat.BUNDLE` (a referrer, cosign v3's default) or
            :attr:`SignatureFormat.LEGACY` (a layer of the ``sha256-<hex>.att`` image).
        tlog: transparency-log options; default the client's (cosign's defaults: the
            attestation is recorded as a ``dsse`` entry).
        replace: legacy format only: drop the ``.att`` layers of the same predicate type
            (going by their ``predicateType`` annotation) instead of adding one more.
        password: the password of an encrypted key file (a value or a callback); default
            ``COSIGN_PASSWORD``.
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The attested image pinned to its digest, the statement, where it was stored and the
        log entry.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the image does not exist.
        StatementError: the predicate type is neither a short name nor a URI, or the
            predicate cannot be written as JSON.
        SizeLimitExceededError: the statement is over :data:`DEFAULT_MAX_STATEMENT_BYTES`,
            or too large for a bundle layer.
        SignerError: the key could not be loaded or the signer failed.
        RekorError: the transparency log refused or failed the entry.
        TransparencyLogError: the entry Rekor returned does not verify against the trusted
            root (nothing is attached then).
        TrustRootError: the trusted root could not be loaded.
        ConcurrentUpdateError: other writers kept replacing the ``.att`` manifest.
        StoreError: the store failed.
        ValueError: ``replace`` with the bundle format.
        TypeError: the predicate is neither a mapping nor a string.

    Example:
        >>> attest_image(  # doctest: +SKIP
        ...     "registry.example.com/app:1.4",
        ...     {"buildDefinition": {...}, "runDetails": {...}},
        ...     "slsaprovenance1",
        ...     signer="cosign.key",
        ... )
        AttestResult(image=..., format=<SignatureFormat.BUNDLE: 'bundle'>, ...)
    """
    if client is not None:
        return client.attest_image(
            reference,
            predicate,
            predicate_type,
            signer=signer,
            format=format,
            tlog=tlog,
            replace=replace,
            password=password,
        )
    with Client() as temporary:
        return temporary.attest_image(
            reference,
            predicate,
            predicate_type,
            signer=signer,
            format=format,
            tlog=tlog,
            replace=replace,
            password=password,
        )
