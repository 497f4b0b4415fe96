"""Where signatures live next to an image, and how they are written and found.

Two places, both as cosign uses them:

* **The ``.sig`` tag (legacy format).** The image tagged ``sha256-<hex>.sig`` in the signed
  image's repository. Its manifest (an OCI image manifest built the way cosign's empty image
  is) lists one layer per signature: the layer's bytes are the exact simple-signing payload,
  its media type :data:`~imagesig.signatures.simplesigning.SIMPLE_SIGNING_MEDIA_TYPE`, its
  annotations the base64 signature (:data:`SIGNATURE_ANNOTATION`) and, when the signature was
  logged, cosign's Rekor bundle (:data:`LOG_BUNDLE_ANNOTATION`). The config blob is the image
  config go-containerregistry writes for such an image (one ``history`` entry and one
  ``diff_id`` per layer); nobody reads it.
* **OCI 1.1 referrers (bundle format).** One manifest per signature whose ``subject`` is the
  image: an empty ``{}`` config (whose descriptor carries cosign's redundant ``artifactType``),
  one layer holding the Sigstore bundle, the annotations ``dev.sigstore.bundle.content``,
  ``dev.sigstore.bundle.predicateType`` and ``org.opencontainers.image.created``, and the
  artifact type :data:`~imagesig.signatures.bundle.BUNDLE_V03_MEDIA_TYPE`. It is pushed by
  digest; the store lists it through the referrers API or the ``sha256-<hex>`` tag-schema
  index. Both manifests are serialised with cosign's key order, byte for byte.

Attestations live in the same two places: bundles are referrers like signature bundles (their
``dev.sigstore.bundle.predicateType`` names the statement's type), and the legacy form is the
image tagged ``sha256-<hex>.att``, one DSSE-envelope layer per attestation
(:func:`attestation_layer`), appended exactly as ``.sig`` layers are. :func:`list_attachments`
lists everything attached — signatures, attestations, SBOMs (``sha256-<hex>.sbom``) and other
referrers — without reading any blob.

Appending to a ``.sig`` manifest is a read-modify-write of a tag that other signers may be
updating too. Writers in this process take turns: an :class:`~imagesig._flow.Exclusive`
section per tag, shared by every sync client (per client for async ones). Writers elsewhere
are caught by re-reading the tag after each write and redoing the update when the new layer
is missing, up to :data:`APPEND_ATTEMPTS` times; that narrows the race but cannot close it,
since the distribution API has no conditional write. A layer cosign would consider the same
signature (same payload, same annotations, a signature that verifies with the signer's key)
is not appended twice.

Discovery (:func:`discover_flow`) reads both places and trusts neither: each referrer's
manifest is fetched (its ``artifactType`` in the referrers list is not believed), a bundle is a
referrer with exactly one layer of a bundle media type, every blob is fetched digest-checked
through the store and under its format's cap, and at most :data:`MAX_SIGNATURES` signatures
and :data:`MAX_SIGNATURE_LAYERS` ``.sig`` layers are looked at; above those caps the place is
refused as a whole, before any signature is fetched. A signature that cannot be read is
reported as such and never stops the others.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs

from imagesig._flow import Exclusive, Flow, Gather
from imagesig.client import Client, _ClientLocks, _StoreCall
from imagesig.errors import (
    ConcurrentUpdateError,
    DigestMismatchError,
    ImageSigError,
    InvalidManifestError,
    ManifestNotFoundError,
    SignatureFormatError,
    SizeLimitExceededError,
)
from imagesig.oci.model import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    MAX_DESCRIPTORS,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_EMPTY_JSON,
    OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
)
from imagesig.oci.store import referrers_tag
from imagesig.reference import Digest, ImageReference, Repository
from imagesig.signatures import _json
from imagesig.signatures.bundle import (
    BUNDLE_CONTENT_ANNOTATION,
    BUNDLE_CONTENT_MESSAGE_SIGNATURE,
    BUNDLE_PREDICATE_TYPE_ANNOTATION,
    BUNDLE_V03_MEDIA_TYPE,
    MAX_BUNDLE_BYTES,
)
from imagesig.signatures.dsse import DSSE_ENVELOPE_MEDIA_TYPE
from imagesig.signatures.intoto import COSIGN_SIGN_PREDICATE_TYPE
from imagesig.signatures.options import SignatureFormat
from imagesig.signatures.simplesigning import MAX_PAYLOAD_BYTES, SIMPLE_SIGNING_MEDIA_TYPE
from imagesig.signers.base import PublicKey

__all__ = [
    "APPEND_ATTEMPTS",
    "ATTESTATION_TAG_SUFFIX",
    "BUNDLE_LAYER_MEDIA_TYPE_PREFIX",
    "CERTIFICATE_ANNOTATION",
    "CHAIN_ANNOTATION",
    "CREATED_ANNOTATION",
    "LOG_BUNDLE_ANNOTATION",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_LAYERS",
    "PREDICATE_TYPE_ANNOTATION",
    "SBOM_TAG_SUFFIX",
    "SIGNATURE_ANNOTATION",
    "SIGNATURE_TAG_SUFFIX",
    "AttachedSignature",
    "Attachment",
    "AttachmentKind",
    "AttachmentStorage",
    "AttachmentTree",
    "Discovery",
    "append_signature_flow",
    "attach_bundle_flow",
    "attestation_layer",
    "attestation_tag",
    "bundle_referrer_manifest",
    "discover_flow",
    "list_attachments",
    "list_attachments_flow",
    "list_signatures",
    "list_signatures_flow",
    "resolve_digest_flow",
    "signature_layer",
    "signature_manifest",
    "signature_tag",
    "triangulate",
    "triangulate_flow",
]

#: Suffix of the tag holding legacy signatures (``sha256-<hex>.sig``).
SIGNATURE_TAG_SUFFIX = "sig"
#: Suffix of the tag holding legacy attestations (``sha256-<hex>.att``).
ATTESTATION_TAG_SUFFIX = "att"
#: Suffix of the tag holding SBOMs attached with ``cosign attach sbom`` (``sha256-<hex>.sbom``).
SBOM_TAG_SUFFIX = "sbom"
#: Layer annotation of an ``.att`` layer naming its statement's predicate type (unsigned).
PREDICATE_TYPE_ANNOTATION = "predicateType"
#: Layer annotation holding the standard-base64 signature (note cosign's older prefix).
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
#: Layer annotation holding cosign's Rekor bundle (entry body, time, index, log id, SET).
LOG_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
#: Layer annotation holding a keyless signature's PEM certificate.
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
#: Layer annotation holding a keyless signature's PEM chain.
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
#: Referrer manifest annotation holding the creation time (RFC 3339, UTC, seconds).
CREATED_ANNOTATION = "org.opencontainers.image.created"
#: Referrer layers whose media type starts with this hold Sigstore bundles.
BUNDLE_LAYER_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"

#: Most signatures examined for one image, both places together (cosign's limit).
MAX_SIGNATURES = 100
#: Most layers a ``.sig`` manifest may list (cosign's limit).
MAX_SIGNATURE_LAYERS = MAX_DESCRIPTORS
#: Read-modify-write attempts when appending to a ``.sig`` manifest.
APPEND_ATTEMPTS = 5

_LOCK_STRIPES = 64
_ZERO_TIME = "0001-01-01T00:00:00Z"
# Go's encoding/json escapes these inside strings; they never occur outside one.
_GO_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_EMPTY: Mapping[str, str] = MappingProxyType({})


def signature_tag(digest: Digest) -> str:
    """Return the tag of the legacy signature image for ``digest``: ``sha256-<hex>.sig``.

    Example:
        >>> signature_tag(Digest.from_bytes(b"{}"))[:14]
        'sha256-44136fa'
    """
    return f"{digest.tag_suffix}.{SIGNATURE_TAG_SUFFIX}"


def attestation_tag(digest: Digest) -> str:
    """Return the tag of the legacy attestation image for ``digest``: ``sha256-<hex>.att``."""
    return f"{digest.tag_suffix}.{ATTESTATION_TAG_SUFFIX}"


# -- building what cosign writes ----------------------------------------------------------


def _go_json(document: Any) -> bytes:
    """Compact JSON with Go's HTML escapes, in the mapping order given."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_GO_ESCAPES).encode("utf-8")


