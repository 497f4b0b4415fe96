"""Test content (images, indexes, referrers) and a driver that runs sync and async stores alike.

:class:`StoreDriver` lets one ``async def`` scenario exercise both
:class:`~imagesig.oci.registry.RegistryStore` and
:class:`~imagesig.oci.registry.AsyncRegistryStore`: ``await driver.call("resolve", ref)``
calls the sync store directly (its driver needs no event loop) and awaits the async one.
Every HTTP request the store sends is recorded by a :class:`RecordingTransport`.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import attrs
import httpx

from imagesig.oci.credentials import Keychain, StaticKeychain
from imagesig.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_EMPTY_JSON,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    Platform,
)
from imagesig.oci.registry import AsyncRegistryStore, RegistryStore
from imagesig.reference import Repository

__all__ = [
    "Content",
    "RecordingTransport",
    "Sent",
    "StoreDriver",
    "StoreKind",
    "image",
    "index_of",
    "open_store",
    "referrer",
    "repository_name",
]

StoreKind = Literal["sync", "async"]


def repository_name(test_name: str) -> str:
    """A repository path derived from a test's name (unique per test, valid in a registry)."""
    return re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:180]


@dataclass(frozen=True)
class Content:
    """A manifest (or index) and the blobs it needs, in push order."""

    manifest: Manifest | Index
    blobs: tuple[bytes, ...] = ()
    children: tuple[Content, ...] = ()

    @property
    def descriptor(self) -> Descriptor:
        return self.manifest.descriptor()


def image(seed: str, *, media_type: str = OCI_MANIFEST) -> Content:
    """A small image unique to ``seed``: one config and two layers."""
    docker = media_type == DOCKER_MANIFEST
    layers = (f"layer one of {seed}\n".encode(), f"layer two of {seed}\n".encode())
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "seed": seed},
        sort_keys=True,
    ).encode()
    layer_type = DOCKER_LAYER if docker else OCI_LAYER
    manifest = Manifest.build(
        Descriptor.for_content(config, DOCKER_CONFIG if docker else OCI_CONFIG),
        [Descriptor.for_content(layer, layer_type) for layer in layers],
        media_type=media_type,
    )
    return Content(manifest, (config, *layers))


def index_of(
    children: Sequence[tuple[Content, Platform]], *, media_type: str = OCI_INDEX
) -> Content:
    """An index (or Docker manifest list) whose entries carry platforms."""
    entries = [attrs.evolve(child.descriptor, platform=platform) for child, platform in children]
    return Content(
        Index.build(entries, media_type=media_type),
        children=tuple(child for child, _ in children),
    )


def referrer(subject: Descriptor, artifact_type: str, payload: bytes) -> Content:
    """An OCI 1.1 artifact manifest referring to ``subject`` (empty config, one layer)."""
    manifest = Manifest.build(
        Descriptor.for_content(OCI_EMPTY_JSON, OCI_EMPTY),
        [Descriptor.for_content(payload, "application/octet-stream")],
        artifact_type=artifact_type,
        subject=subject,
        annotations={"org.example.payload": payload.decode()},
    )
    return Content(manifest, (OCI_EMPTY_JSON, payload))


# -- HTTP recording ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request a :class:`RecordingTransport` sent, with the status it got back."""

    method: str
    url: httpx.URL
    status: int


@dataclass
class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A real transport that records every request it sends and the status it got."""

    sent: list[Sent] = field(default_factory=list)
    _sync: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)
    _async: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)

    def methods_to(self, path_part: str) -> list[str]:
        """Methods of the recorded requests whose path contains ``path_part``."""
        return [item.method for item in self.sent if path_part in item.url.path]

    def statuses(self) -> list[int]:
        return [item.status for item in self.sent]

    def clear(self) -> None:
        self.sent.clear()

    def forward(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the real server (override to reshape answers)."""
        return self._sync.handle_request(request)

    async def aforward(self, request: httpx.Request) -> httpx.Response:
        """Async :meth:`forward`."""
        return await self._async.handle_async_request(request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.forward(request)
        self.sent.append(Sent(request.method, request.url, response.status_code))
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.aforward(request)
        self.sent.append(Sent(request.method, request.url, response.status_code))
        return response

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


# -- one scenario, two stores -----------------------------------------------------------------


class StoreDriver:
    """Calls a sync or an async registry store through one awaitable interface."""

    def __init__(self, store: RegistryStore | AsyncRegistryStore, transport: RecordingTransport):
        self.store = store
        self.transport = transport

    @property
    def kind(self) -> StoreKind:
        return "async" if isinstance(self.store, AsyncRegistryStore) else "sync"

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``store.method(*args, **kwargs)``, awaiting it when the store is async."""
        result = getattr(self.store, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    async def push(
        self, repository: Repository, content: Content, *, tag: str | None = None
    ) -> Descriptor:
        """Push ``content`` (children and blobs first) and return the stored descriptor."""
        for child in content.children:
            await self.push(repository, child)
        for blob in content.blobs:
            await self.call("put_blob", repository, blob)
        descriptor: Descriptor = await self.call(
            "put_manifest", repository, content.manifest, tag=tag
        )
        return descriptor


@contextlib.asynccontextmanager
async def open_store(
    kind: StoreKind,
    keychain: Keychain | None = None,
    *,
    transport: RecordingTransport | None = None,
    **settings: Any,
) -> AsyncIterator[StoreDriver]:
    """Open a ``RegistryStore`` or ``AsyncRegistryStore`` that records its requests.

    The keychain defaults to an empty :class:`StaticKeychain` so that no docker config on the
    machine leaks into a test.
    """
    transport = transport if transport is not None else RecordingTransport()
    options: dict[str, Any] = {"trust_env": False, "transport": transport, **settings}
    keychain = keychain if keychain is not None else StaticKeychain()
    if kind == "sync":
        sync_store = RegistryStore(keychain, **options)
        try:
            yield StoreDriver(sync_store, transport)
        finally:
            sync_store.close()
    else:
        async_store = AsyncRegistryStore(keychain, **options)
        try:
            yield StoreDriver(async_store, transport)
        finally:
            await async_store.aclose()
