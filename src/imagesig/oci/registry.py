"""``RegistryStore`` and ``AsyncRegistryStore``: the distribution API over httpx.

Both classes are thin drivers around :class:`RegistryProtocol`, which holds every request
and decision as an I/O-free flow (see :mod:`imagesig._flow`). What the protocol guarantees:

* manifests are read under :data:`~imagesig.oci.store.DEFAULT_MAX_MANIFEST_BYTES`, blobs
  under the caller's cap and their descriptor's size; both are digest-checked, and the
  ``Docker-Content-Digest`` header is never trusted over the bytes;
* HTTPS by default; plain HTTP only for loopback registries and those listed in
  ``insecure_registries``;
* credentials only for the registry's own origin (see :mod:`imagesig.oci.auth`);
* uploads follow the ``Location`` the registry returns (relative or absolute, query kept);
  one on another host gets no ``Authorization``;
* referrers through the OCI 1.1 API, falling back to the ``sha256-<hex>`` tag schema when
  the registry has no such API; pushing a manifest with a ``subject`` keeps that fallback
  index up to date. Writers sharing a store take turns on an index; writers in other
  processes are caught by a re-read after each write, which narrows but cannot close the
  race (the distribution API has no conditional PUT);
* tag listing and referrers pagination are bounded and cycle-checked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable
from typing import Any, BinaryIO

import httpx

from imagesig._flow import Exclusive, Flow, KeyedLocks, Sleep, drive_async, drive_sync
from imagesig._http import (
    HTTPEnv,
    OwnedAsyncHTTPClient,
    OwnedHTTPClient,
    Received,
    RetryPolicy,
    send,
)
from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidDigestError,
    ManifestNotFoundError,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    SizeLimitExceededError,
)
from imagesig.oci._hosts import hostname, is_loopback
from imagesig.oci.auth import RegistryAuth, RequestScope
from imagesig.oci.credentials import Keychain, default_keychain
from imagesig.oci.model import (
    ARTIFACT_MANIFEST_MEDIA_TYPES,
    MAX_DESCRIPTORS,
    OCI_INDEX,
    Descriptor,
    Index,
    Manifest,
    parse_manifest,
)
from imagesig.oci.store import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_MANIFEST_BYTES,
    filter_by_artifact_type,
    referrers_tag,
)
from imagesig.reference import Digest, ImageReference, Repository

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_PAGES",
    "MAX_TAGS",
    "AsyncRegistryStore",
    "RegistryProtocol",
    "RegistryStore",
    "RetryPolicy",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_PAGES = 100
"""Most pages read from a paginated listing (tags, referrers)."""
MAX_TAGS = 100_000
"""Most tags returned by one listing."""
REFERRER_INDEX_ATTEMPTS = 5
"""Read-modify-write attempts when updating a referrers fallback index."""
_BLOB_UNKNOWN_ATTEMPTS = 4
"""Manifest PUTs tried while the registry still reports a just-uploaded blob unknown."""

_DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_MANIFEST_ACCEPT = ", ".join(sorted(ARTIFACT_MANIFEST_MEDIA_TYPES))
_PULL = ("pull",)
_PUSH = ("pull", "push")
_DELETE = ("delete",)


class RegistryProtocol:
    """Every registry operation as an I/O-free flow; shared by the sync and async stores.

    Args:
        insecure_registries: registries (``host[:port]``) reached over plain HTTP.
        retry: retry policy for idempotent requests.
    """

    def __init__(
        self,
        *,
        insecure_registries: Collection[str] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.insecure_registries = frozenset(insecure_registries)
        self.retry = retry or RetryPolicy()
        self._referrers_api: dict[str, bool] = {}
        self._origins: dict[str, str] = {}
        self._index_locks = KeyedLocks()
        self._lock = threading.Lock()

    # -- URLs --------------------------------------------------------------------------------

    def base_url(self, registry: str) -> httpx.URL:
        """The ``scheme://host`` the registry's API lives at."""
        return httpx.URL(self._origin(registry))

    def _origin(self, registry: str) -> str:
        origin = self._origins.get(registry)
        if origin is None:
            host = _DOCKER_HUB_API if registry == _DOCKER_HUB else registry
            insecure = registry in self.insecure_registries or is_loopback(hostname(registry))
            origin = self._origins[registry] = f"{'http' if insecure else 'https'}://{host}"
        return origin

    def _url(self, repository: Repository, *parts: str) -> httpx.URL:
        # One parse of a string built from validated parts: httpx's URL.join is costly.
        return httpx.URL(
            "/".join((self._origin(repository.registry), "v2", repository.path, *parts))
        )

    def _send(
        self, method: str, url: httpx.URL, repository: Repository, what: str, **kwargs: Any
    ) -> Flow[Received]:
        actions = kwargs.pop("actions", _PULL)
        scope = RequestScope(
            repository.registry, repository.path, actions, kwargs.pop("extra_scopes", ())
        )
        return send(
            method,
            url,
            scope=scope,
            what=what,
            retry=self.retry,
            max_bytes=kwargs.pop("max_bytes", DEFAULT_MAX_MANIFEST_BYTES),
            context={"registry": repository.registry, "repository": repository.path},
            **kwargs,
        )

    # -- manifests ---------------------------------------------------------------------------

    def resolve(self, reference: ImageReference) -> Flow[Descriptor]:
        """Flow of :meth:`Store.resolve`: HEAD, falling back to GET when HEAD says too little."""
        repository = reference.repository
        url = self._url(repository, "manifests", reference.identifier)
        what = f"manifest {reference}"
        received = yield from self._send(
            "HEAD", url, repository, what, headers={"Accept": _MANIFEST_ACCEPT}
        )
        if received.status_code == 200:
            header = received.headers.get("docker-content-digest")
            media_type = _media_type(received)
            length = received.headers.get("content-length", "")
            if header and media_type and length.isdigit():
                try:
                    digest = Digest.parse(header)
                except InvalidDigestError as exc:
                    raise RegistryProtocolError(
                        f"registry sent a malformed Docker-Content-Digest for {reference}",
                        registry=repository.registry,
                        repository=repository.path,
                    ) from exc
                if reference.digest is not None and digest != reference.digest:
                    raise DigestMismatchError(
                        f"registry answered {digest} for {reference}",
                        reference=str(reference),
                    )
                return Descriptor(media_type=media_type, digest=digest, size=int(length))
        elif received.status_code in (401, 403, 404):
            _raise_for_status(received, what, repository, ManifestNotFoundError, str(reference))
        manifest = yield from self.get_manifest(reference)
        return manifest.descriptor()

    def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Flow[Manifest | Index]:
        """Flow of :meth:`Store.get_manifest`."""
        repository = reference.repository
        url = self._url(repository, "manifests", reference.identifier)
        what = f"manifest {reference}"
        received = yield from self._send(
            "GET", url, repository, what, headers={"Accept": _MANIFEST_ACCEPT}, max_bytes=max_bytes
        )
        if received.status_code != 200:
            _raise_for_status(received, what, repository, ManifestNotFoundError, str(reference))
        raw = received.content
        actual = Digest.from_bytes(
            raw, reference.digest.algorithm if reference.digest else "sha256"
        )
        if reference.digest is not None and actual != reference.digest:
            raise DigestMismatchError(
                f"manifest {reference} hashes to {actual}, not the requested digest",
                reference=str(reference),
                registry=repository.registry,
            )
        return parse_manifest(raw, _media_type(received), max_descriptors=MAX_DESCRIPTORS)

    def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Flow[Descriptor]:
        """Flow of :meth:`Store.put_manifest` (with the referrers fallback)."""
        target = tag or str(manifest.digest)
        what = f"manifest {repository}:{target}"
        for attempt in range(_BLOB_UNKNOWN_ATTEMPTS):
            received = yield from self._send(
                "PUT",
                self._url(repository, "manifests", target),
                repository,
                what,
                headers={"Content-Type": manifest.media_type},
                content=manifest.raw,
                actions=_PUSH,
            )
            # A blob that a concurrent writer is still linking into the repository can be
            # reported present by HEAD yet unknown to the manifest check: wait and try again.
            if received.status_code != 400 or "MANIFEST_BLOB_UNKNOWN" not in _error_codes(received):
                break
            if attempt + 1 < _BLOB_UNKNOWN_ATTEMPTS:
                yield Sleep(self.retry.delay(attempt, None) or self.retry.backoff)
        if received.status_code not in (200, 201, 202):
            _raise_for_status(received, what, repository, ManifestNotFoundError, target)
        echoed = received.headers.get("docker-content-digest")
        if echoed and echoed != str(manifest.digest):
            raise DigestMismatchError(
                f"registry stored {what} as {echoed[:80]}, not {manifest.digest}",
                registry=repository.registry,
                repository=repository.path,
            )
        if manifest.subject is not None and not received.headers.get("oci-subject"):
            yield from self._add_to_referrers_index(repository, manifest)
        return manifest.descriptor()

    def _add_to_referrers_index(
        self, repository: Repository, manifest: Manifest | Index
    ) -> Flow[None]:
        assert manifest.subject is not None
        fallback = ImageReference(repository, referrers_tag(manifest.subject.digest), None)
        # Writers in this process take turns on one index; writers elsewhere are caught by
        # the re-read after each write (best effort: the registry offers no conditional PUT).
        yield Exclusive(
            self._index_locks,
            (repository.registry, repository.path, fallback.tag),
            self._merge_into_referrers_index(repository, manifest, fallback),
        )

    def _merge_into_referrers_index(
        self, repository: Repository, manifest: Manifest | Index, fallback: ImageReference
    ) -> Flow[None]:
        entry = manifest.descriptor(annotations=manifest.annotations)
        for _attempt in range(REFERRER_INDEX_ATTEMPTS):
            current = yield from self._fallback_entries(fallback)
            if any(item.digest == entry.digest for item in current):
                return
            # Sorted by digest, as go-containerregistry (and so cosign) writes it.
            index = Index.build(sorted([*current, entry], key=lambda item: str(item.digest)))
            yield from self.put_manifest(repository, index, tag=fallback.tag)
            # Verify after write: another writer may have replaced the index meanwhile.
            after = yield from self._fallback_entries(fallback)
            if any(item.digest == entry.digest for item in after):
                return
        raise RegistryError(
            f"could not record {manifest.digest} in the referrers index {fallback} "
            f"after {REFERRER_INDEX_ATTEMPTS} attempts (concurrent writers)",
            registry=repository.registry,
            repository=repository.path,
        )

    def _fallback_entries(self, fallback: ImageReference) -> Flow[list[Descriptor]]:
        try:
            existing = yield from self.get_manifest(fallback)
        except ManifestNotFoundError:
            return []
        if not isinstance(existing, Index):
            raise RegistryProtocolError(
                f"referrers tag {fallback} holds an image manifest, not an index",
                registry=fallback.registry,
                repository=fallback.path,
            )
        return list(existing.manifests)

    def delete_manifest(self, repository: Repository, digest: Digest) -> Flow[None]:
        """Flow of :meth:`Store.delete_manifest`."""
        what = f"manifest {repository}@{digest}"
        received = yield from self._send(
            "DELETE",
            self._url(repository, "manifests", str(digest)),
            repository,
            what,
            actions=_DELETE,
        )
        if received.status_code not in (200, 202):
            _raise_for_status(received, what, repository, ManifestNotFoundError, str(digest))

    # -- blobs -------------------------------------------------------------------------------

    def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        sink: BinaryIO | None = None,
    ) -> Flow[bytes]:
        """Flow of :meth:`Store.get_blob` (with ``sink``, the body goes there instead)."""
        received = yield from self._fetch_blob(repository, digest, size, max_bytes, sink)
        return received.content

    def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        sink: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> Flow[int]:
        """Flow of :meth:`Store.copy_blob_to`: the number of bytes written to ``sink``.

        Counted as they are written, so an unseekable ``sink`` (a pipe, a socket) works too.
        """
        received = yield from self._fetch_blob(repository, digest, size, max_bytes, sink)
        return received.length

    def _fetch_blob(
        self,
        repository: Repository,
        digest: Digest,
        size: int | None,
        max_bytes: int,
        sink: BinaryIO | None,
    ) -> Flow[Received]:
        what = f"blob {repository}@{digest}"
        if size is not None and size > max_bytes:
            raise SizeLimitExceededError(
                f"{what} is {size} bytes by its descriptor, more than the limit of {max_bytes}",
                limit=max_bytes,
                registry=repository.registry,
            )
        limit = max_bytes if size is None else size
        received = yield from self._send(
            "GET",
            self._url(repository, "blobs", str(digest)),
            repository,
            what,
            max_bytes=limit,
            sink=sink,
            digest=digest,
        )
        if received.status_code != 200:
            _raise_for_status(received, what, repository, BlobNotFoundError, str(digest))
        if received.hexdigest != digest.hex:
            raise DigestMismatchError(
                f"{what} does not hash to its digest ({received.length} bytes received)",
                registry=repository.registry,
                repository=repository.path,
            )
        return received

    def blob_exists(self, repository: Repository, digest: Digest) -> Flow[bool]:
        """Flow of :meth:`Store.blob_exists`."""
        what = f"blob {repository}@{digest}"
        received = yield from self._send(
            "HEAD", self._url(repository, "blobs", str(digest)), repository, what
        )
        if received.status_code == 200:
            return True
        if received.status_code == 404:
            return False
        _raise_for_status(received, what, repository, BlobNotFoundError, str(digest))
        return False  # pragma: no cover - _raise_for_status always raises

    def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Flow[Digest]:
        """Flow of :meth:`Store.put_blob`: POST a session, then PUT the bytes monolithically."""
        actual = Digest.from_bytes(data, digest.algorithm if digest else "sha256")
        if digest is not None and actual != digest:
            raise DigestMismatchError(
                f"blob for {repository} hashes to {actual}, not {digest}",
                registry=repository.registry,
            )
        if (yield from self.blob_exists(repository, actual)):
            return actual
        what = f"blob upload to {repository}"
        started = yield from self._send(
            "POST",
            self.base_url(repository.registry).join(f"/v2/{repository.path}/blobs/uploads/"),
            repository,
            what,
            actions=_PUSH,
        )
        if started.status_code != 202:
            _raise_for_status(started, what, repository, BlobNotFoundError, str(actual))
        location = _location(started, repository, what)
        completed = yield from self._send_upload(
            repository,
            location.copy_merge_params({"digest": str(actual)}),
            what,
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        if completed.status_code not in (201, 204):
            _raise_for_status(completed, what, repository, BlobNotFoundError, str(actual))
        return actual

    def _send_upload(
        self,
        repository: Repository,
        url: httpx.URL,
        what: str,
        *,
        method: str = "PUT",
        **kwargs: Any,
    ) -> Flow[Received]:
        origin = self.base_url(repository.registry)
        if (url.scheme, url.host, url.port) == (origin.scheme, origin.host, origin.port):
            return (yield from self._send(method, url, repository, what, actions=_PUSH, **kwargs))
        # The registry sent us elsewhere to upload: go, but never with its credentials (no
        # scope at all: any scope, even an empty one, lets RegistryAuth answer challenges).
        return (
            yield from send(
                method,
                url,
                scope=None,
                what=what,
                retry=self.retry,
                max_bytes=DEFAULT_MAX_MANIFEST_BYTES,
                context={"registry": repository.registry, "repository": repository.path},
                **kwargs,
            )
        )

    def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> Flow[bool]:
        """Flow of :meth:`Store.mount_blob` (cross-repository mount on one registry)."""
        if source.registry != repository.registry:
            return False
        what = f"blob mount {source}@{digest} into {repository}"
        url = (
            self.base_url(repository.registry)
            .join(f"/v2/{repository.path}/blobs/uploads/")
            .copy_merge_params({"mount": str(digest), "from": source.path})
        )
        received = yield from self._send(
            "POST",
            url,
            repository,
            what,
            actions=_PUSH,
            extra_scopes=(f"repository:{source.path}:pull",),
        )
        if received.status_code == 201:
            return True
        if received.status_code == 202:
            # The registry opened an ordinary upload instead; cancel it (best effort).
            try:
                location = _location(received, repository, what)
                # Location may name another host: no credentials there (as for uploads).
                yield from self._send_upload(repository, location, what, method="DELETE")
            except RegistryError:
                pass
            return False
        _raise_for_status(received, what, repository, BlobNotFoundError, str(digest))
        return False  # pragma: no cover

    # -- listings ----------------------------------------------------------------------------

    def list_tags(self, repository: Repository) -> Flow[list[str]]:
        """Flow of :meth:`Store.list_tags`; an unknown repository has no tags."""
        what = f"tag list of {repository}"
        tags: list[str] = []
        pages = yield from self._paginate(self._url(repository, "tags", "list"), repository, what)
        for page in pages:
            names = page.get("tags") or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise RegistryProtocolError(
                    f"{what}: 'tags' is not a list of strings", registry=repository.registry
                )
            tags.extend(names)
            if len(tags) > MAX_TAGS:
                raise SizeLimitExceededError(
                    f"{what} has more than {MAX_TAGS} tags", limit=MAX_TAGS
                )
        return tags

    def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> Flow[list[Descriptor]]:
        """Flow of :meth:`Store.referrers` (API first, tag schema as fallback)."""
        registry = repository.registry
        if self._referrers_api.get(registry, True):
            url = self._url(repository, "referrers", str(digest))
            if artifact_type:
                url = url.copy_merge_params({"artifactType": artifact_type})
            what = f"referrers of {repository}@{digest}"
            first = yield from self._send(
                "GET", url, repository, what, headers={"Accept": OCI_INDEX}
            )
            if first.status_code == 200 and _media_type(first) == OCI_INDEX:
                with self._lock:
                    self._referrers_api[registry] = True
                descriptors = list(_index_from(first, what, registry).manifests)
                filtered = "artifacttype" in first.headers.get("oci-filters-applied", "").lower()
                pages = yield from self._paginate(url, repository, what, first=first)
                for page in pages[1:]:
                    items = page.get("manifests") or []
                    if not isinstance(items, list):
                        raise RegistryProtocolError(
                            f"{what}: 'manifests' of a later page is not a list",
                            registry=registry,
                        )
                    descriptors.extend(Descriptor.from_dict(item) for item in items)
                    if len(descriptors) > MAX_DESCRIPTORS * MAX_PAGES:
                        raise SizeLimitExceededError(f"{what}: too many referrers")
                return (
                    descriptors if filtered else filter_by_artifact_type(descriptors, artifact_type)
                )
            if first.status_code in (401, 403):
                _raise_for_status(first, what, repository, ManifestNotFoundError, str(digest))
            if first.status_code not in (404, 405, 400):
                _raise_for_status(first, what, repository, ManifestNotFoundError, str(digest))
            with self._lock:
                self._referrers_api[registry] = False
        entries = yield from self._fallback_entries(
            ImageReference(repository, referrers_tag(digest), None)
        )
        return filter_by_artifact_type(entries, artifact_type)

    def _paginate(
        self,
        url: httpx.URL,
        repository: Repository,
        what: str,
        *,
        first: Received | None = None,
    ) -> Flow[list[dict[str, Any]]]:
        pages: list[dict[str, Any]] = []
        seen = {str(url)}
        received = first
        while True:
            if received is None:
                received = yield from self._send("GET", url, repository, what)
            if received.status_code == 404 and not pages:
                return []
            if received.status_code != 200:
                _raise_for_status(received, what, repository, ManifestNotFoundError, what)
            pages.append(_json_object(received, what, repository.registry))
            link = _next_link(received.headers.get("link"))
            if link is None:
                return pages
            next_url = url.join(link)
            if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
                raise RegistryProtocolError(
                    f"{what}: pagination link points to another host", registry=repository.registry
                )
            if str(next_url) in seen or len(pages) >= MAX_PAGES:
                raise RegistryProtocolError(
                    f"{what}: pagination loops or exceeds {MAX_PAGES} pages",
                    registry=repository.registry,
                )
            seen.add(str(next_url))
            url = next_url
            received = None


# -- response helpers -----------------------------------------------------------------------


def _media_type(received: Received) -> str | None:
    value = received.headers.get("content-type")
    return value.split(";", 1)[0].strip() if value else None


def _location(received: Received, repository: Repository, what: str) -> httpx.URL:
    location = received.headers.get("location")
    if not location:
        raise RegistryProtocolError(
            f"{what}: the registry did not say where to upload (no Location header)",
            registry=repository.registry,
        )
    target = received.url.join(location)
    if target.scheme not in ("http", "https"):
        raise RegistryProtocolError(f"{what}: upload Location is not HTTP(S)")
    return target


def _json_object(received: Received, what: str, registry: str) -> dict[str, Any]:
    try:
        body = json.loads(received.content)
    except (ValueError, RecursionError) as exc:
        raise RegistryProtocolError(
            f"{what}: the registry did not return JSON", registry=registry
        ) from exc
    if not isinstance(body, dict):
        raise RegistryProtocolError(f"{what}: expected a JSON object", registry=registry)
    return body


def _index_from(received: Received, what: str, registry: str) -> Index:
    try:
        return Index.parse(received.content, _media_type(received))
    except RegistryError:
        raise
    except Exception as exc:
        if isinstance(exc, (SizeLimitExceededError,)):
            raise
        raise RegistryProtocolError(
            f"{what}: invalid referrers index: {exc}", registry=registry
        ) from exc


def _next_link(header: str | None) -> str | None:
    """The target of a ``Link: <url>; rel="next"`` header, if any."""
    if not header:
        return None
    for part in header.split(","):
        section = part.strip()
        if not section.startswith("<") or ">" not in section:
            continue
        target, _, params = section[1:].partition(">")
        if any(p.strip().replace(" ", "") in ('rel="next"', "rel=next") for p in params.split(";")):
            return target
    return None


def _error_codes(received: Received) -> tuple[str, ...]:
    try:
        body = json.loads(received.content)
    except (ValueError, RecursionError):
        return ()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(
        str(item.get("code"))[:64]
        for item in errors[:10]
        if isinstance(item, dict) and item.get("code")
    )


def _raise_for_status(
    received: Received,
    what: str,
    repository: Repository,
    not_found: type[RegistryError] | type[ManifestNotFoundError] | type[BlobNotFoundError],
    reference: str,
) -> None:
    status = received.status_code
    codes = _error_codes(received)
    detail = f"HTTP {status}" + (f" {', '.join(codes)}" if codes else "")
    context: dict[str, Any] = {
        "registry": repository.registry,
        "repository": repository.path,
        "reference": reference,
    }
    if status == 401:
        raise RegistryAuthError(
            f"registry {repository.registry} requires authentication for {what} ({detail})",
            status_code=status,
            errors=codes,
            hint=f"log in to {repository.registry} (docker login) or pass credentials",
            **context,
        )
    if status == 403:
        raise RegistryAuthError(
            f"registry {repository.registry} denied access to {what} ({detail})",
            status_code=status,
            errors=codes,
            hint="the credentials lack the needed permission (pull, push or delete)",
            **context,
        )
    if status == 404:
        if issubclass(not_found, RegistryError):
            raise not_found(
                f"{what} not found ({detail})", status_code=status, errors=codes, **context
            )
        raise not_found(f"{what} not found ({detail})", **context)
    if status == 405 and "DELETE" in what.upper():
        raise RegistryError(
            f"registry {repository.registry} does not allow deleting ({detail})",
            status_code=status,
            errors=codes,
            **context,
        )
    raise RegistryError(
        f"registry {repository.registry} failed {what} ({detail})",
        status_code=status,
        errors=codes,
        **context,
    )


# -- the two drivers ------------------------------------------------------------------------


class _RegistryStoreBase:
    def __init__(
        self,
        keychain: Keychain | None,
        insecure_registries: Iterable[str],
        retry: RetryPolicy | None,
        allow_unsafe_realms: bool,
    ) -> None:
        self.keychain = keychain if keychain is not None else default_keychain()
        self.protocol = RegistryProtocol(
            insecure_registries=tuple(insecure_registries), retry=retry
        )
        self.auth = RegistryAuth(self.keychain.resolve, allow_unsafe_realms=allow_unsafe_realms)

    def __repr__(self) -> str:
        insecure = sorted(self.protocol.insecure_registries)
        return f"{type(self).__name__}(insecure_registries={insecure})"


class RegistryStore(OwnedHTTPClient, _RegistryStoreBase):
    """A :class:`~imagesig.oci.store.Store` backed by registries (blocking I/O).

    Args:
        keychain: where credentials come from; default: docker's ``config.json`` and its
            credential helpers. Pass a :class:`~imagesig.oci.credentials.StaticKeychain`
            for explicit credentials.
        insecure_registries: registries reached over plain HTTP (loopback always is).
        verify: TLS verification: ``True``, ``False`` or an ``ssl.SSLContext`` (httpx's).
        proxy: proxy URL (httpx's ``proxy``).
        timeout: an ``httpx.Timeout`` or seconds.
        trust_env: read ``HTTPS_PROXY``, ``SSL_CERT_FILE``... from the environment.
        transport: a custom ``httpx`` transport (tests, unusual networks).
        retry: retry policy for idempotent requests.
        allow_unsafe_realms: accept token realms on loopback/link-local hosts; tests only.
        http_client: use this ``httpx.Client`` instead of creating one (its settings win;
            it is not closed by :meth:`close`).

    Example:
        >>> with RegistryStore() as store:  # doctest: +SKIP
        ...     store.resolve(ImageReference.parse("ghcr.io/org/app:1.0"))
    """

    def __init__(
        self,
        keychain: Keychain | None = None,
        *,
        insecure_registries: Iterable[str] = (),
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        allow_unsafe_realms: bool = False,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(keychain, insecure_registries, retry, allow_unsafe_realms)
        self._open_http(
            http_client,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
        )
        self._env = HTTPEnv(self.http, self.auth)

    def resolve(self, reference: ImageReference) -> Descriptor:
        return drive_sync(self.protocol.resolve(reference), self._env)

    def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        return drive_sync(self.protocol.get_manifest(reference, max_bytes=max_bytes), self._env)

    def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        flow = self.protocol.get_blob(repository, digest, size=size, max_bytes=max_bytes)
        return drive_sync(flow, self._env)

    def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        flow = self.protocol.copy_blob_to(
            repository, digest, destination, size=size, max_bytes=max_bytes or 2**62
        )
        return drive_sync(flow, self._env)

    def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        return drive_sync(self.protocol.blob_exists(repository, digest), self._env)

    def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        return drive_sync(self.protocol.put_blob(repository, data, digest=digest), self._env)

    def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        return drive_sync(self.protocol.mount_blob(repository, digest, source), self._env)

    def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        return drive_sync(self.protocol.put_manifest(repository, manifest, tag=tag), self._env)

    def list_tags(self, repository: Repository) -> list[str]:
        return drive_sync(self.protocol.list_tags(repository), self._env)

    def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        flow = self.protocol.referrers(repository, digest, artifact_type=artifact_type)
        return drive_sync(flow, self._env)

    def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        drive_sync(self.protocol.delete_manifest(repository, digest), self._env)


class AsyncRegistryStore(OwnedAsyncHTTPClient, _RegistryStoreBase):
    """:class:`RegistryStore` for asyncio: the same arguments, ``httpx.AsyncClient`` inside."""

    def __init__(
        self,
        keychain: Keychain | None = None,
        *,
        insecure_registries: Iterable[str] = (),
        verify: Any = True,
        proxy: Any = None,
        timeout: Any = DEFAULT_TIMEOUT,
        trust_env: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        allow_unsafe_realms: bool = False,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(keychain, insecure_registries, retry, allow_unsafe_realms)
        self._open_http(
            http_client,
            verify=verify,
            proxy=proxy,
            timeout=timeout,
            trust_env=trust_env,
            transport=transport,
        )
        self._env = HTTPEnv(self.http, self.auth)

    async def resolve(self, reference: ImageReference) -> Descriptor:
        return await drive_async(self.protocol.resolve(reference), self._env)

    async def get_manifest(
        self, reference: ImageReference, *, max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    ) -> Manifest | Index:
        flow = self.protocol.get_manifest(reference, max_bytes=max_bytes)
        return await drive_async(flow, self._env)

    async def get_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        size: int | None = None,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
    ) -> bytes:
        flow = self.protocol.get_blob(repository, digest, size=size, max_bytes=max_bytes)
        return await drive_async(flow, self._env)

    async def copy_blob_to(
        self,
        repository: Repository,
        digest: Digest,
        destination: BinaryIO,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        flow = self.protocol.copy_blob_to(
            repository, digest, destination, size=size, max_bytes=max_bytes or 2**62
        )
        return await drive_async(flow, self._env)

    async def blob_exists(self, repository: Repository, digest: Digest) -> bool:
        return await drive_async(self.protocol.blob_exists(repository, digest), self._env)

    async def put_blob(
        self, repository: Repository, data: bytes, *, digest: Digest | None = None
    ) -> Digest:
        return await drive_async(self.protocol.put_blob(repository, data, digest=digest), self._env)

    async def mount_blob(self, repository: Repository, digest: Digest, source: Repository) -> bool:
        return await drive_async(self.protocol.mount_blob(repository, digest, source), self._env)

    async def put_manifest(
        self, repository: Repository, manifest: Manifest | Index, *, tag: str | None = None
    ) -> Descriptor:
        flow = self.protocol.put_manifest(repository, manifest, tag=tag)
        return await drive_async(flow, self._env)

    async def list_tags(self, repository: Repository) -> list[str]:
        return await drive_async(self.protocol.list_tags(repository), self._env)

    async def referrers(
        self, repository: Repository, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        flow = self.protocol.referrers(repository, digest, artifact_type=artifact_type)
        return await drive_async(flow, self._env)

    async def delete_manifest(self, repository: Repository, digest: Digest) -> None:
        await drive_async(self.protocol.delete_manifest(repository, digest), self._env)
