"""``Client`` and ``AsyncClient``: the façade holding stores, HTTP clients and settings.

Both expose the same operations with the same arguments; each operation is written once as
a flow (:mod:`imagesig._flow`) that yields :class:`_StoreCall` effects, and the two classes
only differ in how they run them. The sync :class:`Client` never touches an event loop, so
it also works inside a running one (a Jupyter cell).

Which store serves a reference: ``stores`` maps registry names (``host[:port]``, or ``*``
for all) to stores; anything else goes to ``store``, which defaults to a registry store
built from the network settings.

Example:
    >>> from imagesig import Client, OCILayoutStore
    >>> with Client(store=OCILayoutStore("./oci")) as client:  # doctest: +SKIP
    ...     client.resolve("registry.example.com/team/app:1.4")
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from imagesig._flow import Flow, Gather, KeyedLocks, drive_async, drive_sync
from imagesig._http import RetryPolicy
from imagesig.errors import ManifestNotFoundError
from imagesig.oci.credentials import Keychain
from imagesig.oci.model import Descriptor, Index, Manifest
from imagesig.oci.registry import DEFAULT_TIMEOUT, AsyncRegistryStore, RegistryStore
from imagesig.oci.store import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_MANIFEST_BYTES,
    AsyncStore,
    Store,
    ThreadedAsyncStore,
)
from imagesig.reference import Digest, ImageReference, Repository

if TYPE_CHECKING:
    from imagesig.signatures.attach import AttachedSignature, AttachmentTree
    from imagesig.signatures.attest import PredicateLike
    from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
    from imagesig.signatures.result import (
        AttestationVerificationResult,
        AttestResult,
        SignResult,
        VerificationResult,
    )
    from imagesig.signers._password import PasswordSource
    from imagesig.signers.base import AsyncSigner, PublicKey, Signer
    from imagesig.tlog.client import AsyncRekorClient, RekorClient
    from imagesig.tlog.trust import TrustedRoot

__all__ = ["AsyncClient", "Client", "CopyResult"]

ReferenceLike = str | ImageReference
RepositoryLike = str | Repository


@attrs.frozen
class CopyResult:
    """What :meth:`Client.copy_image` did."""

    source: ImageReference
    destination: ImageReference
    """The destination, pinned to the copied digest."""
    manifests: int
    blobs_copied: int
    blobs_skipped: int
    referrers: int


@attrs.frozen
class _StoreCall:
    """Effect: call ``method`` on the store serving ``registry``."""

    registry: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    def run_sync(self, env: Client) -> Any:
        return getattr(env.store_for(self.registry), self.method)(*self.args, **self.kwargs)

    async def run_async(self, env: AsyncClient) -> Any:
        store = env.store_for(self.registry)
        return await getattr(store, self.method)(*self.args, **self.kwargs)


@attrs.frozen
class _RekorCall:
    """Effect: call ``method`` on the client's Rekor client for ``url``."""

    url: str
    method: str
    args: tuple[Any, ...] = ()

    def run_sync(self, env: Client) -> Any:
        return getattr(env.rekor_client(self.url), self.method)(*self.args)

    async def run_async(self, env: AsyncClient) -> Any:
        return await getattr(env.rekor_client(self.url), self.method)(*self.args)


@attrs.frozen
class _TrustedRootCall:
    """Effect: the trusted root ``options`` name, or the client's default one."""

    options: TransparencyLogOptions

    def run_sync(self, env: Client) -> TrustedRoot:
        return env.trusted_root(self.options)

    async def run_async(self, env: AsyncClient) -> TrustedRoot:
        return env.trusted_root(self.options)


@attrs.frozen
class _ClientLocks:
    """Effect: the client's locks for read-modify-write sections (``.sig`` manifests)."""

    def run_sync(self, env: Client) -> KeyedLocks:
        return env._signature_locks

    async def run_async(self, env: AsyncClient) -> KeyedLocks:
        return env._signature_locks


def _reference(value: ReferenceLike) -> ImageReference:
    return value if isinstance(value, ImageReference) else ImageReference.parse(value)


def _repository(value: RepositoryLike) -> Repository:
    return value if isinstance(value, Repository) else Repository.parse(value)


# -- the operations, once -------------------------------------------------------------------


