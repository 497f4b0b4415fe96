"""``InMemoryStore``: a :class:`~imagesig.oci.store.Store` held in a dictionary.

Meant for tests of code built on imagesig (plugins, policies, services): it behaves like a
registry with the OCI 1.1 referrers API — referrers are found from the manifests' own
``subject`` fields, no tag-schema index is written — and keeps every guarantee of the other
stores: content is addressed by the digest of its exact bytes, reads are size-capped and
digest-checked, and a missing manifest or blob raises the usual typed error. It is safe to
share between threads; nothing is persisted.

Example:
    >>> from imagesig import Client
    >>> from imagesig.oci.memory import InMemoryStore
    >>> client = Client(store=InMemoryStore())
"""

from __future__ import annotations

import threading
from typing import BinaryIO

import attrs

from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ManifestNotFoundError,
    SizeLimitExceededError,
)
from imagesig.oci.model import Descriptor, Index, Manifest, parse_manifest
from imagesig.oci.store import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_MANIFEST_BYTES,
    filter_by_artifact_type,
)
from imagesig.reference import DEFAULT_TAG, Digest, ImageReference, Repository

__all__ = ["InMemoryStore"]


@attrs.define
class _Repository:
    blobs: dict[Digest, bytes] = attrs.Factory(dict)
    manifests: dict[Digest, Manifest | Index] = attrs.Factory(dict)
    tags: dict[str, Digest] = attrs.Factory(dict)


class InMemoryStore:
    """A thread-safe, non-persistent :class:`~imagesig.oci.store.Store` (see the module notes)."""

    def __init__(self) -> None:
        self._repositories: dict[Repository, _Repository] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryStore(repositories={len(self._repositories)})"

    def _repo(self, repository: Repository) -> _Repository:
        with self._lock:
            return self._repositories.setdefault(repository, _Repository())

    def _manifest(self, reference: ImageReference) -> Manifest | Index:
        repo = self._repo(reference.repository)
        with self._lock:
            digest = reference.digest or repo.tags.get(reference.tag or DEFAULT_TAG)
            manifest = repo.manifests.get(digest) if digest is not None else None
        if manifest is None:
            raise ManifestNotFoundError(
                f"manifest {reference} not found",
                repository=str(reference.repository),
                reference=str(reference),
            )
        return manifest

    def resolve(self, reference: ImageReference) -> Descriptor:
        """Return the descriptor of the manifest ``reference`` points at.

        Raises:
            ManifestNotFoundError: nothing is tagged so / no manifest has that digest.
        """
        return self._manifest(reference).descriptor()

    def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        """Return the manifest or index ``reference`` points at.

        Raises:
            ManifestNotFoundError: no such manifest.
            SizeLimitExceededError: it is larger than ``max_bytes``.
        """
        manifest = self._manifest(reference)
        if len(manifest.raw) > max_bytes:
            raise SizeLimitExceededError(
                f"manifest {reference} is {len(manifest.raw)} bytes, more than {max_bytes}",
                limit=max_bytes,
            )
        return manifest

    def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        """Return a blob's bytes.

        Raises:
            BlobNotFoundError: no such blob in ``repository``.
            SizeLimitExceededError: it is larger than ``size`` or ``max_bytes``.
        """
        repo = self._repo(repository)
        with self._lock:
            data = repo.blobs.get(digest)
        if data is None:
            raise BlobNotFoundError(
                f"blob {repository}@{digest} not found", repository=str(repository)
            )
        limit = max_bytes if size is None else min(size, max_bytes)
        if len(data) > limit:
            raise SizeLimitExceededError(
                f"blob {repository}@{digest} is {len(data)} bytes, more than {limit}",
                limit=limit,
            )
        return data

    def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Write a blob into ``destination``; return the number of bytes written.

        Raises:
            BlobNotFoundError: no such blob in ``repository``.
            SizeLimitExceededError: it is larger than ``size`` or ``max_bytes``.
        """
        data = self.get_blob(
            repository, digest, size=size, max_bytes=max_bytes or DEFAULT_MAX_BLOB_BYTES * 64
        )
        destination.write(data)
        return len(data)

    def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        """Return whether ``repository`` holds the blob."""
        repo = self._repo(repository)
        with self._lock:
            return digest in repo.blobs

    def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        """Store ``data``; return its digest.

        Raises:
            DigestMismatchError: ``digest`` was given and ``data`` does not hash to it.
        """
        actual = Digest.from_bytes(data, digest.algorithm if digest else "sha256")
        if digest is not None and actual != digest:
            raise DigestMismatchError(
                f"blob for {repository} hashes to {actual}, not {digest}",
                repository=str(repository),
            )
        repo = self._repo(repository)
        with self._lock:
            repo.blobs.setdefault(actual, bytes(data))
        return actual

    def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        """Copy a blob from ``source`` into ``repository``; ``False`` when ``source`` lacks it."""
        origin = self._repo(source)
        target = self._repo(repository)
        with self._lock:
            data = origin.blobs.get(digest)
            if data is None:
                return False
            target.blobs.setdefault(digest, data)
            return True

    def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        """Store a manifest (re-parsed from its exact bytes) and tag it when ``tag`` is given.

        Raises:
            InvalidManifestError: its bytes are not a manifest or index.
        """
        stored = parse_manifest(manifest.raw, manifest.media_type)
        repo = self._repo(repository)
        with self._lock:
            repo.manifests[stored.digest] = stored
            if tag is not None:
                repo.tags[tag] = stored.digest
        return stored.descriptor()

    def list_tags(self, repository: Repository) -> list[str]:
        """Return the repository's tags, sorted."""
        repo = self._repo(repository)
        with self._lock:
            return sorted(repo.tags)

    def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Return the manifests whose ``subject`` is ``digest``, sorted by digest."""
        repo = self._repo(repository)
        with self._lock:
            found = [
                manifest.descriptor(annotations=manifest.annotations)
                for manifest in repo.manifests.values()
                if manifest.subject is not None and manifest.subject.digest == digest
            ]
        found.sort(key=lambda descriptor: str(descriptor.digest))
        return filter_by_artifact_type(found, artifact_type)

    def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        """Delete a manifest and the tags pointing at it.

        Raises:
            ManifestNotFoundError: no such manifest.
        """
        repo = self._repo(repository)
        with self._lock:
            if repo.manifests.pop(digest, None) is None:
                raise ManifestNotFoundError(
                    f"manifest {repository}@{digest} not found", repository=str(repository)
                )
            for tag in [tag for tag, target in repo.tags.items() if target == digest]:
                del repo.tags[tag]
