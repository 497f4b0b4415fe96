"""``OCILayoutStore``: a :class:`~imagesig.oci.store.Store` kept in OCI image-layout directories.

This is the embedded default store: it needs no server, and what it writes can be read by any
tool that understands the OCI image layout (``skopeo copy oci:DIR:TAG ...``, ``oras``...).

Where things live:

* Each repository is one standard OCI image layout at ``ROOT/<registry>/<path>``, where the
  registry's ``:``, ``[`` and ``]`` become ``_`` (host names cannot contain ``_``, so two
  registries never share a directory): ``ROOT/registry.example.com/team/app/``,
  ``ROOT/localhost_5000/app/``, ``ROOT/___1__5000/app/`` for ``[::1]:5000``.
  :meth:`OCILayoutStore.layout_dir` returns it.
* A layout holds ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (an OCI
  image index) and ``blobs/<algorithm>/<hex>``. A layout whose ``oci-layout`` names another
  major version is refused with :class:`~imagesig.errors.LayoutError`.
* A tag is an ``index.json`` entry annotated ``org.opencontainers.image.ref.name: <tag>``; when
  a tag appears twice (another tool may write that), the later entry wins. Untagged entries
  keep manifests pushed without a tag reachable. Entries and fields written by other tools
  are kept as they are when ``index.json`` is rewritten.
* A manifest with a ``subject`` is also listed in the OCI 1.1 referrers *tag schema*: an image
  index tagged ``sha256-<hex of the subject digest>`` whose entries describe the referrers
  (``artifactType`` and ``annotations`` copied from each referrer), exactly what a client
  writes to a registry that has no referrers API.

Safety:

* Writes are atomic: a temporary file (``.tmp-*``) in the layout directory is written,
  fsynced and moved into place with :func:`os.replace`. Blobs are content-addressed and
  skipped when already present with the right size.
* ``index.json`` is updated read-modify-write under an exclusive lock on
  ``index.json.lock`` (``fcntl.flock``; ``msvcrt.locking`` on Windows), so concurrent writers
  in other threads *and* other processes never lose each other's entries. Readers take no
  lock: they always see a complete old or new ``index.json``.
* Every read is size-capped before reading (from ``fstat``) and digest-checked: a damaged or
  tampered file raises :class:`~imagesig.errors.DigestMismatchError`, never returns.
* Paths are built only from :class:`~imagesig.reference.Digest` and
  :class:`~imagesig.reference.Repository` objects, and checked to stay under the root even
  though the reference grammar already forbids ``..``.
* Every :class:`OSError` is reported as :class:`~imagesig.errors.LayoutError` naming the layout
  directory and the operation.

A repository whose path has a component named like a layout's own entries (``blobs``,
``index.json``, ``oci-layout``, ``index.json.lock``) would overlap its parent repository's
layout; writing to it fails with :class:`~imagesig.errors.LayoutError`.

Example:
    >>> store = OCILayoutStore(tmp)                                     # doctest: +SKIP
    >>> store.put_manifest(repository, manifest, tag="1.4")             # doctest: +SKIP
    >>> store.layout_dir(repository)                                    # doctest: +SKIP
    PosixPath('.../registry.example.com/team/app')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageSigError,
    InvalidReferenceError,
    LayoutError,
    ManifestNotFoundError,
)
from imagesig.oci._layout_files import (
    IMAGE_LAYOUT_VERSION,
    MAX_INDEX_ENTRIES,
    MAX_INDEX_JSON_BYTES,
    REF_NAME_ANNOTATION,
    IndexFile,
    Layout,
    checked_digest,
    layout_directory,
)
from imagesig.oci.model import Descriptor, Index, Manifest, parse_manifest
from imagesig.oci.store import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_MANIFEST_BYTES,
    filter_by_artifact_type,
    referrers_tag,
)
from imagesig.reference import DEFAULT_TAG, Digest, ImageReference, Repository, is_valid_tag

__all__ = [
    "IMAGE_LAYOUT_VERSION",
    "MAX_INDEX_ENTRIES",
    "MAX_INDEX_JSON_BYTES",
    "REF_NAME_ANNOTATION",
    "OCILayoutStore",
]


class OCILayoutStore:
    """A :class:`~imagesig.oci.store.Store` on OCI image-layout directories, one per repository.

    Args:
        root: the directory holding one layout per repository (see the module docs).
        create: create ``root`` and the layouts on first write. With ``False`` the root must
            already exist (new repositories are still created inside it).

    Raises:
        LayoutError: ``create`` is ``False`` and ``root`` is not a directory.

    Example:
        >>> store = OCILayoutStore("/var/lib/imagesig/oci")             # doctest: +SKIP
        >>> store.list_tags(Repository.parse("registry.example.com/team/app"))  # doctest: +SKIP
        ['1.4', 'sha256-3a4f...']
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self._root = Path(os.path.abspath(os.fspath(root)))
        self._create = create
        if not create and not self._root.is_dir():
            raise LayoutError(
                f"OCI layout root {self._root} is not a directory",
                hint="create it, or pass create=True",
                layout=str(self._root),
            )

    @property
    def root(self) -> Path:
        """The directory holding the layouts."""
        return self._root

    def __repr__(self) -> str:
        return f"OCILayoutStore({str(self._root)!r})"

    def layout_dir(self, repository: Repository) -> Path:
        """Return the OCI image-layout directory that holds ``repository``.

        Hand it to other OCI tools as ``oci:DIR:TAG``. The directory may not exist yet.

        Raises:
            InvalidReferenceError: the repository's registry or path cannot name a directory.

        Example:
            >>> OCILayoutStore("/oci").layout_dir(Repository.parse("localhost:5000/app"))
            PosixPath('/oci/localhost_5000/app')
        """
        return layout_directory(self._root, repository)

    # -- reads ------------------------------------------------------------------------------

    def resolve(self, reference: ImageReference) -> Descriptor:
        """Return the descriptor ``reference`` points at (see :meth:`Store.resolve`).

        A digest is looked up as a blob (its media type taken from ``index.json`` when listed
        there, else from the blob); a tag through ``index.json``.

        Raises:
            ManifestNotFoundError: no such tag or manifest.
            LayoutError: the layout is damaged or unreadable.
        """
        layout = self._layout(reference.repository)
        index = layout.read_index()
        if reference.digest is not None:
            digest = checked_digest(reference.digest)
            path = layout.existing_blob(digest)
            if path is None:
                raise _manifest_not_found(reference)
            listed = index.with_digest(digest)
            size = layout.stat_size(path, "resolve")
            if listed is not None:
                return Descriptor(media_type=listed.media_type, digest=digest, size=size)
            manifest = self._read_manifest(layout, reference, digest)
            return manifest.descriptor()
        return _plain(self._tagged(layout, index, reference))

    def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        """Read, digest-check and parse the manifest or index ``reference`` points at.

        Raises:
            ManifestNotFoundError: no such tag or manifest.
            SizeLimitExceededError: the file is larger than ``max_bytes`` (checked before
                reading) or than the size ``index.json`` records for it.
            DigestMismatchError: the file does not hash to its digest.
            InvalidManifestError: the bytes are not a manifest or index.
            LayoutError: the layout is damaged or unreadable.
        """
        layout = self._layout(reference.repository)
        index = layout.read_index()
        if reference.digest is not None:
            digest = checked_digest(reference.digest)
            listed = index.with_digest(digest)
            media_type = listed.media_type if listed is not None else None
            return self._read_manifest(
                layout, reference, digest, media_type=media_type, max_bytes=max_bytes
            )
        entry = self._tagged(layout, index, reference)
        return self._read_manifest(
            layout,
            reference,
            entry.digest,
            media_type=entry.media_type,
            size=entry.size,
            max_bytes=max_bytes,
        )

    def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        """Read a whole blob, size-capped before reading and digest-checked.

        Raises:
            BlobNotFoundError: no such blob.
            SizeLimitExceededError: larger than ``size`` or ``max_bytes``.
            DigestMismatchError: the bytes do not hash to ``digest`` (or are shorter than
                ``size``).
            LayoutError: the file could not be read.
        """
        layout = self._layout(repository)
        digest = checked_digest(digest)
        chunks: list[bytes] = []
        layout.read_blob(digest, chunks.append, size=size, max_bytes=max_bytes, kind="blob")
        return b"".join(chunks)

    def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a blob into ``destination`` in 1 MiB chunks; return the bytes written.

        The digest is checked once the stream ends; on :class:`DigestMismatchError` the caller
        must discard what was written.

        Raises:
            BlobNotFoundError: no such blob.
            SizeLimitExceededError: larger than ``size`` or ``max_bytes`` (before any write).
            DigestMismatchError: the bytes do not hash to ``digest``.
            LayoutError: the file could not be read.
        """
        layout = self._layout(repository)
        digest = checked_digest(digest)
        return layout.read_blob(
            digest, destination.write, size=size, max_bytes=max_bytes, kind="blob"
        )

    def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        """Return whether ``repository``'s layout has a blob file for ``digest``."""
        layout = self._layout(repository)
        return layout.existing_blob(checked_digest(digest)) is not None

    def list_tags(self, repository: Repository) -> list[str]:
        """Return the tags in ``repository``'s ``index.json``, sorted; ``[]`` if none.

        Referrers tag-schema tags (``sha256-<hex>``) are tags too and are listed.
        """
        return sorted(self._layout(repository).read_index().tags())

    def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Return the referrers of ``digest`` from its ``sha256-<hex>`` tag-schema index.

        Args:
            repository: where the subject lives.
            digest: the subject's digest.
            artifact_type: keep only referrers of this artifact type.

        Returns:
            The referrer descriptors, oldest first; ``[]`` when there is no such index.

        Raises:
            DigestMismatchError: the referrers index file is damaged.
            LayoutError: the layout is damaged or unreadable.
        """
        layout = self._layout(repository)
        digest = checked_digest(digest)
        referrers_index = self._referrers_index(layout, layout.read_index(), digest)
        if referrers_index is None:
            return []
        return filter_by_artifact_type(referrers_index.manifests, artifact_type)

    # -- writes -----------------------------------------------------------------------------

    def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        """Store ``data`` as a blob (skipped when present); return its digest.

        Raises:
            DigestMismatchError: ``digest`` was given and ``data`` does not hash to it.
            LayoutError: the blob could not be written.
        """
        if digest is None:
            digest = Digest.from_bytes(data)
        else:
            digest = checked_digest(digest)
            if not digest.matches(data):
                raise DigestMismatchError(
                    f"blob for {repository} does not hash to {digest}",
                    repository=str(repository),
                    digest=str(digest),
                )
        layout = self._writable_layout(repository)
        layout.write_blob(digest, data)
        return digest

    def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        """Hard-link (or copy) a blob from ``source``'s layout into ``repository``'s.

        Returns:
            ``True`` when the blob is now in ``repository``; ``False`` when ``source`` does
            not have it.

        Raises:
            DigestMismatchError: the blob had to be copied and its bytes do not match.
            LayoutError: the blob could not be linked or copied.
        """
        digest = checked_digest(digest)
        target = self._layout(repository)
        origin = self._layout(source)
        source_path = origin.existing_blob(digest)
        if source_path is None:
            return False
        if target.existing_blob(digest) is not None:
            return True
        target = self._writable_layout(repository)
        target.link_or_copy_blob(digest, source_path, origin)
        return True

    def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        """Store a manifest or index blob and record it in ``index.json``.

        With ``tag`` the tag moves to this manifest; without, an untagged entry is added
        unless the digest is listed already. A manifest with a ``subject`` is added to the
        subject's ``sha256-<hex>`` referrers index (once per digest), under the same lock.

        Returns:
            ``manifest.descriptor()``.

        Raises:
            InvalidReferenceError: ``tag`` is not a valid tag.
            LayoutError: the layout could not be written.
        """
        if tag is not None and not is_valid_tag(tag):
            raise InvalidReferenceError(
                f"invalid tag {tag[:140]!r} for {repository}",
                repository=str(repository),
                reference=tag[:140],
                rule="tag",
            )
        layout = self._writable_layout(repository)
        descriptor = manifest.descriptor()
        layout.write_blob(checked_digest(manifest.digest), manifest.raw)
        with layout.locked("put manifest"):
            index = layout.read_index()
            if tag is not None:
                index.set_tag(descriptor, tag)
            else:
                index.add_untagged(descriptor)
            if manifest.subject is not None:
                self._add_referrer(layout, index, manifest)
            layout.write_index(index)
        return descriptor

    def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        """Delete the manifest ``digest``, the tags pointing at it and its referrer entry.

        Every ``index.json`` entry with the digest goes, then the blob file. When the manifest
        has a ``subject`` it is also removed from the subject's referrers index (the
        ``sha256-<hex>`` tag itself goes when no referrer is left).

        Raises:
            ManifestNotFoundError: neither ``index.json`` nor the blobs have it.
            LayoutError: the layout could not be updated.
        """
        digest = checked_digest(digest)
        layout = self._layout(repository)
        with layout.locked("delete manifest"):
            index = layout.read_index()
            path = layout.existing_blob(digest)
            if path is None and index.with_digest(digest) is None:
                raise ManifestNotFoundError(
                    f"manifest {digest} not found in {repository}",
                    repository=str(repository),
                    reference=str(digest),
                )
            subject = self._subject_of(layout, digest) if path is not None else None
            index.remove_digest(digest)
            if subject is not None:
                self._remove_referrer(layout, index, subject, digest)
            layout.write_index(index)
            if path is not None:
                layout.unlink(path, "delete manifest")

    # -- helpers ----------------------------------------------------------------------------

    def _layout(self, repository: Repository) -> Layout:
        return Layout(self.layout_dir(repository), repository)

    def _writable_layout(self, repository: Repository) -> Layout:
        if not self._create and not self._root.is_dir():
            raise LayoutError(
                f"OCI layout root {self._root} is not a directory",
                hint="create it, or pass create=True",
                layout=str(self._root),
            )
        layout = self._layout(repository)
        layout.initialise()
        return layout

    def _tagged(self, layout: Layout, index: IndexFile, reference: ImageReference) -> Descriptor:
        tag = reference.tag if reference.tag is not None else DEFAULT_TAG
        entry = index.tagged(tag)
        if entry is None:
            raise _manifest_not_found(reference)
        return entry

    def _read_manifest(
        self,
        layout: Layout,
        reference: ImageReference,
        digest: Digest,
        *,
        media_type: str | None = None,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
    ) -> Manifest | Index:
        chunks: list[bytes] = []
        try:
            layout.read_blob(digest, chunks.append, size=size, max_bytes=max_bytes, kind="manifest")
        except BlobNotFoundError as exc:
            raise _manifest_not_found(reference) from exc
        return parse_manifest(b"".join(chunks), media_type)

    def _referrers_index(self, layout: Layout, index: IndexFile, subject: Digest) -> Index | None:
        entry = index.tagged(referrers_tag(subject))
        if entry is None:
            return None
        chunks: list[bytes] = []
        layout.read_blob(
            entry.digest,
            chunks.append,
            size=entry.size,
            max_bytes=DEFAULT_MAX_MANIFEST_BYTES,
            kind="referrers index",
        )
        return Index.parse(b"".join(chunks), entry.media_type)

    def _add_referrer(self, layout: Layout, index: IndexFile, manifest: Manifest | Index) -> None:
        assert manifest.subject is not None
        subject = checked_digest(manifest.subject.digest)
        referrer = manifest.descriptor(annotations=manifest.annotations)
        existing = self._referrers_index(layout, index, subject)
        entries = list(existing.manifests) if existing is not None else []
        for position, entry in enumerate(entries):
            if entry.digest == referrer.digest:
                entries[position] = referrer
                break
        else:
            entries.append(referrer)
        self._write_referrers(layout, index, subject, entries)

    def _remove_referrer(
        self, layout: Layout, index: IndexFile, subject: Digest, referrer: Digest
    ) -> None:
        try:
            existing = self._referrers_index(layout, index, subject)
        except ImageSigError:
            return  # a damaged referrers index is not this deletion's business
        if existing is None:
            return
        entries = [entry for entry in existing.manifests if entry.digest != referrer]
        if len(entries) != len(existing.manifests):
            self._write_referrers(layout, index, subject, entries)

    def _write_referrers(
        self, layout: Layout, index: IndexFile, subject: Digest, entries: list[Descriptor]
    ) -> None:
        tag = referrers_tag(subject)
        if not entries:
            index.remove_tag(tag)
            return
        referrers_index = Index.build(entries)
        layout.write_blob(referrers_index.digest, referrers_index.raw)
        index.set_tag(referrers_index.descriptor(), tag)

    def _subject_of(self, layout: Layout, digest: Digest) -> Digest | None:
        chunks: list[bytes] = []
        try:
            layout.read_blob(
                digest,
                chunks.append,
                size=None,
                max_bytes=DEFAULT_MAX_MANIFEST_BYTES,
                kind="manifest",
            )
            manifest = parse_manifest(b"".join(chunks))
        except ImageSigError:
            return None  # deleting a damaged manifest must still work
        return manifest.subject.digest if manifest.subject is not None else None


def _plain(descriptor: Descriptor) -> Descriptor:
    """The manifest's own descriptor, without ``index.json``'s annotations."""
    return Descriptor(
        media_type=descriptor.media_type,
        digest=descriptor.digest,
        size=descriptor.size,
        artifact_type=descriptor.artifact_type,
    )


def _manifest_not_found(reference: ImageReference) -> ManifestNotFoundError:
    return ManifestNotFoundError(
        f"manifest {reference.identifier} not found in {reference.repository}",
        repository=str(reference.repository),
        reference=str(reference.identifier),
    )