def _go_descriptor(descriptor: Descriptor) -> dict[str, Any]:
    """A descriptor in go-containerregistry's field order (mediaType, size, digest, ...)."""
    document: dict[str, Any] = {
        "mediaType": descriptor.media_type,
        "size": descriptor.size,
        "digest": str(descriptor.digest),
    }
    if descriptor.data is not None:
        document["data"] = _json.encode_base64(descriptor.data)
    if descriptor.urls:
        document["urls"] = list(descriptor.urls)
    if descriptor.annotations:
        document["annotations"] = dict(sorted(descriptor.annotations.items()))
    if descriptor.platform is not None:
        document["platform"] = descriptor.platform.to_dict()
    if descriptor.artifact_type:
        document["artifactType"] = descriptor.artifact_type
    return document


def _go_manifest(
    media_type: str,
    config: Descriptor,
    layers: Sequence[Descriptor],
    *,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
) -> Manifest:
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    document["config"] = _go_descriptor(config)
    document["layers"] = [_go_descriptor(layer) for layer in layers]
    if annotations:
        document["annotations"] = dict(sorted(annotations.items()))
    if subject is not None:
        document["subject"] = _go_descriptor(subject)
    if artifact_type:
        document["artifactType"] = artifact_type
    return Manifest.parse(_go_json(document), media_type)


def signature_layer(
    payload: bytes, signature: bytes, *, log_bundle: str | None = None
) -> Descriptor:
    """Describe one legacy signature layer as cosign does.

    Args:
        payload: the exact simple-signing payload bytes (the layer's content).
        signature: the raw signature over ``payload``.
        log_bundle: cosign's Rekor bundle annotation value, when the signature was logged.

    Returns:
        The layer descriptor with :data:`SIGNATURE_ANNOTATION` (and
        :data:`LOG_BUNDLE_ANNOTATION`).
    """
    annotations = {SIGNATURE_ANNOTATION: _json.encode_base64(signature)}
    if log_bundle is not None:
        annotations[LOG_BUNDLE_ANNOTATION] = log_bundle
    return Descriptor.for_content(payload, SIMPLE_SIGNING_MEDIA_TYPE, annotations=annotations)


