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

import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageSigError,
    InvalidReferenceError,
    LayoutError,
    ManifestNotFoundError,
    SizeLimitExceededError,
)
from imagesig.oci.model import OCI_INDEX, Descriptor, Index, Manifest, parse_manifest
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

IMAGE_LAYOUT_VERSION = "1.0.0"
"""The ``imageLayoutVersion`` written to ``oci-layout``; any ``1.x`` is read."""

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
"""The ``index.json`` annotation that holds a tag."""

MAX_INDEX_JSON_BYTES = 64 * 1024 * 1024
"""An ``index.json`` larger than this is refused (it holds one small entry per tag)."""

MAX_INDEX_ENTRIES = 100_000
"""Cap on entries in ``index.json``: tags plus untagged manifests."""

_MAX_OCI_LAYOUT_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
_TEMP_PREFIX = ".tmp-"
_LOCK_NAME = "index.json.lock"
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines

# Path-safety checks on top of the Digest/Repository validation (defence in depth).
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
_ENCODED = re.compile(r"[a-zA-Z0-9=_-]+")
_REGISTRY_SUBSTITUTIONS = str.maketrans({":": "_", "[": "_", "]": "_"})


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import errno
    import msvcrt
    import time

    def _lock_fd(fd: int) -> None:
        # LK_LOCK gives up after ~10 s; keep waiting like flock does.
        while True:
            os.lseek(fd, 0, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            except OSError as exc:
                if exc.errno != errno.EDEADLOCK:
                    raise
                time.sleep(0.05)
            else:
                return

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@attrs.define
class _IndexFile:
    """``index.json`` as read: the JSON body and its entries, parsed and raw side by side."""

    body: dict[str, Any]
    entries: list[tuple[Descriptor, dict[str, Any]]]

    def tagged(self, tag: str) -> Descriptor | None:
        """Return the entry tagged ``tag``; the last one wins when several are."""
        for descriptor, _raw in self.entries[::-1]:
            if descriptor.annotations.get(REF_NAME_ANNOTATION) == tag:
                return descriptor
        return None

    def with_digest(self, digest: Digest) -> Descriptor | None:
        for descriptor, _raw in self.entries[::-1]:
            if descriptor.digest == digest:
                return descriptor
        return None

    def tags(self) -> set[str]:
        return {
            tag
            for descriptor, _raw in self.entries
            if (tag := descriptor.annotations.get(REF_NAME_ANNOTATION)) is not None
        }

    def set_tag(self, descriptor: Descriptor, tag: str) -> None:
        """Point ``tag`` at ``descriptor``, dropping every other entry with that tag."""
        self.entries = [
            entry for entry in self.entries if entry[0].annotations.get(REF_NAME_ANNOTATION) != tag
        ]
        tagged = attrs.evolve(descriptor, annotations={REF_NAME_ANNOTATION: tag})
        self.entries.append((tagged, tagged.to_dict()))

    def add_untagged(self, descriptor: Descriptor) -> None:
        if self.with_digest(descriptor.digest) is None:
            plain = attrs.evolve(descriptor, annotations=None)
            self.entries.append((plain, plain.to_dict()))

    def remove_tag(self, tag: str) -> None:
        self.entries = [
            entry for entry in self.entries if entry[0].annotations.get(REF_NAME_ANNOTATION) != tag
        ]

    def remove_digest(self, digest: Digest) -> None:
        self.entries = [entry for entry in self.entries if entry[0].digest != digest]

    def serialise(self) -> bytes:
        body = dict(self.body)
        body["schemaVersion"] = 2
        body["mediaType"] = OCI_INDEX
        body["manifests"] = [raw for _descriptor, raw in self.entries]
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _empty_index() -> _IndexFile:
    return _IndexFile(body={"schemaVersion": 2, "mediaType": OCI_INDEX}, entries=[])


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
        registry = str(repository.registry)
        path = str(repository.path)
        parts = [registry.translate(_REGISTRY_SUBSTITUTIONS), *path.split("/")]
        for part in parts:
            if (
                part in {"", ".", ".."}
                or part.startswith(_TEMP_PREFIX)
                or "\x00" in part
                or "/" in part
                or "\\" in part
                or (os.altsep is not None and os.altsep in part)
            ):
                raise InvalidReferenceError(
                    f"repository {repository} cannot be stored in an OCI layout directory",
                    repository=str(repository),
                    rule="layout-path",
                )
        directory = Path(os.path.normpath(self._root.joinpath(*parts)))
        if os.path.commonpath([self._root, directory]) != str(self._root):
            raise InvalidReferenceError(
                f"repository {repository} would be stored outside {self._root}",
                repository=str(repository),
                rule="layout-path",
            )
        return directory

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
            digest = _checked_digest(reference.digest)
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
            digest = _checked_digest(reference.digest)
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
        digest = _checked_digest(digest)
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
        digest = _checked_digest(digest)
        return layout.read_blob(
            digest, destination.write, size=size, max_bytes=max_bytes, kind="blob"
        )

    def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        """Return whether ``repository``'s layout has a blob file for ``digest``."""
        layout = self._layout(repository)
        return layout.existing_blob(_checked_digest(digest)) is not None

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
        digest = _checked_digest(digest)
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
            digest = _checked_digest(digest)
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
        digest = _checked_digest(digest)
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
        layout.write_blob(_checked_digest(manifest.digest), manifest.raw)
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
        digest = _checked_digest(digest)
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

    def _layout(self, repository: Repository) -> _Layout:
        return _Layout(self.layout_dir(repository), repository)

    def _writable_layout(self, repository: Repository) -> _Layout:
        if not self._create and not self._root.is_dir():
            raise LayoutError(
                f"OCI layout root {self._root} is not a directory",
                hint="create it, or pass create=True",
                layout=str(self._root),
            )
        layout = self._layout(repository)
        layout.initialise()
        return layout

    def _tagged(self, layout: _Layout, index: _IndexFile, reference: ImageReference) -> Descriptor:
        tag = reference.tag if reference.tag is not None else DEFAULT_TAG
        entry = index.tagged(tag)
        if entry is None:
            raise _manifest_not_found(reference)
        return entry

    def _read_manifest(
        self,
        layout: _Layout,
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

    def _referrers_index(self, layout: _Layout, index: _IndexFile, subject: Digest) -> Index | None:
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

    def _add_referrer(self, layout: _Layout, index: _IndexFile, manifest: Manifest | Index) -> None:
        assert manifest.subject is not None
        subject = _checked_digest(manifest.subject.digest)
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
        self, layout: _Layout, index: _IndexFile, subject: Digest, referrer: Digest
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
        self, layout: _Layout, index: _IndexFile, subject: Digest, entries: list[Descriptor]
    ) -> None:
        tag = referrers_tag(subject)
        if not entries:
            index.remove_tag(tag)
            return
        referrers_index = Index.build(entries)
        layout.write_blob(referrers_index.digest, referrers_index.raw)
        index.set_tag(referrers_index.descriptor(), tag)

    def _subject_of(self, layout: _Layout, digest: Digest) -> Digest | None:
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


class _Layout:
    """One repository's layout directory: file-level operations, OSError → LayoutError."""

    def __init__(self, directory: Path, repository: Repository) -> None:
        self.directory = directory
        self.repository = repository

    # errors

    def error(self, operation: str, exc: BaseException | None = None) -> LayoutError:
        detail = f": {exc.strerror or exc}" if isinstance(exc, OSError) else ""
        return LayoutError(
            f"OCI layout {self.directory} ({self.repository}): could not {operation}{detail}",
            layout=str(self.directory),
            repository=str(self.repository),
            operation=operation,
        )

    @contextlib.contextmanager
    def os_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise self.error(operation, exc) from exc

    # layout files

    def blob_path(self, digest: Digest) -> Path:
        digest = _checked_digest(digest)
        return self.directory / "blobs" / digest.algorithm / digest.hex

    def existing_blob(self, digest: Digest) -> Path | None:
        path = self.blob_path(digest)
        with self.os_errors("look up a blob"):
            return path if path.is_file() else None

    def stat_size(self, path: Path, operation: str) -> int:
        with self.os_errors(operation):
            return path.stat().st_size

    def check_version(self) -> bool:
        """Return whether the layout exists; refuse an unsupported ``oci-layout``."""
        marker = self.directory / "oci-layout"
        try:
            with marker.open("rb") as handle:
                raw = handle.read(_MAX_OCI_LAYOUT_BYTES + 1)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self.error("read oci-layout", exc) from exc
        version: object = None
        if len(raw) <= _MAX_OCI_LAYOUT_BYTES:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                version = json.loads(raw)["imageLayoutVersion"]
        if not isinstance(version, str):
            raise LayoutError(
                f"OCI layout {self.directory}: oci-layout has no imageLayoutVersion",
                layout=str(self.directory),
                repository=str(self.repository),
            )
        if version.split(".", 1)[0] != IMAGE_LAYOUT_VERSION.split(".", 1)[0]:
            raise LayoutError(
                f"OCI layout {self.directory} has imageLayoutVersion {version[:40]!r}; "
                f"only {IMAGE_LAYOUT_VERSION.split('.', 1)[0]}.x is supported",
                layout=str(self.directory),
                repository=str(self.repository),
                version=version[:40],
            )
        return True

    def initialise(self) -> None:
        """Make the directory a layout if it is not one yet (under the lock, so once).

        ``index.json`` is written before ``oci-layout``, so a directory with ``oci-layout``
        always has an ``index.json`` too.
        """
        if self.check_version() and (self.directory / "index.json").is_file():
            return
        with self.os_errors("create the layout directory"):
            self.directory.mkdir(parents=True, exist_ok=True)
        with self.locked("create the layout"):
            if not (self.directory / "index.json").is_file():
                self.write_index(_empty_index())
            if not self.check_version():
                body = {"imageLayoutVersion": IMAGE_LAYOUT_VERSION}
                marker = json.dumps(body).encode()
                self.write_file(self.directory / "oci-layout", marker, "write oci-layout")

    def read_index(self) -> _IndexFile:
        """Read ``index.json``; an absent layout reads as empty."""
        if not self.check_version():
            return _empty_index()
        path = self.directory / "index.json"
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_INDEX_JSON_BYTES:
                    raise SizeLimitExceededError(
                        f"OCI layout {self.directory}: index.json is {size} bytes, more than "
                        f"the limit of {MAX_INDEX_JSON_BYTES}",
                        layout=str(self.directory),
                        limit=MAX_INDEX_JSON_BYTES,
                    )
                raw = handle.read(MAX_INDEX_JSON_BYTES + 1)
        except FileNotFoundError as exc:
            raise LayoutError(
                f"OCI layout {self.directory} has oci-layout but no index.json",
                layout=str(self.directory),
                repository=str(self.repository),
            ) from exc
        except OSError as exc:
            raise self.error("read index.json", exc) from exc
        try:
            parsed = Index.parse(raw, OCI_INDEX, max_descriptors=MAX_INDEX_ENTRIES)
            body = json.loads(raw)
        except SizeLimitExceededError:
            raise
        except (ImageSigError, ValueError) as exc:
            raise LayoutError(
                f"OCI layout {self.directory}: index.json is not a valid image index: {exc}",
                layout=str(self.directory),
                repository=str(self.repository),
            ) from exc
        entries = list(zip(parsed.manifests, body.get("manifests") or [], strict=True))
        return _IndexFile(body=body, entries=entries)

    def write_index(self, index: _IndexFile) -> None:
        self.write_file(self.directory / "index.json", index.serialise(), "write index.json")

    @contextlib.contextmanager
    def locked(self, operation: str) -> Iterator[bool]:
        """Hold the layout's exclusive ``index.json.lock`` (threads and processes).

        Yields whether the layout directory exists; the lock is taken only when it does.
        """
        with self.os_errors(f"lock index.json to {operation}"):
            if not self.directory.is_dir():
                fd = None
            else:
                fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if fd is None:
            yield False
            return
        try:
            with self.os_errors(f"lock index.json to {operation}"):
                _lock_fd(fd)
            try:
                yield True
            finally:
                with contextlib.suppress(OSError):
                    _unlock_fd(fd)
        finally:
            os.close(fd)

    # blobs

    def write_blob(self, digest: Digest, data: bytes) -> None:
        path = self.blob_path(digest)
        with self.os_errors(f"write blob {digest}"):
            if path.is_file() and path.stat().st_size == len(data):
                return
            path.parent.mkdir(parents=True, exist_ok=True)
        self.write_file(path, data, f"write blob {digest}")

    def link_or_copy_blob(self, digest: Digest, source: Path, origin: _Layout) -> None:
        target = self.blob_path(digest)
        operation = f"mount blob {digest} from {origin.repository}"
        with self.os_errors(operation):
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = self.directory / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
            try:
                os.link(source, temp)
            except OSError:
                pass  # other file system, or no hard links: copy below
            else:
                try:
                    os.replace(temp, target)
                finally:
                    # rename() between two links of one file is a no-op that leaves ``temp``.
                    with contextlib.suppress(OSError):
                        os.unlink(temp)
                return
        # Copying reads the bytes anyway, so check them on the way.
        with self.atomic_file(target, operation) as handle:
            origin.read_blob(digest, handle.write, size=None, max_bytes=None, kind="blob")

    def read_blob(
        self,
        digest: Digest,
        sink: Callable[[bytes], object],
        *,
        size: int | None,
        max_bytes: int | None,
        kind: str,
    ) -> int:
        """Feed the blob to ``sink`` in chunks; sizes checked first, digest checked last."""
        path = self.blob_path(digest)
        operation = f"read {kind} {digest}"
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFoundError(
                f"{kind} {digest} not found in {self.repository}",
                repository=str(self.repository),
                digest=str(digest),
            ) from exc
        except OSError as exc:
            raise self.error(operation, exc) from exc
        with handle, self.os_errors(operation):
            actual = os.fstat(handle.fileno()).st_size
            for cap, what in ((size, "its descriptor's size"), (max_bytes, "the limit")):
                if cap is not None and actual > cap:
                    raise SizeLimitExceededError(
                        f"{kind} {digest} in {self.repository} is {actual} bytes, more than "
                        f"{what} of {cap}",
                        repository=str(self.repository),
                        digest=str(digest),
                        limit=cap,
                    )
            hasher = digest.hasher()
            total = 0
            # Read at most one byte past the stat size: a file that grew is caught below.
            while chunk := handle.read(min(_CHUNK, actual + 1 - total)):
                total += len(chunk)
                if total > actual:
                    break
                hasher.update(chunk)
                try:
                    sink(chunk)
                except OSError as exc:
                    raise self.error(f"copy {kind} {digest} to its destination", exc) from exc
        if total != actual or (size is not None and total != size):
            raise DigestMismatchError(
                f"{kind} {digest} in {self.repository} is {total} bytes, expected "
                f"{size if size is not None else actual}",
                repository=str(self.repository),
                digest=str(digest),
            )
        if hasher.hexdigest() != digest.hex:
            raise DigestMismatchError(
                f"{kind} {digest} in {self.repository} does not hash to its digest "
                f"(the file {path} is damaged or was tampered with)",
                repository=str(self.repository),
                digest=str(digest),
                layout=str(self.directory),
            )
        return total

    # files

    def unlink(self, path: Path, operation: str) -> None:
        with self.os_errors(operation):
            path.unlink(missing_ok=True)

    def write_file(self, path: Path, data: bytes, operation: str) -> None:
        with self.atomic_file(path, operation) as handle:
            handle.write(data)

    @contextlib.contextmanager
    def atomic_file(self, path: Path, operation: str) -> Iterator[BinaryIO]:
        """Yield a temporary file that replaces ``path`` (fsynced) when the block succeeds."""
        temp = self.directory / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
        with self.os_errors(operation):
            self.directory.mkdir(parents=True, exist_ok=True)
            # Not mkstemp: its 0600 would hide the layout from other users' OCI tools.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                with self.os_errors(operation):
                    handle.flush()
                    os.fsync(handle.fileno())
            with self.os_errors(operation):
                os.replace(temp, path)
                _fsync_directory(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory; NTFS journals the rename itself
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked_digest(digest: Digest) -> Digest:
    """Refuse anything but a well-formed :class:`Digest` before it becomes a path."""
    if not isinstance(digest, Digest):
        raise TypeError(f"expected a Digest, got {type(digest).__name__}")
    if not _ALGORITHM.fullmatch(digest.algorithm) or not _ENCODED.fullmatch(digest.hex):
        raise InvalidReferenceError(
            "digest cannot name a blob file", reference=str(digest)[:140], rule="digest"
        )
    return digest


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
