"""Client and AsyncClient against a real docker-registry 2.8 and an OCI layout directory.

Images with referrers are copied registry → OCI layout → registry. The sync ``Client`` is also
driven from inside a running event loop, directly and through ``run_in_executor``: the
situation of a Jupyter cell.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.oci_content import (
    Content,
    RecordingTransport,
    StoreKind,
    image,
    index_of,
    open_store,
    referrer,
    repository_name,
)
from tests.support.registry_server import RunningRegistry

from imagesig.client import AsyncClient, Client, CopyResult
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.layout import OCILayoutStore
from imagesig.oci.model import Index, Platform
from imagesig.oci.registry import RegistryStore
from imagesig.oci.store import referrers_tag
from imagesig.reference import Digest, ImageReference

LAYOUT = "layout.example"
"""The registry name routed to the OCI layout store."""
SIGNATURE_TYPE = "application/vnd.example.signature+json"
SBOM_TYPE = "application/vnd.example.sbom+json"


@dataclass(frozen=True)
class Seeded:
    """An image pushed with two referrers (which share their empty config blob)."""

    reference: str
    subject: Content
    signature: Content
    sbom: Content

    @property
    def referrer_digests(self) -> set[Digest]:
        return {self.signature.manifest.digest, self.sbom.manifest.digest}


Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def _seed_calls(reference: str) -> tuple[Seeded, list[Call]]:
    """The client calls that push an image and its two referrers to ``reference``."""
    parsed = ImageReference.parse(reference)
    subject = image(reference)
    signature = referrer(subject.descriptor, SIGNATURE_TYPE, b"signature of " + reference.encode())
    sbom = referrer(subject.descriptor, SBOM_TYPE, b"sbom of " + reference.encode())
    repository = str(parsed.repository)
    calls: list[Call] = []
    for content, tag in ((subject, parsed.tag), (signature, None), (sbom, None)):
        calls.extend(("push_blob", (repository, blob), {}) for blob in content.blobs)
        calls.append(("push_manifest", (repository, content.manifest), {"tag": tag}))
    return Seeded(reference, subject, signature, sbom), calls


def seed(client: Client, reference: str) -> Seeded:
    """Push an image with two referrers through a sync client."""
    seeded, calls = _seed_calls(reference)
    for method, args, kwargs in calls:
        getattr(client, method)(*args, **kwargs)
    return seeded


class ClientDriver:
    """Calls a ``Client`` or an ``AsyncClient`` through one awaitable interface."""

    def __init__(self, client: Client | AsyncClient, transport: RecordingTransport) -> None:
        self.client = client
        self.transport = transport

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    async def copy(self, source: str, destination: str, **kwargs: Any) -> CopyResult:
        result: CopyResult = await self.call("copy_image", source, destination, **kwargs)
        return result

    async def seed(self, reference: str) -> Seeded:
        seeded, calls = _seed_calls(reference)
        for method, args, kwargs in calls:
            await self.call(method, *args, **kwargs)
        return seeded

    async def assert_holds(self, reference: str, seeded: Seeded) -> None:
        """``reference`` holds the seeded image, all its blobs and both referrers."""
        manifest = await self.call("get_manifest", reference)
        assert manifest.raw == seeded.subject.manifest.raw
        repository = str(ImageReference.parse(reference).repository)
        for blob in seeded.subject.blobs:
            assert await self.call("get_blob", repository, Digest.from_bytes(blob)) == blob
        listed = await self.call("referrers", reference)
        assert {d.digest for d in listed} == seeded.referrer_digests
        signatures = await self.call("referrers", reference, artifact_type=SIGNATURE_TYPE)
        assert [d.digest for d in signatures] == [seeded.signature.manifest.digest]
        for entry in listed:
            pinned = ImageReference.parse(reference).without_tag().with_digest(entry.digest)
            fetched = await self.call("get_manifest", pinned)
            assert fetched.subject is not None
            assert fetched.subject.digest == seeded.subject.manifest.digest


@pytest.fixture(params=["sync", "async"])
async def client(
    request: pytest.FixtureRequest, registry: RunningRegistry, tmp_path: Path
) -> AsyncIterator[ClientDriver]:
    kind: StoreKind = request.param
    layout = OCILayoutStore(tmp_path / "oci")
    async with open_store(kind) as registry_store:
        if kind == "sync":
            assert isinstance(registry_store.store, RegistryStore)
            with Client(stores={registry.host: registry_store.store, LAYOUT: layout}) as sync:
                yield ClientDriver(sync, registry_store.transport)
        else:
            stores: dict[str, Any] = {registry.host: registry_store.store, LAYOUT: layout}
            async with AsyncClient(stores=stores) as async_client:
                yield ClientDriver(async_client, registry_store.transport)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return repository_name(request.node.name)


# Blobs of a seeded image and its referrers: 3 of the image, 2 + 2 of the referrers, one of
# which (the empty config) the second referrer shares with the first.
SEEDED_BLOBS = 7


def _assert_full_copy(result: CopyResult, source: str, destination: str, seeded: Seeded) -> None:
    assert result.source == ImageReference.parse(source)
    assert result.destination == ImageReference.parse(destination).with_digest(
        seeded.subject.manifest.digest
    )
    assert result.manifests == 3
    assert result.referrers == 2
    assert result.blobs_copied == SEEDED_BLOBS - 1
    assert result.blobs_skipped == 1


async def test_copy_image_registry_to_layout_and_back(
    client: ClientDriver, registry: RunningRegistry, name: str
) -> None:
    source = f"{registry.host}/{name}/source:v1"
    in_layout = f"{LAYOUT}/{name}:v1"
    back = f"{registry.host}/{name}/back:v2"
    seeded = await client.seed(source)

    to_layout = await client.copy(source, in_layout)

    _assert_full_copy(to_layout, source, in_layout, seeded)
    await client.assert_holds(in_layout, seeded)
    tags = await client.call("list_tags", f"{LAYOUT}/{name}")
    assert tags == sorted(["v1", referrers_tag(seeded.subject.manifest.digest)])

    to_registry = await client.copy(in_layout, back)

    _assert_full_copy(to_registry, in_layout, back, seeded)
    await client.assert_holds(back, seeded)

    again = await client.copy(in_layout, back)
    assert (again.manifests, again.referrers) == (3, 2)
    assert (again.blobs_copied, again.blobs_skipped) == (0, SEEDED_BLOBS)
    assert {d.digest for d in await client.call("referrers", back)} == seeded.referrer_digests


async def test_copy_image_without_referrers(
    client: ClientDriver, registry: RunningRegistry, name: str
) -> None:
    source = f"{registry.host}/{name}:v1"
    destination = f"{LAYOUT}/{name}:v1"
    seeded = await client.seed(source)

    result = await client.copy(source, destination, include_referrers=False)

    assert (result.manifests, result.referrers, result.blobs_copied) == (1, 0, 3)
    assert (await client.call("get_manifest", destination)).raw == seeded.subject.manifest.raw
    assert await client.call("referrers", destination) == []


async def test_copy_within_one_registry_mounts_blobs(
    client: ClientDriver, registry: RunningRegistry, name: str
) -> None:
    source = f"{registry.host}/{name}/source:v1"
    mirror = f"{registry.host}/{name}/mirror:v1"
    seeded = await client.seed(source)
    client.transport.clear()

    result = await client.copy(source, mirror)

    _assert_full_copy(result, source, mirror, seeded)
    uploads = [s for s in client.transport.sent if s.url.path.endswith("/blobs/uploads/")]
    assert len(uploads) == SEEDED_BLOBS - 1
    assert all(s.method == "POST" and "mount" in s.url.params for s in uploads)
    assert "PUT" not in client.transport.methods_to("/blobs/")  # no bytes were uploaded
    await client.assert_holds(mirror, seeded)


async def test_copy_image_of_an_index_copies_every_platform(
    client: ClientDriver, registry: RunningRegistry, name: str
) -> None:
    repository = f"{registry.host}/{name}"
    platforms = [Platform("linux", "amd64"), Platform("linux", "s390x")]
    children = [image(f"{name}-{p.architecture}") for p in platforms]
    content = index_of(list(zip(children, platforms, strict=True)))
    for child in children:
        for blob in child.blobs:
            await client.call("push_blob", repository, blob)
        await client.call("push_manifest", repository, child.manifest)
    await client.call("push_manifest", repository, content.manifest, tag="multi")

    result = await client.copy(f"{repository}:multi", f"{LAYOUT}/{name}:multi")

    assert (result.manifests, result.blobs_copied, result.referrers) == (3, 6, 0)
    copied = await client.call("get_manifest", f"{LAYOUT}/{name}:multi")
    assert isinstance(copied, Index)
    assert copied.raw == content.manifest.raw
    for entry, child in zip(copied.manifests, children, strict=True):
        assert entry.platform in platforms
        pinned = f"{LAYOUT}/{name}@{entry.digest}"
        assert (await client.call("get_manifest", pinned)).raw == child.manifest.raw


# -- the sync client with and without an event loop ---------------------------------------------


@pytest.fixture
def sync_client(registry: RunningRegistry, tmp_path: Path) -> Iterator[Client]:
    layout = OCILayoutStore(tmp_path / "oci")
    with (
        RegistryStore(StaticKeychain(), trust_env=False) as store,
        Client(stores={registry.host: store, LAYOUT: layout}) as sync,
    ):
        yield sync


def test_sync_client_without_an_event_loop(
    sync_client: Client, registry: RunningRegistry, name: str
) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    source = f"{registry.host}/{name}:v1"
    seeded = seed(sync_client, source)

    result = sync_client.copy_image(source, f"{LAYOUT}/{name}:v1")

    _assert_full_copy(result, source, f"{LAYOUT}/{name}:v1", seeded)
    copied = {d.digest for d in sync_client.referrers(f"{LAYOUT}/{name}:v1")}
    assert copied == seeded.referrer_digests


async def test_sync_client_inside_a_running_event_loop(
    sync_client: Client, registry: RunningRegistry, name: str
) -> None:
    loop = asyncio.get_running_loop()
    assert loop.is_running()  # as in a Jupyter cell
    source = f"{registry.host}/{name}/source:v1"
    direct_target = f"{LAYOUT}/{name}/direct:v1"
    threaded_target = f"{registry.host}/{name}/threaded:v1"

    seeded = seed(sync_client, source)
    direct = sync_client.copy_image(source, direct_target)
    threaded = await loop.run_in_executor(
        None, functools.partial(sync_client.copy_image, direct_target, threaded_target)
    )

    _assert_full_copy(direct, source, direct_target, seeded)
    _assert_full_copy(threaded, direct_target, threaded_target, seeded)
    driver = ClientDriver(sync_client, RecordingTransport())
    await driver.assert_holds(direct_target, seeded)
    await driver.assert_holds(threaded_target, seeded)
    resolved = await loop.run_in_executor(None, sync_client.resolve, threaded_target)
    assert resolved.digest == seeded.subject.manifest.digest