def attestation_layer(
    envelope: bytes, predicate_type: str, *, log_bundle: str | None = None
) -> Descriptor:
    """Describe one legacy attestation layer (``.att`` images) as cosign does.

    Args:
        envelope: the exact DSSE envelope bytes (the layer's content; for a logged
            attestation, the very bytes submitted to the log).
        predicate_type: the statement's predicate type, copied into the
            :data:`PREDICATE_TYPE_ANNOTATION` annotation (a hint: readers decide on the signed
            statement).
        log_bundle: cosign's Rekor bundle annotation value, when the attestation was logged.

    Returns:
        The layer descriptor: media type
        :data:`~imagesig.signatures.dsse.DSSE_ENVELOPE_MEDIA_TYPE`, an empty
        :data:`SIGNATURE_ANNOTATION` (the signature is inside the envelope),
        :data:`PREDICATE_TYPE_ANNOTATION` and :data:`LOG_BUNDLE_ANNOTATION`.
    """
    annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type}
    if log_bundle is not None:
        annotations[LOG_BUNDLE_ANNOTATION] = log_bundle
    return Descriptor.for_content(envelope, DSSE_ENVELOPE_MEDIA_TYPE, annotations=annotations)


def signature_manifest(
    layers: Sequence[Descriptor], *, docker_media_types: bool = False
) -> tuple[Manifest, bytes]:
    """Build the ``.sig`` manifest listing ``layers`` and its config blob, as cosign does.

    Args:
        layers: the signature layers, oldest first (their content is uncompressed, so each
            layer digest is also its ``diff_id``).
        docker_media_types: use Docker's manifest and config media types
            (``COSIGN_DOCKER_MEDIA_TYPES=1``) instead of OCI's.

    Returns:
        The manifest and the config blob it names.
    """
    config = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(layer.digest) for layer in layers]},
        "config": {},
    }
    config_blob = _go_json(config)
    config_type = DOCKER_CONFIG if docker_media_types else OCI_CONFIG
    media_type = DOCKER_MANIFEST if docker_media_types else OCI_MANIFEST
    manifest = _go_manifest(media_type, Descriptor.for_content(config_blob, config_type), layers)
    return manifest, config_blob


