"""The ``Store`` protocol: where images, signatures and attestations are read and written.

Two implementations ship with imagesig: :class:`~imagesig.oci.registry.RegistryStore` (any
registry speaking the distribution API) and :class:`~imagesig.oci.layout.OCILayoutStore` (an
OCI image-layout directory on disk, the embedded default that needs no server). Anything that
implements these methods can be handed to :class:`imagesig.Client`.

Every method names the repository it acts on, so one store serves many repositories. Reads
are digest-checked and size-capped by every implementation; a store never returns content
that does not hash to the digest it was asked for.

:class:`AsyncStore` is the same protocol with coroutines; :class:`ThreadedAsyncStore` adapts
any sync store to it by running each call in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Protocol, TypeVar, runtime_checkable

from imagesig.oci.model import Descriptor, Index, Manifest
from imagesig.reference import Digest, ImageReference, Repository

__all__ = [
    "DEFAULT_MAX_BLOB_BYTES",
    "DEFAULT_MAX_MANIFEST_BYTES",
    "AsyncStore",
    "Store",
    "ThreadedAsyncStore",
    "referrers_tag",
]

T = TypeVar("T")

DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Manifests and indexes larger than this are refused (containers/image uses 4 MiB)."""

DEFAULT_MAX_BLOB_BYTES = 128 * 1024 * 1024
"""Default cap for blobs read into memory (cosign's default attachment limit)."""


def referrers_tag(digest: Digest) -> str:
    """Return the OCI 1.1 referrers tag-schema tag for ``digest``: ``sha256-<hex>``."""
    return digest.tag_suffix


@runtime_checkable
class Store(Protocol):
    """Blocking access to manifests, blobs, tags and referrers."""

    def resolve(self, reference: ImageReference) -> Descriptor:
        """Return the descriptor (media type, digest, size) ``reference`` points at.

        Raises:
            ManifestNotFoundError: nothing is tagged so / no manifest has that digest.
        """
        ...

    def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        """Fetch and parse the manifest or index ``reference`` points at.

        When ``reference`` has a digest, the bytes are checked against it.

        Raises:
            ManifestNotFoundError: no such manifest.
            DigestMismatchError: the bytes do not hash to the requested digest.
            SizeLimitExceededError: the manifest is larger than ``max_bytes``.
            InvalidManifestError: the bytes are not a manifest or index.
        """
        ...

    def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        """Read a whole blob into memory, digest-checked.

        Args:
            repository: where the blob lives.
            digest: its digest.
            size: its size from the descriptor, when known: a larger blob is refused
                before download and a longer stream is cut at this size.
            max_bytes: refuse blobs larger than this.

        Raises:
            BlobNotFoundError: no such blob.
            SizeLimitExceededError: over ``size`` or ``max_bytes``.
            DigestMismatchError: the bytes do not hash to ``digest``.
        """
        ...

    def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a blob into ``destination``; return the number of bytes written.

        The digest is checked once the stream ends; on a mismatch
        :class:`DigestMismatchError` is raised and the caller must discard what was written.
        """
        ...

    def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        """Return whether the blob exists in ``repository``."""
        ...

    def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        """Store ``data`` as a blob (skipped when it exists); return its digest.

        Raises:
            DigestMismatchError: ``digest`` was given and ``data`` does not match it.
        """
        ...

    def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        """Make a blob of ``source`` available in ``repository`` without uploading it.

        Returns:
            ``True`` when the blob is now in ``repository``; ``False`` when the store could
            not mount it (the caller then uploads it).
        """
        ...

    def put_manifest(
        self,
        repository: Repository,
        manifest: Manifest | Index,
        *,
        tag: str | None = None,
    ) -> Descriptor:
        """Store a manifest or index by digest, and under ``tag`` when given.

        A manifest with a ``subject`` is also recorded as a referrer of that subject:
        natively when the store supports the referrers API, otherwise in the
        ``sha256-<hex>`` tag-schema index.

        Returns:
            The descriptor of the stored manifest.
        """
        ...

    def list_tags(self, repository: Repository) -> list[str]:
        """Return the repository's tags (bounded pagination)."""
        ...

    def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Return descriptors of manifests whose ``subject`` is ``digest``.

        Uses the referrers API when the store has one and the OCI 1.1 tag-schema fallback
        otherwise; filtered by ``artifact_type`` when given.
        """
        ...

    def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        """Delete the manifest with ``digest`` (and the tags pointing at it).

        Raises:
            ManifestNotFoundError: no such manifest.
        """
        ...


@runtime_checkable
class AsyncStore(Protocol):
    """:class:`Store` with coroutines; same arguments, results and errors."""

    async def resolve(self, reference: ImageReference) -> Descriptor: ...

    async def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index: ...

    async def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes: ...

    async def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int: ...

    async def blob_exists(self, repository: Repository, digest: Digest) -> bool: ...

    async def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest: ...

    async def mount_blob(
        self, repository: Repository, digest: Digest, source: Repository
    ) -> bool: ...

    async def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor: ...

    async def list_tags(self, repository: Repository) -> list[str]: ...

    async def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]: ...

    async def delete_manifest(self, repository: Repository, digest: Digest) -> None: ...


class ThreadedAsyncStore:
    """Adapt a blocking :class:`Store` (such as an OCI layout) to :class:`AsyncStore`.

    Each call runs in the default executor so the event loop never blocks on disk I/O.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def resolve(self, reference: ImageReference) -> Descriptor:
        return await _to_thread(self.store.resolve, reference)

    async def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        return await _to_thread(self.store.get_manifest, reference, max_bytes=max_bytes)

    async def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        return await _to_thread(
            self.store.get_blob, repository, digest, size=size, max_bytes=max_bytes
        )

    async def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        return await _to_thread(
            self.store.copy_blob_to, repository, digest, destination, size=size, max_bytes=max_bytes
        )

    async def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        return await _to_thread(self.store.blob_exists, repository, digest)

    async def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        return await _to_thread(self.store.put_blob, repository, data, digest=digest)

    async def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        return await _to_thread(self.store.mount_blob, repository, digest, source)

    async def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        return await _to_thread(self.store.put_manifest, repository, manifest, tag=tag)

    async def list_tags(self, repository: Repository) -> list[str]:
        return await _to_thread(self.store.list_tags, repository)

    async def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        return await _to_thread(
            self.store.referrers, repository, digest, artifact_type=artifact_type
        )

    async def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        await _to_thread(self.store.delete_manifest, repository, digest)


async def _to_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

    return await asyncio.to_thread(function, *args, **kwargs)


def filter_by_artifact_type(
    descriptors: Sequence[Descriptor], artifact_type: str | None
) -> list[Descriptor]:
    """Keep the descriptors whose ``artifactType`` is ``artifact_type`` (all when ``None``)."""
    if artifact_type is None:
        return list(descriptors)
    return [d for d in descriptors if d.artifact_type == artifact_type]
