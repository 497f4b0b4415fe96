"""RegistryStore and AsyncRegistryStore against a real docker-registry 2.8.

Every scenario runs twice, once per store, through :class:`StoreDriver` (the sync store is
called directly from the test's event loop, which its loop-free driver allows).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.support.oci_content import (
    RecordingTransport,
    StoreDriver,
    image,
    index_of,
    open_store,
    referrer,
    repository_name,
)
from tests.support.registry_server import RunningRegistry

from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ManifestNotFoundError,
    RegistryProtocolError,
    SizeLimitExceededError,
)
from imagesig.oci.model import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    Platform,
)
from imagesig.oci.store import referrers_tag
from imagesig.reference import Digest, Repository

SIGNATURE_TYPE = "application/vnd.example.signature+json"
SBOM_TYPE = "application/vnd.example.sbom+json"


@pytest.fixture(params=["sync", "async"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StoreDriver]:
    async with open_store(request.param) as driver:
        yield driver


@pytest.fixture
def repo(request: pytest.FixtureRequest, registry: RunningRegistry) -> Repository:
    return Repository(registry.host, repository_name(request.node.name))


def _sibling(repo: Repository, name: str) -> Repository:
    return Repository(repo.registry, f"{repo.path}/{name}")


# -- blobs --------------------------------------------------------------------------------------


async def test_blob_round_trip_is_digest_checked(store: StoreDriver, repo: Repository) -> None:
    data = f"blob of {repo}\n".encode()

    digest = await store.call("put_blob", repo, data)

    assert digest == Digest.from_bytes(data)
    assert await store.call("blob_exists", repo, digest) is True
    assert await store.call("blob_exists", repo, Digest.from_bytes(b"never pushed")) is False
    assert await store.call("get_blob", repo, digest, size=len(data)) == data
    assert await store.call("get_blob", repo, digest) == data
    sink = io.BytesIO()
    sink.write(b"already here:")
    written = await store.call("copy_blob_to", repo, digest, sink, size=len(data))
    assert written == len(data)
    assert sink.getvalue() == b"already here:" + data


class _Unseekable(io.BytesIO):
    """A write-only stream such as a pipe or a socket: no ``tell``, no ``seek``."""

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


async def test_copy_blob_to_an_unseekable_stream_counts_bytes(
    store: StoreDriver, repo: Repository
) -> None:
    data = f"streamed blob of {repo}\n".encode() * 100
    digest = await store.call("put_blob", repo, data)
    sink = _Unseekable()

    written = await store.call("copy_blob_to", repo, digest, sink)

    assert written == len(data)
    assert sink.getvalue() == data


async def test_put_blob_skips_upload_when_blob_exists(store: StoreDriver, repo: Repository) -> None:
    data = f"existing blob of {repo}\n".encode()
    digest = await store.call("put_blob", repo, data)
    assert store.transport.methods_to("/blobs/") == ["HEAD", "POST", "PUT"]
    store.transport.clear()

    again = await store.call("put_blob", repo, data, digest=digest)

    assert again == digest
    assert store.transport.methods_to("/blobs/") == ["HEAD"]


async def test_put_blob_refuses_data_that_does_not_match_digest(
    store: StoreDriver, repo: Repository
) -> None:
    claimed = Digest.from_bytes(b"what the caller claims")
    with pytest.raises(DigestMismatchError):
        await store.call("put_blob", repo, b"what the caller sends", digest=claimed)
    assert store.transport.sent == []  # refused before anything was uploaded


async def test_get_blob_refuses_more_than_the_descriptor_size(
    store: StoreDriver, repo: Repository
) -> None:
    data = f"sized blob of {repo}\n".encode()
    digest = await store.call("put_blob", repo, data)

    with pytest.raises(SizeLimitExceededError):
        await store.call("get_blob", repo, digest, size=len(data) - 1)
    with pytest.raises(SizeLimitExceededError):
        await store.call("get_blob", repo, digest, max_bytes=len(data) - 1)
    with pytest.raises(SizeLimitExceededError):
        await store.call("copy_blob_to", repo, digest, io.BytesIO(), size=len(data) - 1)


async def test_missing_blob_error_names_the_repository(
    store: StoreDriver, repo: Repository
) -> None:
    missing = Digest.from_bytes(f"missing from {repo}".encode())

    with pytest.raises(BlobNotFoundError) as caught:
        await store.call("get_blob", repo, missing)
    assert str(repo) in str(caught.value)
    assert str(missing) in str(caught.value)
    assert caught.value.context["repository"] == repo.path
    with pytest.raises(BlobNotFoundError, match=repo.path):
        await store.call("copy_blob_to", repo, missing, io.BytesIO())


async def test_mount_blob_across_repositories(store: StoreDriver, repo: Repository) -> None:
    source, target = _sibling(repo, "source"), _sibling(repo, "target")
    data = f"mounted blob of {repo}\n".encode()
    digest = await store.call("put_blob", source, data)
    assert await store.call("blob_exists", target, digest) is False
    store.transport.clear()

    assert await store.call("mount_blob", target, digest, source) is True

    assert store.transport.methods_to("/blobs/uploads/") == ["POST"]  # no upload of the bytes
    assert await store.call("blob_exists", target, digest) is True
    assert await store.call("get_blob", target, digest, size=len(data)) == data


async def test_mount_blob_from_another_registry_is_declined(
    store: StoreDriver, repo: Repository
) -> None:
    elsewhere = Repository("registry.invalid", repo.path)
    digest = Digest.from_bytes(b"lives elsewhere")

    assert await store.call("mount_blob", repo, digest, elsewhere) is False
    assert store.transport.sent == []


async def test_mount_blob_missing_from_source_cancels_the_upload(
    store: StoreDriver, repo: Repository
) -> None:
    digest = Digest.from_bytes(f"not in the source {repo}".encode())

    mounted = await store.call("mount_blob", _sibling(repo, "target"), digest, repo)

    assert mounted is False
    assert store.transport.methods_to("/blobs/uploads/") == ["POST", "DELETE"]


# -- manifests ----------------------------------------------------------------------------------


async def test_manifest_round_trip_by_tag_and_digest(store: StoreDriver, repo: Repository) -> None:
    content = image(repo.path)
    manifest = content.manifest
    assert isinstance(manifest, Manifest)

    stored = await store.push(repo, content, tag="v1")

    expected = Descriptor(OCI_MANIFEST, manifest.digest, len(manifest.raw))
    assert stored == expected
    for reference in (repo.with_tag("v1"), repo.with_digest(manifest.digest)):
        store.transport.clear()
        assert await store.call("resolve", reference) == expected
        assert store.transport.methods_to("/manifests/") == ["HEAD"]  # no body downloaded
        fetched = await store.call("get_manifest", reference)
        assert isinstance(fetched, Manifest)
        assert fetched.raw == manifest.raw  # the exact bytes
        assert fetched.digest == manifest.digest
        assert fetched.config == manifest.config
        assert fetched.layers == manifest.layers


async def test_put_manifest_by_digest_leaves_no_tag(store: StoreDriver, repo: Repository) -> None:
    tagged, untagged = image(f"{repo.path}-tagged"), image(f"{repo.path}-untagged")
    await store.push(repo, tagged, tag="kept")

    stored = await store.push(repo, untagged)

    assert stored.digest == untagged.manifest.digest
    fetched = await store.call("get_manifest", repo.with_digest(stored.digest))
    assert fetched.raw == untagged.manifest.raw
    assert await store.call("list_tags", repo) == ["kept"]


@pytest.mark.parametrize(
    ("manifest_type", "index_type"),
    [(DOCKER_MANIFEST, DOCKER_MANIFEST_LIST), (OCI_MANIFEST, OCI_INDEX)],
    ids=["docker", "oci"],
)
async def test_index_with_platforms_round_trip(
    store: StoreDriver, repo: Repository, manifest_type: str, index_type: str
) -> None:
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64", variant="v8")]
    children = [image(f"{repo.path}-{p.architecture}", media_type=manifest_type) for p in platforms]
    content = index_of(list(zip(children, platforms, strict=True)), media_type=index_type)

    await store.push(repo, content, tag="multi")

    resolved = await store.call("resolve", repo.with_tag("multi"))
    assert resolved == Descriptor(index_type, content.manifest.digest, len(content.manifest.raw))
    fetched = await store.call("get_manifest", repo.with_tag("multi"))
    assert isinstance(fetched, Index)
    assert fetched.media_type == index_type
    assert fetched.raw == content.manifest.raw
    assert [entry.platform for entry in fetched.manifests] == platforms
    for entry, child in zip(fetched.manifests, children, strict=True):
        assert entry.media_type == manifest_type
        by_digest = repo.with_digest(entry.digest)
        assert (await store.call("resolve", by_digest)).media_type == manifest_type
        manifest = await store.call("get_manifest", by_digest)
        assert isinstance(manifest, Manifest)
        assert manifest.media_type == manifest_type
        assert manifest.raw == child.manifest.raw


async def test_delete_manifest_removes_it_and_its_tag(store: StoreDriver, repo: Repository) -> None:
    content = image(repo.path)
    digest = (await store.push(repo, content, tag="doomed")).digest

    await store.call("delete_manifest", repo, digest)

    for reference in (repo.with_tag("doomed"), repo.with_digest(digest)):
        with pytest.raises(ManifestNotFoundError):
            await store.call("resolve", reference)
        with pytest.raises(ManifestNotFoundError):
            await store.call("get_manifest", reference)
    with pytest.raises(ManifestNotFoundError, match=repo.path):
        await store.call("delete_manifest", repo, digest)
    assert await store.call("list_tags", repo) == []


async def test_missing_manifest_error_names_the_repository(
    store: StoreDriver, repo: Repository
) -> None:
    await store.push(repo, image(repo.path), tag="present")

    for reference in (repo.with_tag("absent"), _sibling(repo, "unknown").with_tag("v1")):
        with pytest.raises(ManifestNotFoundError) as resolving:
            await store.call("resolve", reference)
        with pytest.raises(ManifestNotFoundError) as fetching:
            await store.call("get_manifest", reference)
        for caught in (resolving, fetching):
            assert str(reference.repository) in str(caught.value)
            assert caught.value.context["repository"] == reference.path


# -- listings -----------------------------------------------------------------------------------


class _PagingTransport(RecordingTransport):
    """Serves the registry's tag list in pages joined by ``Link`` headers.

    docker-registry 2.8 ignores ``n`` on ``tags/list`` and always answers in one page, so this
    front splits its real answer the way distribution 3 and hosted registries paginate: by
    ``n`` (default :attr:`page_size`) and ``last``, with a relative ``Link: <...>; rel="next"``.
    With ``stuck`` every page links to the second page again (a broken registry).
    """

    page_size = 2
    stuck = False

    def _is_tag_list(self, request: httpx.Request) -> bool:
        return request.method == "GET" and request.url.path.endswith("/tags/list")

    def _upstream(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request("GET", request.url.copy_with(query=None), headers=request.headers)

    def _page(self, request: httpx.Request, upstream: httpx.Response) -> httpx.Response:
        if upstream.status_code != 200:
            return httpx.Response(upstream.status_code, content=upstream.content)
        tags = sorted(json.loads(upstream.content)["tags"] or [])
        size = int(request.url.params.get("n", self.page_size))
        last = request.url.params.get("last")
        remaining = [tag for tag in tags if last is None or tag > last]
        page = remaining[:size]
        headers = {"Content-Type": "application/json"}
        if len(remaining) > size:
            after = tags[size - 1] if self.stuck else page[-1]
            headers["Link"] = f'<{request.url.path}?n={size}&last={after}>; rel="next"'
        body = json.dumps({"name": request.url.path, "tags": page}).encode()
        return httpx.Response(200, headers=headers, content=body)

    def forward(self, request: httpx.Request) -> httpx.Response:
        if not self._is_tag_list(request):
            return super().forward(request)
        upstream = super().forward(self._upstream(request))
        upstream.read()
        return self._page(request, upstream)

    async def aforward(self, request: httpx.Request) -> httpx.Response:
        if not self._is_tag_list(request):
            return await super().aforward(request)
        upstream = await super().aforward(self._upstream(request))
        await upstream.aread()
        return self._page(request, upstream)


@pytest.fixture(params=["sync", "async"])
async def paging_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreDriver]:
    async with open_store(request.param, transport=_PagingTransport()) as driver:
        yield driver


async def test_list_tags_follows_pagination_links(
    paging_store: StoreDriver, repo: Repository
) -> None:
    content = image(repo.path)
    tags = [f"t{number}" for number in range(5)]
    await paging_store.push(repo, content, tag=tags[0])
    for tag in tags[1:]:
        await paging_store.call("put_manifest", repo, content.manifest, tag=tag)
    paging_store.transport.clear()

    listed = await paging_store.call("list_tags", repo)

    assert listed == tags
    pages = [item.url for item in paging_store.transport.sent]
    assert len(pages) == 3
    assert [page.params.get("last") for page in pages] == [None, "t1", "t3"]


async def test_list_tags_refuses_a_pagination_loop(
    paging_store: StoreDriver, repo: Repository
) -> None:
    content = image(repo.path)
    await paging_store.push(repo, content, tag="t0")
    for number in range(1, 6):
        await paging_store.call("put_manifest", repo, content.manifest, tag=f"t{number}")
    transport = paging_store.transport
    assert isinstance(transport, _PagingTransport)
    transport.stuck = True

    with pytest.raises(RegistryProtocolError, match="loops"):
        await paging_store.call("list_tags", repo)


async def test_list_tags_without_pagination(store: StoreDriver, repo: Repository) -> None:
    content = image(repo.path)
    await store.push(repo, content, tag="b")
    await store.call("put_manifest", repo, content.manifest, tag="a")

    assert sorted(await store.call("list_tags", repo)) == ["a", "b"]
    assert await store.call("list_tags", _sibling(repo, "never-pushed")) == []


# -- referrers ----------------------------------------------------------------------------------


async def test_referrers_fall_back_to_the_tag_schema(store: StoreDriver, repo: Repository) -> None:
    subject = image(repo.path)
    subject_descriptor = await store.push(repo, subject, tag="v1")
    signature = referrer(subject_descriptor, SIGNATURE_TYPE, b"signature payload")
    sbom = referrer(subject_descriptor, SBOM_TYPE, b"sbom payload")

    await store.push(repo, signature)
    await store.push(repo, sbom)
    store.transport.clear()
    listed = await store.call("referrers", repo, subject.manifest.digest)

    # docker-registry 2.8 has no referrers API: one probe (404), then the tag schema
    assert store.transport.methods_to("/referrers/") == ["GET"]
    assert 404 in store.transport.statuses()
    assert {d.digest: d.artifact_type for d in listed} == {
        signature.manifest.digest: SIGNATURE_TYPE,
        sbom.manifest.digest: SBOM_TYPE,
    }
    by_digest = {d.digest: d for d in listed}
    assert by_digest[sbom.manifest.digest].annotations == {"org.example.payload": "sbom payload"}
    assert by_digest[sbom.manifest.digest].size == len(sbom.manifest.raw)
    fallback = referrers_tag(subject.manifest.digest)
    assert fallback in await store.call("list_tags", repo)
    fallback_index = await store.call("get_manifest", repo.with_tag(fallback))
    assert isinstance(fallback_index, Index)
    assert len(fallback_index.manifests) == 2

    store.transport.clear()
    only_signatures = await store.call(
        "referrers", repo, subject.manifest.digest, artifact_type=SIGNATURE_TYPE
    )
    assert [d.digest for d in only_signatures] == [signature.manifest.digest]
    assert store.transport.methods_to("/referrers/") == []  # the missing API is remembered
    assert (
        await store.call("referrers", repo, subject.manifest.digest, artifact_type="other/type")
        == []
    )
    assert await store.call("referrers", repo, signature.manifest.digest) == []


async def test_pushing_a_referrer_twice_lists_it_once(store: StoreDriver, repo: Repository) -> None:
    subject_descriptor = await store.push(repo, image(repo.path), tag="v1")
    signature = referrer(subject_descriptor, SIGNATURE_TYPE, b"signed once")

    await store.push(repo, signature)
    await store.push(repo, signature)

    listed = await store.call("referrers", repo, subject_descriptor.digest)
    assert [d.digest for d in listed] == [signature.manifest.digest]


async def test_concurrent_referrers_on_one_subject_are_all_recorded(
    store: StoreDriver, repo: Repository
) -> None:
    subject_descriptor = await store.push(repo, image(repo.path), tag="v1")
    referrers = [
        referrer(subject_descriptor, SIGNATURE_TYPE, f"sig {n}".encode()) for n in range(8)
    ]
    for item in referrers:  # blobs first, so only the manifest pushes race
        for blob in item.blobs:
            await store.call("put_blob", repo, blob)

    if store.kind == "async":
        await asyncio.gather(
            *(store.call("put_manifest", repo, item.manifest) for item in referrers)
        )
    else:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: store.store.put_manifest(repo, item.manifest), referrers))

    listed = await store.call("referrers", repo, subject_descriptor.digest)
    assert sorted(str(d.digest) for d in listed) == sorted(
        str(item.manifest.digest) for item in referrers
    )
    assert [str(d.digest) for d in listed] == sorted(str(d.digest) for d in listed)