def bundle_referrer_manifest(
    bundle: bytes,
    subject: Descriptor,
    *,
    predicate_type: str,
    content: str = "dsse-envelope",
    created: datetime | None = None,
) -> Manifest:
    """Build the referrer manifest cosign pushes for a bundle, byte for byte in shape.

    Args:
        bundle: the bundle JSON (the single layer's content).
        subject: the signed image's descriptor (media type, digest, size).
        predicate_type: the statement's predicate type (annotation
            ``dev.sigstore.bundle.predicateType``).
        content: ``dsse-envelope`` or ``message-signature``.
        created: the creation time; default now. Written in UTC, to the second.

    Returns:
        The manifest (push it by digest).
    """
    when = (created or datetime.now(timezone.utc)).astimezone(timezone.utc)
    config = Descriptor(
        media_type=OCI_EMPTY,
        digest=Digest.from_bytes(OCI_EMPTY_JSON),
        size=len(OCI_EMPTY_JSON),
        artifact_type=BUNDLE_V03_MEDIA_TYPE,
    )
    return _go_manifest(
        OCI_MANIFEST,
        config,
        [Descriptor.for_content(bundle, BUNDLE_V03_MEDIA_TYPE)],
        annotations={
            BUNDLE_CONTENT_ANNOTATION: content,
            BUNDLE_PREDICATE_TYPE_ANNOTATION: predicate_type,
            CREATED_ANNOTATION: when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        subject=Descriptor(media_type=subject.media_type, digest=subject.digest, size=subject.size),
        artifact_type=BUNDLE_V03_MEDIA_TYPE,
    )


# -- writing ----------------------------------------------------------------------------------


def _same_signature(
    layer: Descriptor, new: Descriptor, payload: bytes, public_key: PublicKey | None
) -> bool:
    """cosign's rule for not appending a signature twice (see the module notes).

    Same content and media type, every new annotation but the signature equal, and a
    signature that verifies with the signer's key. ``payload`` is the new layer's content;
    an existing layer with the same digest has the same bytes.
    """
    if layer.digest != new.digest or layer.media_type != new.media_type:
        return False
    for key, value in new.annotations.items():
        if key != SIGNATURE_ANNOTATION and layer.annotations.get(key) != value:
            return False
    if layer.annotations.get(SIGNATURE_ANNOTATION) == new.annotations.get(SIGNATURE_ANNOTATION):
        return True
    if public_key is None:
        return False
    try:
        existing = _json.decode_base64(
            layer.annotations.get(SIGNATURE_ANNOTATION),
            field=SIGNATURE_ANNOTATION,
            error=SignatureFormatError,
        )
    except ImageSigError:
        return False
    return bool(existing) and public_key.verify(existing, payload)


def _is_layer(item: Descriptor, layer: Descriptor) -> bool:
    # Descriptor equality ignores annotations; a layer is its digest and its annotations.
    return item.digest == layer.digest and dict(item.annotations) == dict(layer.annotations)


def append_signature_flow(
    repository: Repository,
    digest: Digest,
    payload: bytes,
    layer: Descriptor,
    *,
    public_key: PublicKey | None = None,
    suffix: str = SIGNATURE_TAG_SUFFIX,
    drop: Callable[[Descriptor], bool] | None = None,
) -> Flow[Manifest]:
    """Append one signature layer to the ``.sig`` manifest of ``digest`` (see module notes).

    Args:
        repository: the signed image's repository (where the ``.sig`` tag lives).
        digest: the signed image's digest.
        payload: the layer's content (the simple-signing payload, or the DSSE envelope of an
            attestation).
        layer: the layer descriptor (:func:`signature_layer`, :func:`attestation_layer`).
        public_key: the signer's key, to recognise a signature already attached.
        suffix: the tag suffix: :data:`SIGNATURE_TAG_SUFFIX` (``.sig``) or
            :data:`ATTESTATION_TAG_SUFFIX` (``.att``, one layer per attestation).
        drop: existing layers for which this returns ``True`` are left out of the new
            manifest (``cosign attest --replace``); by default every layer is kept.

    Returns:
        The ``.sig`` manifest as read back after the write (it lists ``layer``, or an
        equivalent signature that was already there).

    Raises:
        SizeLimitExceededError: the ``.sig`` manifest already lists
            :data:`MAX_SIGNATURE_LAYERS` layers.
        InvalidManifestError: the ``.sig`` tag holds something other than an image manifest.
        ConcurrentUpdateError: other writers kept replacing the manifest.
        StoreError: the store failed.
    """
    tag = f"{digest.tag_suffix}.{suffix}"
    locks = yield _ClientLocks()
    # Striped: unrelated tags rarely share a lock, and the lock table stays bounded.
    stripe = hash((repository.registry, repository.path, tag)) % _LOCK_STRIPES
    result: Manifest = yield Exclusive(
        locks,
        ("sig-append", stripe),
        _append_attempts(repository, tag, payload, layer, public_key, drop=drop),
    )
    return result


def _read_signature_manifest(reference: ImageReference) -> Flow[Manifest | None]:
    try:
        found: Manifest | Index = yield _StoreCall(reference.registry, "get_manifest", (reference,))
    except ManifestNotFoundError:
        return None
    if not isinstance(found, Manifest):
        raise InvalidManifestError(
            f"{reference} holds an image index, not a signature image manifest",
            reference=str(reference),
        )
    return found


def _append_attempts(
    repository: Repository,
    tag: str,
    payload: bytes,
    layer: Descriptor,
    public_key: PublicKey | None,
    *,
    drop: Callable[[Descriptor], bool] | None = None,
) -> Flow[Manifest]:
    reference = repository.with_tag(tag)
    registry = repository.registry
    yield _StoreCall(registry, "put_blob", (repository, payload), {"digest": layer.digest})
    for _attempt in range(APPEND_ATTEMPTS):
        current = yield from _read_signature_manifest(reference)
        existing = current.layers if current is not None else ()
        if drop is not None:
            existing = tuple(item for item in existing if not drop(item))
        if any(_same_signature(item, layer, payload, public_key) for item in existing):
            assert current is not None
            return current
        if len(existing) >= MAX_SIGNATURE_LAYERS:
            raise SizeLimitExceededError(
                f"{reference} already lists {len(existing)} signatures; cosign reads at most "
                f"{MAX_SIGNATURE_LAYERS}, so another one would be invisible",
                reference=str(reference),
                limit=MAX_SIGNATURE_LAYERS,
            )
        docker = current is not None and current.media_type == DOCKER_MANIFEST
        manifest, config = signature_manifest([*existing, layer], docker_media_types=docker)
        yield _StoreCall(
            registry, "put_blob", (repository, config), {"digest": manifest.config.digest}
        )
        yield _StoreCall(registry, "put_manifest", (repository, manifest), {"tag": tag})
        # Verify after write: a writer elsewhere may have replaced the manifest meanwhile.
        after = yield from _read_signature_manifest(reference)
        if after is not None and any(_is_layer(item, layer) for item in after.layers):
            return after
    raise ConcurrentUpdateError(
        f"could not add a signature to {reference}: other writers replaced it "
        f"{APPEND_ATTEMPTS} times in a row",
        reference=str(reference),
        hint="retry; nothing that was attached before was lost",
    )


def attach_bundle_flow(
    repository: Repository,
    subject: Descriptor,
    bundle: bytes,
    *,
    predicate_type: str,
    content: str = "dsse-envelope",
) -> Flow[Manifest]:
    """Attach a bundle to ``subject`` as an OCI 1.1 referrer (see the module notes).

    Args:
        repository: the signed image's repository.
        subject: the signed image's descriptor.
        bundle: the bundle JSON.
        predicate_type: the statement's predicate type.
        content: ``dsse-envelope`` or ``message-signature``.

    Returns:
        The referrer manifest as pushed (by digest).

    Raises:
        StoreError: the store failed.
    """
    registry = repository.registry
    manifest = bundle_referrer_manifest(
        bundle, subject, predicate_type=predicate_type, content=content
    )
    yield Gather(
        [
            _put_blob(repository, OCI_EMPTY_JSON, manifest.config.digest),
            _put_blob(repository, bundle, manifest.layers[0].digest),
        ]
    )
    # On registries without the referrers API every referrer push rewrites the subject's
    # sha256-<hex> index tag (read-modify-write in the store): writers in this process take
    # turns on it, as on .sig tags; writers elsewhere are caught by the store's re-read.
    locks = yield _ClientLocks()
    stripe = hash((registry, repository.path, subject.digest.tag_suffix)) % _LOCK_STRIPES
    yield Exclusive(locks, ("referrer-push", stripe), _put_manifest(repository, manifest))
    return manifest


def _put_manifest(repository: Repository, manifest: Manifest) -> Flow[Descriptor]:
    stored: Descriptor = yield _StoreCall(
        repository.registry, "put_manifest", (repository, manifest)
    )
    return stored


def _put_blob(repository: Repository, data: bytes, digest: Digest) -> Flow[Digest]:
    stored: Digest = yield _StoreCall(
        repository.registry, "put_blob", (repository, data), {"digest": digest}
    )
    return stored


# -- reading ----------------------------------------------------------------------------------


@attrs.frozen
class AttachedSignature:
    """A signature found next to an image, as stored; nothing about it is verified.

    Attributes:
        format: where it was found.
        location: a readable name of where: ``<repo>:sha256-<hex>.sig layer <n>`` or
            ``<repo>@<referrer manifest digest>``.
        manifest: the manifest holding it: the ``.sig`` manifest or the referrer manifest,
            pinned by digest.
        layer: the layer holding it (legacy: with the signature annotations); ``None`` when
            the whole place was refused (see :attr:`error`).
        content: the layer's exact bytes (a simple-signing payload or a bundle), read
            digest-checked; ``None`` when they could not be read.
        annotations: legacy: the layer's annotations; bundle: the referrer manifest's.
        error: why this signature (or this whole place) could not be read; ``None`` when
            :attr:`content` is there.
    """

    format: SignatureFormat
    location: str
    manifest: ImageReference | None
    layer: Descriptor | None
    content: bytes | None = attrs.field(default=None, repr=False)
    annotations: Mapping[str, str] = attrs.field(default=_EMPTY, eq=False)
    error: str | None = None

    @property
    def signature_text(self) -> str | None:
        """Legacy: the :data:`SIGNATURE_ANNOTATION` value as stored, if any."""
        if self.layer is None:
            return None
        return self.layer.annotations.get(SIGNATURE_ANNOTATION)


@attrs.frozen
class Discovery:
    """Everything :func:`discover_flow` found for one image digest.

    Attributes:
        repository: where it looked.
        digest: the image digest.
        signatures: bundles first (in referrers order), then ``.sig`` layers (in layer
            order); places refused as a whole appear as one entry with an ``error``.
        warnings: referrers that could not be read and so may or may not be signatures.
    """

    repository: Repository
    digest: Digest
    signatures: tuple[AttachedSignature, ...]
    warnings: tuple[str, ...] = ()


@attrs.frozen
class _Pending:
    """A signature layer located but not read yet."""

    format: SignatureFormat
    location: str
    manifest: ImageReference
    layer: Descriptor
    annotations: Mapping[str, str]
    cap: int


@attrs.define
class _Found:
    pending: list[_Pending] = attrs.Factory(list)
    refused: list[AttachedSignature] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)


