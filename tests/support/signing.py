"""Fixtures and helpers shared by the tests that sign and attest against an in-process Rekor.

The fixtures are re-exported by the ``conftest.py`` of each directory that uses them:
``rekor`` and ``signer`` are module-scoped (one log and one key per test module), ``tlog``
points a client at that log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest
from tests.support.oci_content import RecordingTransport, image

from imagesig import AsyncClient, Client, TransparencyLogOptions
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.reference import Digest, ImageReference, Repository
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer


@pytest.fixture(scope="module")
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def tlog(rekor: RekorServer) -> TransparencyLogOptions:
    return TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())


def run_at_once(count: int, work: Callable[[int], None], *, timeout: float = 120) -> None:
    """Run ``work(0)`` … ``work(count - 1)`` in threads that start together.

    Each thread waits on a barrier before calling ``work``; exceptions are collected and the
    call asserts that there were none.
    """
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert errors == []


def registry_client(
    tlog: TransparencyLogOptions, transport: RecordingTransport | None = None
) -> Client:
    """A client for the test registry: no credentials, no proxies, requests recorded."""
    return Client(
        keychain=StaticKeychain(),
        trust_env=False,
        transport=transport if transport is not None else RecordingTransport(),
        tlog=tlog,
    )


def async_registry_client(
    tlog: TransparencyLogOptions, transport: RecordingTransport | None = None
) -> AsyncClient:
    """The :class:`AsyncClient` twin of :func:`registry_client`."""
    return AsyncClient(
        keychain=StaticKeychain(),
        trust_env=False,
        transport=transport if transport is not None else RecordingTransport(),
        tlog=tlog,
    )


def push(client: Client, reference: str) -> ImageReference:
    """Push a small image to ``reference`` (a tag) and return it parsed."""
    parsed = ImageReference.parse(reference)
    content = image(reference)
    for blob in content.blobs:
        client.push_blob(parsed.repository, blob)
    client.push_manifest(parsed.repository, content.manifest, tag=parsed.tag)
    return parsed


def sent_requests(transport: RecordingTransport) -> list[str]:
    """The requests ``transport`` saw, as ``METHOD path-below-/v2/ STATUS``."""
    return [
        f"{sent.method} {sent.url.path.split('/v2/', 1)[1]} {sent.status}"
        for sent in transport.sent
    ]


#: The repository the OCI-layout tests push their images to.
LAYOUT_REPO = Repository.parse("registry.example.com/team/app")


def push_image(client: Client, seed: str, tag: str = "1.0") -> ImageReference:
    """Push a small image unique to ``seed`` to :data:`LAYOUT_REPO` and return its tag."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer of {seed}".encode()
    client.push_blob(LAYOUT_REPO, config)
    client.push_blob(LAYOUT_REPO, layer)
    manifest = Manifest.build(
        Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
    )
    client.push_manifest(LAYOUT_REPO, manifest, tag=tag)
    return LAYOUT_REPO.with_tag(tag)


def digest_of(client: Client, reference: ImageReference) -> Digest:
    return client.resolve(reference).digest