def _referrers_flow(reference: ImageReference, artifact_type: str | None) -> Flow[list[Descriptor]]:
    digest = reference.digest
    if digest is None:
        descriptor: Descriptor = yield _StoreCall(reference.registry, "resolve", (reference,))
        digest = descriptor.digest
    result: list[Descriptor] = yield _StoreCall(
        reference.registry,
        "referrers",
        (reference.repository, digest),
        {"artifact_type": artifact_type},
    )
    return result


@attrs.define
class _CopyCounts:
    manifests: int = 0
    copied: int = 0
    skipped: int = 0
    referrers: int = 0


def _copy_blob_flow(
    source: Repository, destination: Repository, descriptor: Descriptor, counts: _CopyCounts
) -> Flow[None]:
    exists = yield _StoreCall(destination.registry, "blob_exists", (destination, descriptor.digest))
    if exists:
        counts.skipped += 1
        return
    if source.registry == destination.registry:
        mounted = yield _StoreCall(
            destination.registry, "mount_blob", (destination, descriptor.digest, source)
        )
        if mounted:
            counts.copied += 1
            return
    data = yield _StoreCall(
        source.registry,
        "get_blob",
        (source, descriptor.digest),
        {"size": descriptor.size, "max_bytes": max(descriptor.size, DEFAULT_MAX_BLOB_BYTES)},
    )
    yield _StoreCall(
        destination.registry, "put_blob", (destination, data), {"digest": descriptor.digest}
    )
    counts.copied += 1


def _copy_manifest_flow(
    source: Repository,
    destination: Repository,
    digest: Digest,
    tag: str | None,
    counts: _CopyCounts,
) -> Flow[Manifest | Index]:
    manifest: Manifest | Index = yield _StoreCall(
        source.registry, "get_manifest", (ImageReference(source, None, digest),)
    )
    if isinstance(manifest, Index):
        for child in manifest.manifests:
            yield from _copy_manifest_flow(source, destination, child.digest, None, counts)
    else:
        blobs = [manifest.config, *manifest.layers]
        yield Gather([_copy_blob_flow(source, destination, blob, counts) for blob in blobs])
    yield _StoreCall(destination.registry, "put_manifest", (destination, manifest), {"tag": tag})
    counts.manifests += 1
    return manifest


def _copy_flow(
    source: ImageReference, destination: ImageReference, include_referrers: bool
) -> Flow[CopyResult]:
    descriptor: Descriptor = yield _StoreCall(source.registry, "resolve", (source,))
    counts = _CopyCounts()
    tag = destination.tag if destination.digest is None or destination.tag else None
    if destination.digest is not None and destination.digest != descriptor.digest:
        raise ManifestNotFoundError(
            f"{source} is {descriptor.digest}, not the digest given for {destination}",
            reference=str(destination),
        )
    yield from _copy_manifest_flow(
        source.repository, destination.repository, descriptor.digest, tag, counts
    )
    if include_referrers:
        yield from _copy_referrers_flow(source, destination, descriptor.digest, counts, depth=0)
    return CopyResult(
        source=source,
        destination=destination.with_digest(descriptor.digest),
        manifests=counts.manifests,
        blobs_copied=counts.copied,
        blobs_skipped=counts.skipped,
        referrers=counts.referrers,
    )


_MAX_REFERRER_DEPTH = 4


def _copy_referrers_flow(
    source: ImageReference,
    destination: ImageReference,
    subject: Digest,
    counts: _CopyCounts,
    depth: int,
) -> Flow[None]:
    if depth >= _MAX_REFERRER_DEPTH:
        return
    referrers: list[Descriptor] = yield _StoreCall(
        source.registry, "referrers", (source.repository, subject)
    )
    for referrer in referrers:
        yield from _copy_manifest_flow(
            source.repository, destination.repository, referrer.digest, None, counts
        )
        counts.referrers += 1
        yield from _copy_referrers_flow(source, destination, referrer.digest, counts, depth + 1)


# -- the two façades ------------------------------------------------------------------------


def _registry_settings(
    *,
    keychain: Keychain | None,
    insecure_registries: Iterable[str],
    verify: Any,
    proxy: Any,
    timeout: Any,
    trust_env: bool,
    transport: Any,
    retry: RetryPolicy | None,
) -> dict[str, Any]:
    """The keyword arguments of the default registry store, kept for when it is needed."""
    return {
        "keychain": keychain,
        "insecure_registries": tuple(insecure_registries),
        "verify": verify,
        "proxy": proxy,
        "timeout": timeout,
        "trust_env": trust_env,
        "transport": transport,
        "retry": retry,
    }