def discover_flow(
    repository: Repository,
    digest: Digest,
    *,
    suffix: str = SIGNATURE_TAG_SUFFIX,
    legacy_cap: int = MAX_PAYLOAD_BYTES,
) -> Flow[Discovery]:
    """Find the signatures attached to ``digest`` in both places and read them.

    Args:
        repository: the image's repository.
        digest: the image's digest.
        suffix: the legacy tag to read: :data:`SIGNATURE_TAG_SUFFIX` (``.sig``, signatures)
            or :data:`ATTESTATION_TAG_SUFFIX` (``.att``, attestations). Bundle referrers are
            read either way.
        legacy_cap: the largest legacy layer read.

    Returns:
        What was found.

    Raises:
        RegistryError: the registry failed to list referrers or to serve the ``.sig`` tag
            (a missing tag just means no legacy signatures).
        StoreError: another store failure while listing.
    """
    referrers, legacy = yield Gather(
        [
            _referrer_signatures(repository, digest),
            _legacy_signatures(repository, digest, suffix=suffix, cap=legacy_cap),
        ]
    )
    found = _Found(
        pending=[*referrers.pending, *legacy.pending],
        refused=[*referrers.refused, *legacy.refused],
        warnings=[*referrers.warnings, *legacy.warnings],
    )
    if len(found.pending) > MAX_SIGNATURES:
        total = len(found.pending)
        found.refused.append(
            AttachedSignature(
                format=found.pending[0].format,
                location=str(repository.with_digest(digest)),
                manifest=None,
                layer=None,
                error=f"{total} signatures are attached to the image, more than the limit of "
                f"{MAX_SIGNATURES}; none of them was examined",
            )
        )
        found.pending.clear()
    read = yield Gather([_read_pending(repository, item) for item in found.pending])
    return Discovery(
        repository=repository,
        digest=digest,
        signatures=(*found.refused, *read),
        warnings=tuple(found.warnings),
    )


def _referrer_signatures(repository: Repository, digest: Digest) -> Flow[_Found]:
    found = _Found()
    listed: list[Descriptor] = yield _StoreCall(
        repository.registry, "referrers", (repository, digest)
    )
    unique = list({item.digest: item for item in listed}.values())
    if len(unique) > MAX_SIGNATURES:
        found.refused.append(
            AttachedSignature(
                format=SignatureFormat.BUNDLE,
                location=f"referrers of {repository.with_digest(digest)}",
                manifest=None,
                layer=None,
                error=f"the image has {len(unique)} referrers, more than the limit of "
                f"{MAX_SIGNATURES}; none of them was examined",
            )
        )
        return found
    manifests = yield Gather([_referrer_manifest(repository, item.digest) for item in unique])
    for item, outcome in zip(unique, manifests, strict=True):
        reference = repository.with_digest(item.digest)
        if isinstance(outcome, str):
            found.warnings.append(f"referrer {reference} could not be read: {outcome}")
            continue
        if not isinstance(outcome, Manifest) or len(outcome.layers) != 1:
            continue  # not a bundle: an index, an SBOM with several layers...
        layer = outcome.layers[0]
        if not layer.media_type.startswith(BUNDLE_LAYER_MEDIA_TYPE_PREFIX):
            continue
        if outcome.subject is not None and outcome.subject.digest != digest:
            found.warnings.append(
                f"referrer {reference} is listed for {digest} but names "
                f"{outcome.subject.digest} as its subject; ignored"
            )
            continue
        found.pending.append(
            _Pending(
                format=SignatureFormat.BUNDLE,
                location=str(reference),
                manifest=reference,
                layer=layer,
                annotations=outcome.annotations,
                cap=MAX_BUNDLE_BYTES,
            )
        )
    return found


