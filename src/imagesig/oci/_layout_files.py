"""The files of an OCI image layout: paths, atomic writes, the lock and ``index.json``.

The on-disk half of :class:`~imagesig.oci.layout.OCILayoutStore`, whose module documentation
describes the layout and the guarantees kept here: a repository's directory is derived
only from validated names and checked to stay under the root; files are replaced
atomically (a fsynced ``.tmp-*`` file moved into place); ``index.json`` is rewritten
read-modify-write under an exclusive ``index.json.lock`` that holds across threads and
processes; every read is size-capped and digest-checked; every :class:`OSError` becomes a
:class:`~imagesig.errors.LayoutError`.
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
    SizeLimitExceededError,
)
from imagesig.oci.model import OCI_INDEX, Descriptor, Index
from imagesig.reference import Digest, Repository

__all__ = [
    "IMAGE_LAYOUT_VERSION",
    "MAX_INDEX_ENTRIES",
    "MAX_INDEX_JSON_BYTES",
    "REF_NAME_ANNOTATION",
    "IndexFile",
    "Layout",
    "checked_digest",
    "layout_directory",
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
class IndexFile:
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


def _empty_index() -> IndexFile:
    return IndexFile(body={"schemaVersion": 2, "mediaType": OCI_INDEX}, entries=[])


def layout_directory(root: Path, repository: Repository) -> Path:
    """The layout directory of ``repository`` under ``root`` (see :mod:`imagesig.oci.layout`).

    Raises:
        InvalidReferenceError: the repository's registry or path cannot name a directory.
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
    directory = Path(os.path.normpath(root.joinpath(*parts)))
    if os.path.commonpath([root, directory]) != str(root):
        raise InvalidReferenceError(
            f"repository {repository} would be stored outside {root}",
            repository=str(repository),
            rule="layout-path",
        )
    return directory


class Layout:
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
        digest = checked_digest(digest)
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

    def read_index(self) -> IndexFile:
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
        return IndexFile(body=body, entries=entries)

    def write_index(self, index: IndexFile) -> None:
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

    def link_or_copy_blob(self, digest: Digest, source: Path, origin: Layout) -> None:
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


def checked_digest(digest: Digest) -> Digest:
    """Refuse anything but a well-formed :class:`Digest` before it becomes a path."""
    if not isinstance(digest, Digest):
        raise TypeError(f"expected a Digest, got {type(digest).__name__}")
    if not _ALGORITHM.fullmatch(digest.algorithm) or not _ENCODED.fullmatch(digest.hex):
        raise InvalidReferenceError(
            "digest cannot name a blob file", reference=str(digest)[:140], rule="digest"
        )
    return digest