def _default_store_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The default registry store's arguments; without ``keychain=``, the ambient keychain.

    Made when the store is (first registry call), so that making a client stays cheap: see
    :func:`imagesig.credentials.ambient_keychain` — docker's credentials, then Google access
    tokens for Google registries only, falling back to anonymous access with a warning.
    """
    result = dict(settings)
    if result["keychain"] is None:
        from imagesig.credentials.registry import ambient_keychain  # noqa: PLC0415 - lazy

        result["keychain"] = ambient_keychain(strict=False)
    return result


def _signature_format(value: SignatureFormat | str | None, default: str) -> SignatureFormat:
    from imagesig.signatures.options import SignatureFormat  # noqa: PLC0415 - lazy layer

    if value is None:
        return SignatureFormat(default)
    return value if isinstance(value, SignatureFormat) else SignatureFormat(value)


# Every sync client in the process shares one lock table for read-modify-write sections
# (appending to a ``.sig`` manifest), so that writers take turns however many clients they
# use — the module-level helpers make one per call. Async clients keep their own table: an
# asyncio lock belongs to one event loop. Callers stripe their keys, so tables stay small.
_PROCESS_LOCKS = KeyedLocks()


class _ClientBase:
    """What both façades share: routing, transparency-log settings, signing locks."""

    _settings: dict[str, Any]

    def _init_signing(self, tlog: TransparencyLogOptions | None, locks: KeyedLocks) -> None:
        self._tlog = tlog
        self._signature_locks = locks
        self._rekor_clients: dict[str, Any] = {}
        self._default_root: TrustedRoot | None = None
        self._guard = threading.Lock()

    @property
    def tlog(self) -> TransparencyLogOptions:
        """The transparency-log options used when a call gives none."""
        if self._tlog is None:
            from imagesig.signatures.options import TransparencyLogOptions  # noqa: PLC0415

            self._tlog = TransparencyLogOptions()
        return self._tlog

    def trusted_root(self, options: TransparencyLogOptions | None = None) -> TrustedRoot:
        """Return the trusted root for ``options``.

        In order: ``options.trusted_root``, the client's :attr:`tlog` root, then
        :meth:`TrustedRoot.from_environment` (read once per client).

        Raises:
            TrustRootError: the environment's root cannot be loaded.
            SizeLimitExceededError: its file is too large.
        """
        for candidate in (options, self.tlog):
            if candidate is not None and candidate.trusted_root is not None:
                return candidate.trusted_root
        with self._guard:
            if self._default_root is None:
                from imagesig.tlog.trust import TrustedRoot  # noqa: PLC0415 - lazy layer

                self._default_root = TrustedRoot.from_environment()
            return self._default_root

    def _rekor_settings(self) -> dict[str, Any]:
        keys = ("verify", "proxy", "timeout", "trust_env", "transport", "retry")
        return {key: self._settings[key] for key in keys}

    def _route(self, registry: str) -> Any:
        stores: Mapping[str, Any] = self._stores  # type: ignore[attr-defined]
        if registry in stores:
            return stores[registry]
        if "*" in stores:
            return stores["*"]
        return self._default_store()  # type: ignore[attr-defined]


class Client(_ClientBase):
    """Blocking client: resolve, fetch, push, copy and list images across stores.

    Args:
        store: the store for registries not named in ``stores``; default: a
            :class:`~imagesig.oci.registry.RegistryStore` made from the settings below.
        stores: per-registry stores, e.g. ``{"registry.example.com": OCILayoutStore(p)}``;
            the key ``"*"`` routes every registry.
        keychain: credentials of the default registry store; default: docker's
            configuration, then Google access tokens for ``gcr.io``, ``*.gcr.io`` and
            ``*.pkg.dev`` only (:func:`imagesig.credentials.ambient_keychain`, lenient).
        insecure_registries: registries the default store reaches over plain HTTP.
        verify: TLS verification (``httpx`` name, passed through).
        proxy: proxy URL (``httpx`` name, passed through).
        timeout: timeouts (``httpx`` name, passed through).
        trust_env: read proxy and CA settings from the environment (``httpx`` name).
        transport: a custom ``httpx`` transport.
        retry: retry policy of the default registry store.
        tlog: default transparency-log options of signing and verification (cosign's
            defaults when ``None``); Rekor is reached with the network settings above.

    The client closes the stores (and Rekor clients) it created, not the ones it was given.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        stores: Mapping[str, Store] | None = None,
        keychain: Keychain | None = None,
        insecure_registries: Iterable[str] = (),
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: Any = None,
        retry: RetryPolicy | None = None,
        tlog: TransparencyLogOptions | None = None,
    ) -> None:
        self._init_signing(tlog, _PROCESS_LOCKS)
        self._stores = dict(stores or {})
        self._store = store
        self._owned: RegistryStore | None = None
        self._settings = _registry_settings(
            keychain=keychain,
            insecure_registries=insecure_registries,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
            retry=retry,
        )

    def _default_store(self) -> Store:
        if self._store is None:
            self._owned = RegistryStore(**_default_store_settings(self._settings))
            self._store = self._owned
        return self._store

    def store_for(self, registry: str) -> Store:
        """Return the store that serves ``registry``."""
        return self._route(registry)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the stores and Rekor clients this client created."""
        clients, self._rekor_clients = list(self._rekor_clients.values()), {}
        for rekor in clients:
            rekor.close()
        if self._owned is not None:
            self._owned.close()

    def rekor_client(self, url: str) -> RekorClient:
        """Return this client's Rekor client for ``url`` (created on first use).

        Raises:
            ValueError: ``url`` is not an absolute HTTP(S) URL.
        """
        with self._guard:
            rekor = self._rekor_clients.get(url)
            if rekor is None:
                from imagesig.tlog.client import RekorClient  # noqa: PLC0415 - lazy layer

                rekor = self._rekor_clients[url] = RekorClient(url, **self._rekor_settings())
        return rekor

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, flow: Flow[Any]) -> Any:
        return drive_sync(flow, self)

    def resolve(self, reference: ReferenceLike) -> Descriptor:
        """Return the descriptor a reference points at (tag → digest).

        Raises:
            InvalidReferenceError: ``reference`` is malformed.
            ManifestNotFoundError: nothing there.
            RegistryError: the registry failed (see the error tree).
        """
        ref = _reference(reference)
        return self.store_for(ref.registry).resolve(ref)

    def get_manifest(
        self, reference: ReferenceLike, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        """Fetch the manifest or index (digest-checked when pinned).

        Raises:
            ManifestNotFoundError: no such manifest.
            DigestMismatchError: the bytes do not hash to the pinned digest.
            SizeLimitExceededError: the manifest exceeds ``max_bytes``.
            InvalidManifestError: the bytes are not a manifest or index.
            RegistryError: the registry failed.
        """
        ref = _reference(reference)
        return self.store_for(ref.registry).get_manifest(ref, max_bytes=max_bytes)

    def get_blob(
        self,
        repository: RepositoryLike,
        digest: Digest | str,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        """Read a blob into memory, digest-checked and size-capped.

        Raises:
            BlobNotFoundError: no such blob.
            DigestMismatchError: the bytes do not hash to ``digest``.
            SizeLimitExceededError: the blob exceeds ``size`` or ``max_bytes``.
            RegistryError: the registry failed.
        """
        repo = _repository(repository)
        checked = digest if isinstance(digest, Digest) else Digest.parse(digest)
        store = self.store_for(repo.registry)
        return store.get_blob(repo, checked, size=size, max_bytes=max_bytes)

    def list_tags(self, repository: RepositoryLike) -> list[str]:
        """List a repository's tags."""
        repo = _repository(repository)
        return self.store_for(repo.registry).list_tags(repo)

    def referrers(
        self, reference: ReferenceLike, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """List what refers to an image (signatures, attestations, SBOMs...).

        A tag is resolved once; the referrers are those of that digest.
        """
        result: list[Descriptor] = self._run(_referrers_flow(_reference(reference), artifact_type))
        return result

    def push_manifest(
        self, repository: RepositoryLike, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        """Store a manifest whose blobs are already present; tag it when ``tag`` is given."""
        repo = _repository(repository)
        return self.store_for(repo.registry).put_manifest(repo, manifest, tag=tag)

    def push_blob(self, repository: RepositoryLike, data: bytes) -> Digest:
        """Store a blob (skipped when present); return its digest."""
        repo = _repository(repository)
        return self.store_for(repo.registry).put_blob(repo, data)

    def copy_image(
        self,
        source: ReferenceLike,
        destination: ReferenceLike,
        *,
        include_referrers: bool = True,
    ) -> CopyResult:
        """Copy an image (manifest or index, all blobs) and, by default, its referrers.

        Source and destination may be served by different stores, e.g. a registry and an
        OCI layout. Blobs already present are skipped; on one registry they are mounted.

        Raises:
            ManifestNotFoundError: the source (or a child manifest) does not exist.
            BlobNotFoundError: a blob of the source is missing.
            DigestMismatchError: content does not hash to its digest.
            RegistryError: a registry failed.
            LayoutError: an OCI layout could not be read or written.
        """
        flow = _copy_flow(_reference(source), _reference(destination), include_referrers)
        result: CopyResult = self._run(flow)
        return result

    # -- signatures -----------------------------------------------------------------------

    def sign_image(
        self,
        reference: ReferenceLike,
        signer: Signer | str | os.PathLike[str],
        *,
        annotations: Mapping[str, str] | None = None,
        format: SignatureFormat | str | None = None,
        tlog: TransparencyLogOptions | None = None,
        password: PasswordSource = None,
    ) -> SignResult:
        """Sign an image and attach the signature; see :func:`imagesig.sign_image`.

        ``format`` defaults to :attr:`SignatureFormat.BUNDLE` (also accepted as ``"bundle"``
        or ``"legacy"``); ``tlog`` defaults to :attr:`tlog`.

        Raises:
            SignerError: the key could not be loaded or the signer failed.
            RekorError: the transparency log refused or failed the entry.
            TransparencyLogError: the returned entry does not verify (nothing attached).
            ConcurrentUpdateError: other writers kept replacing the ``.sig`` manifest.
            StoreError: the store failed (``ManifestNotFoundError``: no such image).
        """
        from imagesig.signatures.sign import _resolve_signer, sign_flow  # noqa: PLC0415

        flow = sign_flow(
            _reference(reference),
            _resolve_signer(signer, password),
            annotations=annotations,
            format=_signature_format(format, "bundle"),
            tlog=tlog or self.tlog,
        )
        result: SignResult = self._run(flow)
        return result

    def verify_image(
        self,
        reference: ReferenceLike,
        keys: Sequence[PublicKey | str | bytes | os.PathLike[str]]
        | PublicKey
        | str
        | bytes
        | os.PathLike[str],
        *,
        annotations: Mapping[str, str] | None = None,
        tlog: TransparencyLogOptions | None = None,
    ) -> VerificationResult:
        """Verify an image's signatures; see :func:`imagesig.verify_image`.

        Raises:
            KeyFormatError: a key is not a PEM public key.
            TrustRootError: the trusted root could not be loaded.
            StoreError: the store failed while listing signatures (``ManifestNotFoundError``:
                no such tag).
        """
        from imagesig.signatures.verify import resolve_keys, verify_flow  # noqa: PLC0415

        flow = verify_flow(
            _reference(reference),
            resolve_keys(keys),
            annotations=annotations,
            tlog=tlog or self.tlog,
        )
        result: VerificationResult = self._run(flow)
        return result

    def triangulate(
        self, reference: ReferenceLike, *, format: SignatureFormat | str | None = None
    ) -> ImageReference:
        """Say where an image's signatures live; see :func:`imagesig.triangulate`.

        ``format`` defaults to :attr:`SignatureFormat.LEGACY` (the ``.sig`` tag).

        Raises:
            ManifestNotFoundError: the tag does not exist.
            StoreError: the store failed.
        """
        from imagesig.signatures.attach import triangulate_flow  # noqa: PLC0415

        flow = triangulate_flow(_reference(reference), _signature_format(format, "legacy"))
        result: ImageReference = self._run(flow)
        return result

    def list_signatures(self, reference: ReferenceLike) -> list[AttachedSignature]:
        """List what is attached to an image, unverified; see :func:`imagesig.list_signatures`.

        Raises:
            ManifestNotFoundError: the tag does not exist.
            StoreError: the store failed while listing.
        """
        from imagesig.signatures.attach import list_signatures_flow  # noqa: PLC0415

        result: list[AttachedSignature] = self._run(list_signatures_flow(_reference(reference)))
        return result

    # -- attestations ---------------------------------------------------------------------

    def attest_image(
        self,
        reference: ReferenceLike,
        predicate: PredicateLike,
        predicate_type: str,
        *,
        signer: Signer | str | os.PathLike[str],
        format: SignatureFormat | str | None = None,
        tlog: TransparencyLogOptions | None = None,
        replace: bool = False,
        password: PasswordSource = None,
    ) -> AttestResult:
        """Attest an image and attach the attestation; see :func:`imagesig.attest_image`.

        ``format`` defaults to :attr:`SignatureFormat.BUNDLE` (also accepted as ``"bundle"``
        or ``"legacy"``); ``tlog`` defaults to :attr:`tlog`.

        Raises:
            StatementError: the predicate type is invalid or the predicate not JSON.
            SignerError: the key could not be loaded or the signer failed.
            RekorError: the transparency log refused or failed the entry.
            TransparencyLogError: the returned entry does not verify (nothing attached).
            ConcurrentUpdateError: other writers kept replacing the ``.att`` manifest.
            StoreError: the store failed (``ManifestNotFoundError``: no such image).
        """
        from imagesig.signatures.attest import attest_flow  # noqa: PLC0415
        from imagesig.signatures.sign import _resolve_signer  # noqa: PLC0415

        flow = attest_flow(
            _reference(reference),
            _resolve_signer(signer, password),
            predicate,
            predicate_type,
            format=_signature_format(format, "bundle"),
            tlog=tlog or self.tlog,
            replace=replace,
        )
        result: AttestResult = self._run(flow)
        return result

    def verify_attestations(
        self,
        reference: ReferenceLike,
        keys: Sequence[PublicKey | str | bytes | os.PathLike[str]]
        | PublicKey
        | str
        | bytes
        | os.PathLike[str],
        *,
        predicate_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        tlog: TransparencyLogOptions | None = None,
        threshold: int = 1,
        max_statement_bytes: int | None = None,
    ) -> AttestationVerificationResult:
        """Verify an image's attestations; see :func:`imagesig.verify_attestations`.

        Raises:
            StatementError: ``predicate_type`` is neither a short name nor a URI.
            KeyFormatError: a key is not a PEM public key.
            TrustRootError: the trusted root could not be loaded.
            StoreError: the store failed while listing attestations.
        """
        flow = _verify_attestations_flow(
            reference,
            keys,
            predicate_type=predicate_type,
            annotations=annotations,
            tlog=tlog or self.tlog,
            threshold=threshold,
            max_statement_bytes=max_statement_bytes,
        )
        result: AttestationVerificationResult = self._run(flow)
        return result

    def list_attachments(self, reference: ReferenceLike) -> AttachmentTree:
        """List everything attached to an image, unverified; see
        :func:`imagesig.list_attachments`.

        Raises:
            ManifestNotFoundError: the tag does not exist.
            StoreError: the store failed while listing.
        """
        from imagesig.signatures.attach import list_attachments_flow  # noqa: PLC0415

        result: AttachmentTree = self._run(list_attachments_flow(_reference(reference)))
        return result


class AsyncClient(_ClientBase):
    """:class:`Client` for asyncio: the same arguments and operations, as coroutines.

    A blocking store given here (such as an OCI layout) runs in worker threads.
    """

    def __init__(
        self,
        store: AsyncStore | Store | None = None,
        *,
        stores: Mapping[str, AsyncStore | Store] | None = None,
        keychain: Keychain | None = None,
        insecure_registries: Iterable[str] = (),
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: Any = None,
        retry: RetryPolicy | None = None,
        tlog: TransparencyLogOptions | None = None,
    ) -> None:
        self._init_signing(tlog, KeyedLocks())
        self._stores = {name: _as_async(value) for name, value in (stores or {}).items()}
        self._store = _as_async(store) if store is not None else None
        self._owned: AsyncRegistryStore | None = None
        self._settings = _registry_settings(
            keychain=keychain,
            insecure_registries=insecure_registries,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
            retry=retry,
        )

    def _default_store(self) -> AsyncStore:
        if self._store is None:
            self._owned = AsyncRegistryStore(**_default_store_settings(self._settings))
            self._store = self._owned
        return self._store

    def store_for(self, registry: str) -> AsyncStore:
        """Return the store that serves ``registry``."""
        return self._route(registry)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the stores and Rekor clients this client created."""
        clients, self._rekor_clients = list(self._rekor_clients.values()), {}
        for rekor in clients:
            await rekor.aclose()
        if self._owned is not None:
            await self._owned.aclose()

    def rekor_client(self, url: str) -> AsyncRekorClient:
        """See :meth:`Client.rekor_client`."""
        with self._guard:
            rekor = self._rekor_clients.get(url)
            if rekor is None:
                from imagesig.tlog.client import AsyncRekorClient  # noqa: PLC0415 - lazy layer

                rekor = self._rekor_clients[url] = AsyncRekorClient(url, **self._rekor_settings())
        return rekor

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[Any]) -> Any:
        return await drive_async(flow, self)

    async def resolve(self, reference: ReferenceLike) -> Descriptor:
        """See :meth:`Client.resolve`."""
        ref = _reference(reference)
        return await self.store_for(ref.registry).resolve(ref)

    async def get_manifest(
        self, reference: ReferenceLike, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        """See :meth:`Client.get_manifest`."""
        ref = _reference(reference)
        return await self.store_for(ref.registry).get_manifest(ref, max_bytes=max_bytes)

    async def get_blob(
        self,
        repository: RepositoryLike,
        digest: Digest | str,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        """See :meth:`Client.get_blob`."""
        repo = _repository(repository)
        checked = digest if isinstance(digest, Digest) else Digest.parse(digest)
        store = self.store_for(repo.registry)
        return await store.get_blob(repo, checked, size=size, max_bytes=max_bytes)

    async def list_tags(self, repository: RepositoryLike) -> list[str]:
        """See :meth:`Client.list_tags`."""
        repo = _repository(repository)
        return await self.store_for(repo.registry).list_tags(repo)

    async def referrers(
        self, reference: ReferenceLike, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """See :meth:`Client.referrers`."""
        flow = _referrers_flow(_reference(reference), artifact_type)
        result: list[Descriptor] = await self._run(flow)
        return result

    async def push_manifest(
        self, repository: RepositoryLike, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        """See :meth:`Client.push_manifest`."""
        repo = _repository(repository)
        return await self.store_for(repo.registry).put_manifest(repo, manifest, tag=tag)

    async def push_blob(self, repository: RepositoryLike, data: bytes) -> Digest:
        """See :meth:`Client.push_blob`."""
        repo = _repository(repository)
        return await self.store_for(repo.registry).put_blob(repo, data)

    async def copy_image(
        self,
        source: ReferenceLike,
        destination: ReferenceLike,
        *,
        include_referrers: bool = True,
    ) -> CopyResult:
        """See :meth:`Client.copy_image`; blobs of a manifest are copied concurrently."""
        flow = _copy_flow(_reference(source), _reference(destination), include_referrers)
        result: CopyResult = await self._run(flow)
        return result

    # -- signatures -----------------------------------------------------------------------

    async def sign_image(
        self,
        reference: ReferenceLike,
        signer: Signer | AsyncSigner | str | os.PathLike[str],
        *,
        annotations: Mapping[str, str] | None = None,
        format: SignatureFormat | str | None = None,
        tlog: TransparencyLogOptions | None = None,
        password: PasswordSource = None,
    ) -> SignResult:
        """See :meth:`Client.sign_image`; an :class:`~imagesig.signers.AsyncSigner` works too.

        A key file is read and decrypted in a worker thread (scrypt takes a moment).
        """
        from imagesig.signatures.sign import _resolve_signer, sign_flow  # noqa: PLC0415

        if isinstance(signer, (str, os.PathLike)):
            import asyncio  # noqa: PLC0415 - loaded already whenever this runs

            resolved = await asyncio.to_thread(_resolve_signer, signer, password)
        else:
            resolved = _resolve_signer(signer, password)
        flow = sign_flow(
            _reference(reference),
            resolved,
            annotations=annotations,
            format=_signature_format(format, "bundle"),
            tlog=tlog or self.tlog,
        )
        result: SignResult = await self._run(flow)
        return result

    async def verify_image(
        self,
        reference: ReferenceLike,
        keys: Sequence[PublicKey | str | bytes | os.PathLike[str]]
        | PublicKey
        | str
        | bytes
        | os.PathLike[str],
        *,
        annotations: Mapping[str, str] | None = None,
        tlog: TransparencyLogOptions | None = None,
    ) -> VerificationResult:
        """See :meth:`Client.verify_image`; signatures are fetched concurrently."""
        from imagesig.signatures.verify import resolve_keys, verify_flow  # noqa: PLC0415

        flow = verify_flow(
            _reference(reference),
            resolve_keys(keys),
            annotations=annotations,
            tlog=tlog or self.tlog,
        )
        result: VerificationResult = await self._run(flow)
        return result

    async def triangulate(
        self, reference: ReferenceLike, *, format: SignatureFormat | str | None = None
    ) -> ImageReference:
        """See :meth:`Client.triangulate`."""
        from imagesig.signatures.attach import triangulate_flow  # noqa: PLC0415

        flow = triangulate_flow(_reference(reference), _signature_format(format, "legacy"))
        result: ImageReference = await self._run(flow)
        return result

    async def list_signatures(self, reference: ReferenceLike) -> list[AttachedSignature]:
        """See :meth:`Client.list_signatures`."""
        from imagesig.signatures.attach import list_signatures_flow  # noqa: PLC0415

        result: list[AttachedSignature] = await self._run(
            list_signatures_flow(_reference(reference))
        )
        return result

    # -- attestations ---------------------------------------------------------------------

    async def attest_image(
        self,
        reference: ReferenceLike,
        predicate: PredicateLike,
        predicate_type: str,
        *,
        signer: Signer | AsyncSigner | str | os.PathLike[str],
        format: SignatureFormat | str | None = None,
        tlog: TransparencyLogOptions | None = None,
        replace: bool = False,
        password: PasswordSource = None,
    ) -> AttestResult:
        """See :meth:`Client.attest_image`; an :class:`~imagesig.signers.AsyncSigner` works
        too, and a key file is read and decrypted in a worker thread."""
        from imagesig.signatures.attest import attest_flow  # noqa: PLC0415
        from imagesig.signatures.sign import _resolve_signer  # noqa: PLC0415

        if isinstance(signer, (str, os.PathLike)):
            import asyncio  # noqa: PLC0415 - loaded already whenever this runs

            resolved = await asyncio.to_thread(_resolve_signer, signer, password)
        else:
            resolved = _resolve_signer(signer, password)
        flow = attest_flow(
            _reference(reference),
            resolved,
            predicate,
            predicate_type,
            format=_signature_format(format, "bundle"),
            tlog=tlog or self.tlog,
            replace=replace,
        )
        result: AttestResult = await self._run(flow)
        return result

    async def verify_attestations(
        self,
        reference: ReferenceLike,
        keys: Sequence[PublicKey | str | bytes | os.PathLike[str]]
        | PublicKey
        | str
        | bytes
        | os.PathLike[str],
        *,
        predicate_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        tlog: TransparencyLogOptions | None = None,
        threshold: int = 1,
        max_statement_bytes: int | None = None,
    ) -> AttestationVerificationResult:
        """See :meth:`Client.verify_attestations`; attestations are fetched concurrently."""
        flow = _verify_attestations_flow(
            reference,
            keys,
            predicate_type=predicate_type,
            annotations=annotations,
            tlog=tlog or self.tlog,
            threshold=threshold,
            max_statement_bytes=max_statement_bytes,
        )
        result: AttestationVerificationResult = await self._run(flow)
        return result

    async def list_attachments(self, reference: ReferenceLike) -> AttachmentTree:
        """See :meth:`Client.list_attachments`; referrer manifests are fetched concurrently."""
        from imagesig.signatures.attach import list_attachments_flow  # noqa: PLC0415

        result: AttachmentTree = await self._run(list_attachments_flow(_reference(reference)))
        return result


def _verify_attestations_flow(
    reference: ReferenceLike,
    keys: Any,
    *,
    predicate_type: str | None,
    annotations: Mapping[str, str] | None,
    tlog: TransparencyLogOptions,
    threshold: int,
    max_statement_bytes: int | None,
) -> Flow[AttestationVerificationResult]:
    """Both clients' :meth:`~Client.verify_attestations`: arguments checked before any I/O."""
    from imagesig.signatures.attest import DEFAULT_MAX_STATEMENT_BYTES  # noqa: PLC0415
    from imagesig.signatures.intoto import resolve_predicate_type  # noqa: PLC0415
    from imagesig.signatures.verify import resolve_keys  # noqa: PLC0415
    from imagesig.signatures.verify_attestations import verify_attestations_flow  # noqa: PLC0415

    if predicate_type is not None:
        predicate_type = resolve_predicate_type(predicate_type)
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, not {threshold}")
    limit = DEFAULT_MAX_STATEMENT_BYTES if max_statement_bytes is None else max_statement_bytes
    if limit < 1:
        raise ValueError(f"max_statement_bytes must be positive, not {limit}")
    return verify_attestations_flow(
        _reference(reference),
        resolve_keys(keys),
        predicate_type=predicate_type,
        annotations=annotations,
        tlog=tlog,
        threshold=threshold,
        max_statement_bytes=limit,
    )


def _as_async(store: AsyncStore | Store) -> AsyncStore:
    if inspect.iscoroutinefunction(getattr(store, "resolve", None)):
        return store  # type: ignore[return-value]
    return ThreadedAsyncStore(store)  # type: ignore[arg-type]