def _referrer_manifest(repository: Repository, digest: Digest) -> Flow[Manifest | Index | str]:
    try:
        manifest: Manifest | Index = yield _StoreCall(
            repository.registry, "get_manifest", (repository.with_digest(digest),)
        )
    except (
        ManifestNotFoundError,
        InvalidManifestError,
        SizeLimitExceededError,
        DigestMismatchError,
    ) as exc:
        return exc.message
    return manifest


def _legacy_signatures(
    repository: Repository,
    digest: Digest,
    *,
    suffix: str = SIGNATURE_TAG_SUFFIX,
    cap: int = MAX_PAYLOAD_BYTES,
) -> Flow[_Found]:
    found = _Found()
    reference = repository.with_tag(f"{digest.tag_suffix}.{suffix}")
    noun = "attestation" if suffix == ATTESTATION_TAG_SUFFIX else "signature"
    try:
        manifest = yield from _read_signature_manifest(reference)
    except (InvalidManifestError, SizeLimitExceededError) as exc:
        found.refused.append(
            AttachedSignature(
                format=SignatureFormat.LEGACY,
                location=str(reference),
                manifest=None,
                layer=None,
                error=f"the {noun} manifest {reference} was refused: {exc.message}",
            )
        )
        return found
    if manifest is None:
        return found
    pinned = reference.with_digest(manifest.digest)
    if len(manifest.layers) > MAX_SIGNATURES:
        found.refused.append(
            AttachedSignature(
                format=SignatureFormat.LEGACY,
                location=str(reference),
                manifest=pinned,
                layer=None,
                error=f"the {noun} manifest {reference} lists {len(manifest.layers)} "
                f"{noun}s, more than the limit of {MAX_SIGNATURES}; none of them was "
                "examined",
            )
        )
        return found
    for position, layer in enumerate(manifest.layers):
        found.pending.append(
            _Pending(
                format=SignatureFormat.LEGACY,
                location=f"{reference} layer {position}",
                manifest=pinned,
                layer=layer,
                annotations=layer.annotations,
                cap=cap,
            )
        )
    return found


def _read_pending(repository: Repository, item: _Pending) -> Flow[AttachedSignature]:
    content: bytes | None = None
    error: str | None = None
    try:
        content = yield _StoreCall(
            repository.registry,
            "get_blob",
            (repository, item.layer.digest),
            {"size": item.layer.size, "max_bytes": item.cap},
        )
    except ImageSigError as exc:
        error = f"its content {item.layer.digest} could not be read: {exc.message}"
    return AttachedSignature(
        format=item.format,
        location=item.location,
        manifest=item.manifest,
        layer=item.layer,
        content=content,
        annotations=item.annotations,
        error=error,
    )


# -- where, and what ----------------------------------------------------------------------


def resolve_digest_flow(reference: ImageReference) -> Flow[Digest]:
    """The digest ``reference`` names: its own, or its tag's resolved once."""
    if reference.digest is not None:
        return reference.digest
    descriptor: Descriptor = yield _StoreCall(reference.registry, "resolve", (reference,))
    return descriptor.digest


def triangulate_flow(
    reference: ImageReference, format: SignatureFormat = SignatureFormat.LEGACY
) -> Flow[ImageReference]:
    """Flow of :func:`triangulate`."""
    digest = yield from resolve_digest_flow(reference)
    if format is SignatureFormat.LEGACY:
        return reference.repository.with_tag(signature_tag(digest))
    return reference.repository.with_tag(referrers_tag(digest))


def list_signatures_flow(reference: ImageReference) -> Flow[list[AttachedSignature]]:
    """Flow of :func:`list_signatures`."""
    digest = yield from resolve_digest_flow(reference)
    discovery = yield from discover_flow(reference.repository, digest)
    return list(discovery.signatures)


def triangulate(
    reference: str | ImageReference,
    *,
    format: SignatureFormat = SignatureFormat.LEGACY,
    client: Client | None = None,
) -> ImageReference:
    """Say where an image's signatures live (cosign's ``triangulate``).

    A tag is resolved to its digest first (one request).

    Args:
        reference: the image.
        format: ``LEGACY`` gives the ``sha256-<hex>.sig`` tag; ``BUNDLE`` the
            ``sha256-<hex>`` tag of the referrers index that registries without the referrers
            API keep (those with it list the referrers of ``reference@digest`` instead).
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The reference of the place.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the tag does not exist.
        RegistryError: the registry failed.
    """
    if client is not None:
        return client.triangulate(reference, format=format)
    with Client() as temporary:
        return temporary.triangulate(reference, format=format)


