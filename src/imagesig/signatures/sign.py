"""``sign_image``: sign an image the way cosign does, in either storage format.

The reference is resolved exactly once: the image manifest is fetched and its digest computed
from the bytes received (a registry's ``Docker-Content-Digest`` is never trusted for what gets
signed), and that digest is what is signed, logged and attached.

**Bundle format** (the default, as in cosign v3): the signed content is an in-toto v1
statement naming the image digest (predicate type ``https://sigstore.dev/cosign/sign/v1``,
the ``annotations`` on its subject) inside a DSSE envelope; the signature covers the DSSE
pre-authentication encoding. Unless the transparency-log upload is off, a Rekor ``dsse``
entry is created. The result is a Sigstore bundle v0.3 (public-key hint as cosign writes it,
the log entry with its inclusion proof) attached as an OCI 1.1 referrer of the image.

**Legacy format**: the signed content is the simple-signing payload naming the image digest
(``annotations`` in ``optional``); the signature covers its exact bytes. Unless the upload is
off, a Rekor ``hashedrekord`` entry (SHA-256 of the payload for P-256 keys) is created and its
cosign bundle goes into the layer's ``dev.sigstore.cosign/bundle`` annotation. The layer is
appended to the image's ``sha256-<hex>.sig`` manifest (see :mod:`.attach`).

Every log entry Rekor returns is verified offline against the trusted root — the right log,
a valid promise (and inclusion proof for bundles), recording exactly this signature, key and
content — before anything is attached: a signature never claims an entry that does not
vouch for it. The signature itself is checked with the signer's public key before use, so a
misbehaving signer (a KMS returning garbage) is caught at once.

Signers: any :class:`~imagesig.signers.Signer` (or, with
:class:`~imagesig.AsyncClient`, an :class:`~imagesig.signers.AsyncSigner`), or a path or
``file://`` URI of a key file (cosign's encrypted ``cosign.key`` or a PEM private key), read
with the ``password`` given or ``COSIGN_PASSWORD``.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from imagesig._flow import Flow
from imagesig.client import Client, _RekorCall, _StoreCall, _TrustedRootCall
from imagesig.errors import SignerError
from imagesig.oci.model import Descriptor, Index, Manifest
from imagesig.reference import ImageReference
from imagesig.signatures import intoto, simplesigning
from imagesig.signatures.attach import (
    append_signature_flow,
    attach_bundle_flow,
    signature_layer,
)
from imagesig.signatures.bundle import (
    BUNDLE_V03_MEDIA_TYPE,
    Bundle,
    VerificationMaterial,
    cosign_key_hint,
)
from imagesig.signatures.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, EnvelopeSignature, pae
from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
from imagesig.signatures.result import SignResult
from imagesig.signers._password import PasswordSource
from imagesig.signers.base import AsyncSigner, PublicKey, Signer, as_async_signer
from imagesig.signers.local import LocalSigner
from imagesig.signers.uri import signer_from_uri
from imagesig.tlog.entries import LogEntry, dsse_proposed_entry, hashedrekord_proposed_entry
from imagesig.tlog.trust import TrustedRoot
from imagesig.tlog.verify import ExpectedEntry, verify_log_entry

__all__ = ["SignerLike", "log_hash_algorithm", "sign_flow", "sign_image"]

#: What the ``signer`` argument of :func:`sign_image` may be (``AsyncClient.sign_image`` also
#: takes an :class:`~imagesig.signers.AsyncSigner`).
SignerLike: TypeAlias = Signer | str | os.PathLike[str]

_LOG_HASHES = frozenset({"sha256", "sha384", "sha512"})


def _resolve_signer(signer: Any, password: PasswordSource = None) -> Signer | AsyncSigner:
    """Turn a ``signer`` argument into a signer.

    The single place where signer references are interpreted: strings and paths go through
    :func:`imagesig.signers.signer_from_uri` (key files, ``file://``, ``env://``,
    ``gcpkms://`` and plugin schemes).

    Args:
        signer: a :class:`Signer`/:class:`AsyncSigner`, or a key reference.
        password: for encrypted key files (else ``COSIGN_PASSWORD``).

    Returns:
        The signer.

    Raises:
        UnknownSignerSchemeError: no provider handles the reference's scheme.
        SignerError: the key cannot be read or the provider failed.
        KeyFormatError: the reference holds no private key.
        PasswordRequiredError: the key is encrypted and no password is available.
        InvalidPasswordError: the password is wrong.
        TypeError: ``signer`` is none of the above.
    """
    if isinstance(signer, (str, os.PathLike)):
        text = os.fspath(signer)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        return signer_from_uri(text, password=password)
    if callable(getattr(signer, "sign", None)) and callable(getattr(signer, "public_key", None)):
        return signer  # type: ignore[no-any-return]
    raise TypeError(
        f"signer must be a Signer, a key file path or a file:// URI, not {type(signer).__name__}"
    )


@attrs.frozen
class _SignerCall:
    """Effect: call ``public_key()`` or ``sign(data)`` on a sync or async signer."""

    signer: Signer | AsyncSigner
    method: str
    args: tuple[Any, ...] = ()

    def run_sync(self, env: object) -> Any:
        result = getattr(self.signer, self.method)(*self.args)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise SignerError(
                f"signer {self.signer.name} is asynchronous; use AsyncClient to sign with it",
                signer=self.signer.name,
            )
        return result

    async def run_async(self, env: object) -> Any:
        # A local key signs in microseconds: no worker thread for it. Anything else (a KMS
        # client, a plugin) may block, so it runs in a thread.
        adapted = as_async_signer(self.signer, offload=not isinstance(self.signer, LocalSigner))
        return await getattr(adapted, self.method)(*self.args)


def log_hash_algorithm(public_key: PublicKey) -> str:
    """The digest a ``hashedrekord`` entry records for signatures by ``public_key``.

    The key's own hash (SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521 and
    Ed25519ph), as cosign logs them; SHA-256 otherwise.
    """
    name = public_key.algorithm.hash_name
    return name if name in _LOG_HASHES else "sha256"


def _sign(signer: Signer | AsyncSigner, public_key: PublicKey, data: bytes) -> Flow[bytes]:
    signature = yield _SignerCall(signer, "sign", (data,))
    if not isinstance(signature, bytes) or not public_key.verify(signature, data):
        raise SignerError(
            f"signer {signer.name} returned a signature that does not verify with its own "
            "public key; nothing was attached",
            signer=signer.name,
        )
    return signature


def _create_entry(
    tlog: TransparencyLogOptions, proposed: Mapping[str, Any], *, need_proof: bool
) -> Flow[LogEntry]:
    entry: LogEntry = yield _RekorCall(tlog.rekor_url, "create_entry", (proposed,))
    if need_proof and entry.inclusion_proof is None and entry.uuid is not None:
        # Some Rekor versions answer a create without the proof; the entry has it by now.
        entry = yield _RekorCall(tlog.rekor_url, "get_entry", (entry.uuid,))
    return entry


def sign_flow(
    reference: ImageReference,
    signer: Signer | AsyncSigner,
    *,
    annotations: Mapping[str, str] | None = None,
    format: SignatureFormat = SignatureFormat.BUNDLE,
    tlog: TransparencyLogOptions | None = None,
) -> Flow[SignResult]:
    """The signing operation as a flow (see the module notes); run by the clients.

    Args:
        reference: the image; a tag is resolved once.
        signer: the signer.
        annotations: ``-a key=value`` annotations to sign along.
        format: where to store the signature.
        tlog: transparency-log options (default cosign's).

    Returns:
        What was signed, where it went and the log entry.
    """
    options = tlog or TransparencyLogOptions()
    manifest: Manifest | Index = yield _StoreCall(reference.registry, "get_manifest", (reference,))
    digest = manifest.digest
    repository = reference.repository
    pinned = reference.with_digest(digest)
    public_key: PublicKey = yield _SignerCall(signer, "public_key")
    root: TrustedRoot | None = None
    if options.upload:
        # Fetched first: a root that cannot be loaded should stop us before Rekor is touched.
        root = yield _TrustedRootCall(options)
    if format is SignatureFormat.LEGACY:
        payload = simplesigning.build(repository, digest, annotations)
        signature = yield from _sign(signer, public_key, payload)
        entry: LogEntry | None = None
        if options.upload:
            assert root is not None
            algorithm = log_hash_algorithm(public_key)
            digest_hex = hashlib.new(algorithm, payload).hexdigest()
            entry = yield from _create_entry(
                options,
                hashedrekord_proposed_entry(
                    signature=signature,
                    public_key_pem=public_key.pem,
                    digest_hex=digest_hex,
                    algorithm=algorithm,
                ),
                need_proof=False,
            )
            verify_log_entry(
                entry,
                root,
                ExpectedEntry.hashedrekord(
                    signature=signature,
                    public_key_pem=public_key.pem,
                    digest_hex=digest_hex,
                    algorithm=algorithm,
                ),
            )
        layer = signature_layer(
            payload,
            signature,
            log_bundle=entry.to_cosign_bundle_annotation() if entry is not None else None,
        )
        written = yield from append_signature_flow(
            repository, digest, payload, layer, public_key=public_key
        )
        return SignResult(pinned, SignatureFormat.LEGACY, written.descriptor(), entry)

    statement = intoto.build(digest, annotations)
    signature = yield from _sign(signer, public_key, pae(IN_TOTO_PAYLOAD_TYPE, statement))
    envelope = Envelope(statement, IN_TOTO_PAYLOAD_TYPE, (EnvelopeSignature(signature),))
    entry = None
    tlog_entries: tuple[dict[str, Any], ...] = ()
    if options.upload:
        assert root is not None
        submitted = envelope.to_json(style="protobuf")
        entry = yield from _create_entry(
            options,
            dsse_proposed_entry(envelope=submitted, verifiers=[public_key.pem]),
            need_proof=True,
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
            require_inclusion_proof=True,
        )
        tlog_entries = (entry.to_bundle_tlog_entry(),)
    bundle = Bundle(
        BUNDLE_V03_MEDIA_TYPE,
        VerificationMaterial(
            public_key_hint=cosign_key_hint(public_key.der), tlog_entries=tlog_entries
        ),
        dsse_envelope=envelope,
    )
    referrer = yield from attach_bundle_flow(
        repository,
        Descriptor(media_type=manifest.media_type, digest=digest, size=len(manifest.raw)),
        bundle.to_json(),
        predicate_type=intoto.COSIGN_SIGN_PREDICATE_TYPE,
    )
    return SignResult(pinned, SignatureFormat.BUNDLE, referrer.descriptor(), entry)


def sign_image(
    reference: str | ImageReference,
    signer: SignerLike,
    *,
    annotations: Mapping[str, str] | None = None,
    format: SignatureFormat = SignatureFormat.BUNDLE,
    tlog: TransparencyLogOptions | None = None,
    password: PasswordSource = None,
    client: Client | None = None,
) -> SignResult:
    """Sign an image and attach the signature (see the module notes).

    Args:
        reference: the image; a tag is resolved to a digest once and that digest is signed.
        signer: a :class:`~imagesig.signers.Signer`, or a key file path / ``file://`` URI.
        annotations: ``-a key=value`` annotations signed along with the digest.
        format: :attr:`SignatureFormat.BUNDLE` (cosign v3's default) or
            :attr:`SignatureFormat.LEGACY`.
        tlog: transparency-log options; default the client's (cosign's defaults).
        password: the password of an encrypted key file (a value or a callback); default
            ``COSIGN_PASSWORD``.
        client: the client to use; default a temporary :class:`~imagesig.Client`.

    Returns:
        The signed image pinned to its digest, the signature manifest's descriptor and the
        log entry.

    Raises:
        InvalidReferenceError: ``reference`` is malformed.
        ManifestNotFoundError: the image does not exist.
        SignerError: the key could not be loaded, or the signer failed (subclasses say why:
            ``PasswordRequiredError``, ``InvalidPasswordError``, ``KeyFormatError``,
            ``UnknownSignerSchemeError``...).
        RekorError: the transparency log refused or failed the entry.
        TransparencyLogError: the entry Rekor returned does not verify against the trusted
            root (nothing is attached then).
        TrustRootError: the trusted root could not be loaded.
        ConcurrentUpdateError: other writers kept replacing the ``.sig`` manifest.
        RegistryError: the registry failed.
        StoreError: another store failure.

    Example:
        >>> sign_image("registry.example.com/app:1.4", "cosign.key")  # doctest: +SKIP
        SignResult(image=..., format=<SignatureFormat.BUNDLE: 'bundle'>, ...)
    """
    if client is not None:
        return client.sign_image(
            reference, signer, annotations=annotations, format=format, tlog=tlog, password=password
        )
    with Client() as temporary:
        return temporary.sign_image(
            reference, signer, annotations=annotations, format=format, tlog=tlog, password=password
        )