def list_signatures(
    reference: str | ImageReference, *, client: Client | None = None
) -> list[AttachedSignature]:
    """List the signatures attached to an image in both places, without verifying them.

    Args:
        reference: the image; a tag is resolved once.
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        Bundles (referrers) first, then ``.sig`` layers; unreadable ones carry an ``error``.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the tag does not exist.
        RegistryError: the registry failed to list referrers or serve the ``.sig`` tag.
    """
    if client is not None:
        return client.list_signatures(reference)
    with Client() as temporary:
        return temporary.list_signatures(reference)


# -- everything attached ----------------------------------------------------------------------


class AttachmentKind(enum.Enum):
    """What an attachment is, judged from how it is stored (nothing is verified).

    Attributes:
        SIGNATURE: a signature: a ``.sig`` layer, a message-signature bundle, a bundle of
            ``cosign sign``'s predicate type, or another signature referrer (Notation...).
        ATTESTATION: an attestation: an ``.att`` layer, a DSSE bundle of another predicate
            type, or an in-toto referrer.
        SBOM: a software bill of materials: a ``.sbom`` layer or an SPDX, CycloneDX or Syft
            referrer.
        OTHER: any other referrer.
    """

    SIGNATURE = "signature"
    ATTESTATION = "attestation"
    SBOM = "sbom"
    OTHER = "other"


class AttachmentStorage(enum.Enum):
    """Where an attachment is stored.

    Attributes:
        REFERRER: an OCI 1.1 referrer of the image (bundles, SBOM and other artifacts).
        TAG: a layer of the ``sha256-<hex>.sig``, ``.att`` or ``.sbom`` image (cosign's legacy
            tag scheme).
    """

    REFERRER = "referrer"
    TAG = "tag"


@attrs.frozen
class Attachment:
    """One thing attached to an image, as stored; nothing about it is verified.

    Attributes:
        kind: what it is.
        storage: where it is stored.
        location: a readable name of where: ``<repo>@<referrer digest>`` or
            ``<repo>:sha256-<hex>.att layer <n>``.
        digest: the referrer manifest's digest, or the layer's digest.
        media_type: the bundle layer's media type (bundles), the referrer's artifact type
            (other referrers) or the layer's media type (tags).
        size: the size of the layer (tags, bundles) or of the referrer manifest.
        predicate_type: the predicate type the annotations claim (attestations), if any.
        annotations: the referrer manifest's or the layer's annotations.
    """

    kind: AttachmentKind
    storage: AttachmentStorage
    location: str
    digest: Digest
    media_type: str
    size: int
    predicate_type: str | None = None
    annotations: Mapping[str, str] = attrs.field(default=_EMPTY, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (keys in a fixed order)."""
        return {
            "kind": self.kind.value,
            "storage": self.storage.value,
            "location": self.location,
            "digest": str(self.digest),
            "media_type": self.media_type,
            "size": self.size,
            "predicate_type": self.predicate_type,
            "annotations": dict(self.annotations),
        }


def _attachments(value: Sequence[Attachment]) -> tuple[Attachment, ...]:
    return tuple(value)


@attrs.frozen
class AttachmentTree:
    """Everything attached to one image digest (:func:`list_attachments`).

    Attributes:
        image: the reference asked for, pinned to :attr:`digest`.
        digest: the image digest whose attachments were listed.
        attachments: referrers first (in listing order), then the ``.sig``, ``.att`` and
            ``.sbom`` layers (in layer order).
        warnings: places or referrers that could not be read.
    """

    image: ImageReference
    digest: Digest
    attachments: tuple[Attachment, ...] = attrs.field(converter=_attachments)
    warnings: tuple[str, ...] = ()

    def of_kind(self, kind: AttachmentKind) -> tuple[Attachment, ...]:
        """The attachments of one kind, in order."""
        return tuple(item for item in self.attachments if item.kind is kind)

    @property
    def signatures(self) -> tuple[Attachment, ...]:
        """The signatures, both storage forms."""
        return self.of_kind(AttachmentKind.SIGNATURE)

    @property
    def attestations(self) -> tuple[Attachment, ...]:
        """The attestations, both storage forms."""
        return self.of_kind(AttachmentKind.ATTESTATION)

    @property
    def sboms(self) -> tuple[Attachment, ...]:
        """The SBOMs, both storage forms."""
        return self.of_kind(AttachmentKind.SBOM)

    @property
    def others(self) -> tuple[Attachment, ...]:
        """The referrers of no known kind."""
        return self.of_kind(AttachmentKind.OTHER)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: ``{"image", "digest", "signatures", "attestations", "sboms",
        "other", "warnings"}``, each list as :meth:`Attachment.to_dict`."""
        return {
            "image": str(self.image),
            "digest": str(self.digest),
            "signatures": [item.to_dict() for item in self.signatures],
            "attestations": [item.to_dict() for item in self.attestations],
            "sboms": [item.to_dict() for item in self.sboms],
            "other": [item.to_dict() for item in self.others],
            "warnings": list(self.warnings),
        }


_SBOM_MARKERS = ("spdx", "cyclonedx", "syft")
_TAG_KINDS = (
    (SIGNATURE_TAG_SUFFIX, AttachmentKind.SIGNATURE),
    (ATTESTATION_TAG_SUFFIX, AttachmentKind.ATTESTATION),
    (SBOM_TAG_SUFFIX, AttachmentKind.SBOM),
)


def _classify_referrer(manifest: Manifest | Index, location: str) -> Attachment:
    size = len(manifest.raw)
    if isinstance(manifest, Index):
        return Attachment(
            AttachmentKind.OTHER,
            AttachmentStorage.REFERRER,
            location,
            manifest.digest,
            manifest.media_type,
            size,
            annotations=manifest.annotations,
        )
    annotations = manifest.annotations
    if len(manifest.layers) == 1 and manifest.layers[0].media_type.startswith(
        BUNDLE_LAYER_MEDIA_TYPE_PREFIX
    ):
        layer = manifest.layers[0]
        predicate_type = annotations.get(BUNDLE_PREDICATE_TYPE_ANNOTATION) or None
        signature = (
            annotations.get(BUNDLE_CONTENT_ANNOTATION) == BUNDLE_CONTENT_MESSAGE_SIGNATURE
            or predicate_type == COSIGN_SIGN_PREDICATE_TYPE
        )
        return Attachment(
            AttachmentKind.SIGNATURE if signature else AttachmentKind.ATTESTATION,
            AttachmentStorage.REFERRER,
            location,
            manifest.digest,
            layer.media_type,
            layer.size,
            predicate_type=predicate_type,
            annotations=annotations,
        )
    artifact_type = manifest.artifact_type or manifest.config.media_type
    lowered = artifact_type.lower()
    if "in-toto" in lowered:
        kind = AttachmentKind.ATTESTATION
    elif any(marker in lowered for marker in _SBOM_MARKERS):
        kind = AttachmentKind.SBOM
    elif "signature" in lowered:
        kind = AttachmentKind.SIGNATURE
    else:
        kind = AttachmentKind.OTHER
    return Attachment(
        kind,
        AttachmentStorage.REFERRER,
        location,
        manifest.digest,
        artifact_type,
        size,
        annotations=annotations,
    )


def _referrer_attachments(
    repository: Repository, digest: Digest
) -> Flow[tuple[list[Attachment], list[str]]]:
    listed: list[Descriptor] = yield _StoreCall(
        repository.registry, "referrers", (repository, digest)
    )
    unique = list({item.digest: item for item in listed}.values())
    if len(unique) > MAX_SIGNATURES:
        return [], [
            f"the image has {len(unique)} referrers, more than the limit of {MAX_SIGNATURES}; "
            "none of them was examined"
        ]
    manifests = yield Gather([_referrer_manifest(repository, item.digest) for item in unique])
    found: list[Attachment] = []
    warnings: list[str] = []
    for item, outcome in zip(unique, manifests, strict=True):
        reference = repository.with_digest(item.digest)
        if isinstance(outcome, str):
            warnings.append(f"referrer {reference} could not be read: {outcome}")
        elif outcome.subject is not None and outcome.subject.digest != digest:
            warnings.append(
                f"referrer {reference} is listed for {digest} but names "
                f"{outcome.subject.digest} as its subject; ignored"
            )
        else:
            found.append(_classify_referrer(outcome, str(reference)))
    return found, warnings


def _tag_attachments(
    repository: Repository, digest: Digest, suffix: str, kind: AttachmentKind
) -> Flow[tuple[list[Attachment], list[str]]]:
    reference = repository.with_tag(f"{digest.tag_suffix}.{suffix}")
    try:
        manifest = yield from _read_signature_manifest(reference)
    except (InvalidManifestError, SizeLimitExceededError) as exc:
        return [], [f"{reference} could not be read: {exc.message}"]
    if manifest is None:
        return [], []
    found = [
        Attachment(
            kind,
            AttachmentStorage.TAG,
            f"{reference} layer {position}",
            layer.digest,
            layer.media_type,
            layer.size,
            predicate_type=(
                layer.annotations.get(PREDICATE_TYPE_ANNOTATION) or None
                if kind is AttachmentKind.ATTESTATION
                else None
            ),
            annotations=layer.annotations,
        )
        for position, layer in enumerate(manifest.layers)
    ]
    return found, []


def list_attachments_flow(reference: ImageReference) -> Flow[AttachmentTree]:
    """Flow of :func:`list_attachments`."""
    digest = yield from resolve_digest_flow(reference)
    repository = reference.repository
    places = yield Gather(
        [
            _referrer_attachments(repository, digest),
            *(_tag_attachments(repository, digest, suffix, kind) for suffix, kind in _TAG_KINDS),
        ]
    )
    attachments: list[Attachment] = []
    warnings: list[str] = []
    for found, place_warnings in places:
        attachments.extend(found)
        warnings.extend(place_warnings)
    return AttachmentTree(reference.with_digest(digest), digest, attachments, tuple(warnings))


def list_attachments(
    reference: str | ImageReference, *, client: Client | None = None
) -> AttachmentTree:
    """List everything attached to an image — signatures, attestations, SBOMs — unverified.

    One listing of the referrers (each referrer manifest is then fetched, since the listing's
    artifact types and annotations are not to be believed) and one read of each of the
    ``sha256-<hex>.sig``, ``.att`` and ``.sbom`` tags; no blob is downloaded. Attachments are
    classified from their media types and annotations, which anyone able to push can write:
    use :func:`~imagesig.verify_image` and :func:`~imagesig.verify_attestations` to decide
    anything.

    Args:
        reference: the image; a tag is resolved once.
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The attachments by kind and storage, pinned to the image digest.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the tag does not exist.
        RegistryError: the registry failed to list referrers or to serve a tag.
        StoreError: another store failure.
    """
    if client is not None:
        return client.list_attachments(reference)
    with Client() as temporary:
        return temporary.list_attachments(reference)
