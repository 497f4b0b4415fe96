"""Tests for :mod:`imagesig.oci.layout`: the OCI image-layout store."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidReferenceError,
    LayoutError,
    ManifestNotFoundError,
    SizeLimitExceededError,
)
from imagesig.oci.layout import REF_NAME_ANNOTATION, OCILayoutStore
from imagesig.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_MEDIA_TYPES,
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
from imagesig.oci.store import Store, ThreadedAsyncStore
from imagesig.reference import Digest, ImageReference, Repository

REPOSITORY = "registry.example.com/team/app"
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_TYPE = "application/spdx+json"


@pytest.fixture
def store(tmp_path: Path) -> OCILayoutStore:
    return OCILayoutStore(tmp_path / "oci")


@pytest.fixture
def repo() -> Repository:
    return Repository.parse(REPOSITORY)


def _ref(repository: Repository, identifier: str) -> ImageReference:
    separator = "@" if ":" in identifier else ":"
    return ImageReference.parse(f"{repository}{separator}{identifier}")


def _image(
    store: OCILayoutStore,
    repository: Repository,
    seed: str,
    *,
    media_type: str = OCI_MANIFEST,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """Store a config and one layer, and return a manifest for them (not yet stored)."""
    docker = media_type == DOCKER_MANIFEST
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode()
    store.put_blob(repository, config)
    store.put_blob(repository, layer)
    return Manifest.build(
        Descriptor.for_content(config, DOCKER_CONFIG if docker else OCI_CONFIG),
        [Descriptor.for_content(layer, DOCKER_LAYER if docker else OCI_LAYER)],
        media_type=media_type,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _referrer(
    store: OCILayoutStore,
    repository: Repository,
    subject: Manifest,
    seed: str,
    *,
    artifact_type: str | None = SIGNATURE_TYPE,
) -> Manifest:
    """Store the empty config and a payload, and return an artifact manifest about ``subject``."""
    payload = f"payload {seed}".encode()
    store.put_blob(repository, OCI_EMPTY_JSON)
    store.put_blob(repository, payload)
    config_type = OCI_EMPTY if artifact_type else SBOM_TYPE
    return Manifest.build(
        Descriptor.for_content(OCI_EMPTY_JSON, config_type),
        [Descriptor.for_content(payload, "application/octet-stream")],
        subject=subject.descriptor(),
        artifact_type=artifact_type,
        annotations={"seed": seed},
    )


def _index_json(layout: Path) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads((layout / "index.json").read_bytes()))


def _assert_valid_layout(layout: Path) -> None:
    """Check ``layout`` is a structurally valid OCI image layout, content hashes included."""
    assert json.loads((layout / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = _index_json(layout)
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    assert not [p for p in layout.iterdir() if p.name.startswith(".tmp-")]

    seen: set[str] = set()

    def check(descriptor: dict[str, Any]) -> None:
        digest = descriptor["digest"]
        algorithm, _, hex_digest = digest.partition(":")
        path = layout / "blobs" / algorithm / hex_digest
        assert path.is_file(), f"missing blob {digest}"
        data = path.read_bytes()
        assert len(data) == descriptor["size"], f"wrong size for {digest}"
        assert hashlib.new(algorithm, data).hexdigest() == hex_digest, f"bad hash for {digest}"
        if digest in seen:
            return
        seen.add(digest)
        if descriptor["mediaType"] in {OCI_MANIFEST, DOCKER_MANIFEST}:
            body = json.loads(data)
            for child in [body["config"], *body["layers"]]:
                check(child)
        elif descriptor["mediaType"] in INDEX_MEDIA_TYPES:
            for child in json.loads(data)["manifests"]:
                check(child)

    for entry in index["manifests"]:
        check(entry)


# -- paths, construction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "relative"),
    [
        ("registry.example.com/team/app", "registry.example.com/team/app"),
        ("localhost:5000/app", "localhost_5000/app"),
        ("[::1]:5000/team/app", "___1__5000/team/app"),
    ],
)
def test_layout_dir_maps_registry_and_path(tmp_path: Path, repository: str, relative: str) -> None:
    store = OCILayoutStore(tmp_path)
    assert store.layout_dir(Repository.parse(repository)) == tmp_path / relative


def test_layout_dir_refuses_paths_outside_root(tmp_path: Path) -> None:
    store = OCILayoutStore(tmp_path / "oci")
    for registry, path in [("example.com", "../../etc"), ("..", "app"), ("example.com", "a//b")]:
        forged = cast("Repository", SimpleNamespace(registry=registry, path=path))
        with pytest.raises(InvalidReferenceError):
            store.layout_dir(forged)


def test_blob_paths_need_digest_objects(store: OCILayoutStore, repo: Repository) -> None:
    with pytest.raises(TypeError):
        store.blob_exists(repo, cast("Digest", "sha256:" + "0" * 64))


def test_repr_shows_root(tmp_path: Path) -> None:
    assert str(tmp_path / "oci") in repr(OCILayoutStore(tmp_path / "oci"))


def test_implements_store_protocol(store: OCILayoutStore) -> None:
    assert isinstance(store, Store)


def test_create_false_requires_existing_root(tmp_path: Path) -> None:
    with pytest.raises(LayoutError):
        OCILayoutStore(tmp_path / "missing", create=False)
    store = OCILayoutStore(tmp_path, create=False)
    assert store.list_tags(Repository.parse(REPOSITORY)) == []


def test_reads_of_an_absent_layout_find_nothing(store: OCILayoutStore, repo: Repository) -> None:
    assert store.list_tags(repo) == []
    assert store.referrers(repo, Digest.from_bytes(b"x")) == []
    assert not store.blob_exists(repo, Digest.from_bytes(b"x"))
    with pytest.raises(ManifestNotFoundError, match="latest"):
        store.resolve(_ref(repo, "latest"))
    with pytest.raises(BlobNotFoundError):
        store.get_blob(repo, Digest.from_bytes(b"x"))
    with pytest.raises(ManifestNotFoundError):
        store.delete_manifest(repo, Digest.from_bytes(b"x"))
    assert not store.root.exists()


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_manifest_round_trip(store: OCILayoutStore, repo: Repository, media_type: str) -> None:
    manifest = _image(store, repo, "one", media_type=media_type)
    descriptor = store.put_manifest(repo, manifest, tag="1.4")

    assert descriptor == manifest.descriptor()
    by_tag = store.resolve(_ref(repo, "1.4"))
    by_digest = store.resolve(_ref(repo, str(manifest.digest)))
    for resolved in (by_tag, by_digest):
        assert (resolved.media_type, resolved.digest, resolved.size) == (
            media_type,
            manifest.digest,
            len(manifest.raw),
        )
    for ref in (_ref(repo, "1.4"), _ref(repo, str(manifest.digest))):
        fetched = store.get_manifest(ref)
        assert isinstance(fetched, Manifest)
        assert fetched.raw == manifest.raw
        assert fetched.media_type == media_type

    layer = manifest.layers[0]
    assert store.get_blob(repo, layer.digest, size=layer.size) == b"layer one"
    sink = io.BytesIO()
    assert store.copy_blob_to(repo, manifest.config.digest, sink) == manifest.config.size
    assert manifest.config.digest.matches(sink.getvalue())
    assert store.blob_exists(repo, layer.digest)
    assert not store.blob_exists(repo, Digest.from_bytes(b"absent"))
    assert store.list_tags(repo) == ["1.4"]
    _assert_valid_layout(store.layout_dir(repo))


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_index_with_platform_entries_round_trip(
    store: OCILayoutStore, repo: Repository, media_type: str
) -> None:
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    entries = []
    for arch, variant in [("amd64", None), ("arm64", "v8")]:
        child = _image(store, repo, arch, media_type=child_type)
        store.put_manifest(repo, child)
        platform = Platform(os="linux", architecture=arch, variant=variant)
        entries.append(_with_platform(child.descriptor(), platform))
    index = Index.build(entries, media_type=media_type)

    store.put_manifest(repo, index, tag="multi")

    fetched = store.get_manifest(_ref(repo, "multi"))
    assert isinstance(fetched, Index)
    assert fetched.raw == index.raw
    assert [entry.platform for entry in fetched.manifests] == [e.platform for e in entries]
    assert store.resolve(_ref(repo, str(index.digest))).media_type == media_type
    # Two untagged children plus the tagged index.
    assert len(_index_json(store.layout_dir(repo))["manifests"]) == 3
    _assert_valid_layout(store.layout_dir(repo))


def _with_platform(descriptor: Descriptor, platform: Platform) -> Descriptor:
    return Descriptor(
        media_type=descriptor.media_type,
        digest=descriptor.digest,
        size=descriptor.size,
        platform=platform,
    )


def test_tag_moves_to_the_new_manifest(store: OCILayoutStore, repo: Repository) -> None:
    first = _image(store, repo, "first")
    second = _image(store, repo, "second")
    store.put_manifest(repo, first, tag="stable")
    store.put_manifest(repo, second, tag="stable")

    assert store.resolve(_ref(repo, "stable")).digest == second.digest
    entries = _index_json(store.layout_dir(repo))["manifests"]
    assert [e["annotations"][REF_NAME_ANNOTATION] for e in entries] == ["stable"]
    # The old manifest is still there by digest, as on a registry.
    assert store.get_manifest(_ref(repo, str(first.digest))).raw == first.raw


def test_untagged_manifest_is_listed_once(store: OCILayoutStore, repo: Repository) -> None:
    manifest = _image(store, repo, "plain")
    store.put_manifest(repo, manifest)
    store.put_manifest(repo, manifest)
    entries = _index_json(store.layout_dir(repo))["manifests"]
    assert len(entries) == 1
    assert "annotations" not in entries[0]
    assert store.list_tags(repo) == []
    store.put_manifest(repo, manifest, tag="v1")
    store.put_manifest(repo, manifest)  # already listed (tagged): nothing added
    assert len(_index_json(store.layout_dir(repo))["manifests"]) == 2
    assert store.list_tags(repo) == ["v1"]


def test_last_duplicate_tag_entry_wins(store: OCILayoutStore, repo: Repository) -> None:
    first = _image(store, repo, "first")
    second = _image(store, repo, "second")
    store.put_manifest(repo, first)
    store.put_manifest(repo, second)
    layout = store.layout_dir(repo)
    body = _index_json(layout)
    for entry in body["manifests"]:
        entry["annotations"] = {REF_NAME_ANNOTATION: "dup"}
    (layout / "index.json").write_text(json.dumps(body))

    assert store.resolve(_ref(repo, "dup")).digest == second.digest
    assert store.list_tags(repo) == ["dup"]


def test_rewriting_index_json_keeps_what_other_tools_wrote(
    store: OCILayoutStore, repo: Repository
) -> None:
    first = _image(store, repo, "first")
    store.put_manifest(repo, first, tag="old")
    layout = store.layout_dir(repo)
    body = _index_json(layout)
    body["annotations"] = {"org.example.owner": "ops"}
    body["manifests"][0]["x-extension"] = {"kept": True}
    (layout / "index.json").write_text(json.dumps(body))

    store.put_manifest(repo, _image(store, repo, "second"), tag="new")

    after = _index_json(layout)
    assert after["annotations"] == {"org.example.owner": "ops"}
    assert after["manifests"][0]["x-extension"] == {"kept": True}
    assert store.list_tags(repo) == ["new", "old"]


def test_resolve_digest_not_in_index_reads_media_type_from_blob(
    store: OCILayoutStore, repo: Repository
) -> None:
    manifest = _image(store, repo, "loose", media_type=DOCKER_MANIFEST)
    store.put_blob(repo, manifest.raw)
    resolved = store.resolve(_ref(repo, str(manifest.digest)))
    assert (resolved.media_type, resolved.size) == (DOCKER_MANIFEST, len(manifest.raw))


def test_missing_tag_names_repository_and_tag(store: OCILayoutStore, repo: Repository) -> None:
    store.put_manifest(repo, _image(store, repo, "x"), tag="present")
    with pytest.raises(ManifestNotFoundError) as caught:
        store.get_manifest(_ref(repo, "absent"))
    assert REPOSITORY in str(caught.value)
    assert "absent" in str(caught.value)


def test_invalid_tag_is_refused(store: OCILayoutStore, repo: Repository) -> None:
    with pytest.raises(InvalidReferenceError):
        store.put_manifest(repo, _image(store, repo, "x"), tag="../escape")


def test_put_blob_checks_digest_and_repairs_a_truncated_file(
    store: OCILayoutStore, repo: Repository
) -> None:
    with pytest.raises(DigestMismatchError):
        store.put_blob(repo, b"data", digest=Digest.from_bytes(b"other"))
    digest = store.put_blob(repo, b"data", digest=Digest.from_bytes(b"data"))
    path = store.layout_dir(repo) / "blobs" / digest.algorithm / digest.hex
    path.write_bytes(b"da")
    assert store.put_blob(repo, b"data") == digest
    assert path.read_bytes() == b"data"


def test_mount_blob_links_from_the_source_layout(store: OCILayoutStore, repo: Repository) -> None:
    source = Repository.parse("localhost:5000/base")
    digest = store.put_blob(source, b"shared layer")
    assert store.mount_blob(repo, digest, source)
    assert store.get_blob(repo, digest) == b"shared layer"
    assert store.mount_blob(repo, digest, source)  # already there
    assert not store.mount_blob(repo, Digest.from_bytes(b"nope"), source)
    if os.name == "posix":

        def blob(r: Repository) -> Path:
            return store.layout_dir(r) / "blobs" / "sha256" / digest.hex

        assert blob(repo).stat().st_ino == blob(source).stat().st_ino
    assert not [p for p in store.layout_dir(repo).iterdir() if p.name.startswith(".tmp-")]


async def test_threaded_async_store_wraps_the_layout(
    store: OCILayoutStore, repo: Repository
) -> None:
    manifest = _image(store, repo, "async")
    wrapped = ThreadedAsyncStore(store)
    await wrapped.put_manifest(repo, manifest, tag="a")
    assert await wrapped.list_tags(repo) == ["a"]


# -- referrers ------------------------------------------------------------------------------


def test_referrers_tag_schema_index_is_created_merged_and_filtered(
    store: OCILayoutStore, repo: Repository
) -> None:
    subject = _image(store, repo, "subject")
    store.put_manifest(repo, subject, tag="1.0")
    signature = _referrer(store, repo, subject, "sig")
    sbom = _referrer(store, repo, subject, "sbom", artifact_type=None)

    store.put_manifest(repo, signature)
    store.put_manifest(repo, sbom)
    store.put_manifest(repo, signature)  # again: no duplicate

    found = store.referrers(repo, subject.digest)
    assert [d.digest for d in found] == [signature.digest, sbom.digest]
    assert [d.artifact_type for d in found] == [SIGNATURE_TYPE, SBOM_TYPE]
    assert found[0].annotations == {"seed": "sig"}
    assert [d.digest for d in store.referrers(repo, subject.digest, artifact_type=SBOM_TYPE)] == [
        sbom.digest
    ]
    assert store.referrers(repo, subject.digest, artifact_type="application/other") == []
    assert store.referrers(repo, signature.digest) == []

    tag = subject.digest.tag_suffix
    assert store.list_tags(repo) == sorted(["1.0", tag])
    referrers_index = store.get_manifest(_ref(repo, tag))
    assert isinstance(referrers_index, Index)
    assert referrers_index.media_type == OCI_INDEX
    assert referrers_index.manifests[0].to_dict() == {
        "mediaType": OCI_MANIFEST,
        "digest": str(signature.digest),
        "size": len(signature.raw),
        "annotations": {"seed": "sig"},
        "artifactType": SIGNATURE_TYPE,
    }
    _assert_valid_layout(store.layout_dir(repo))


def test_referrers_merge_into_an_existing_tag_schema_index(
    store: OCILayoutStore, repo: Repository
) -> None:
    subject = _image(store, repo, "subject")
    store.put_manifest(repo, subject)
    foreign = _referrer(store, repo, subject, "foreign")
    store.put_blob(repo, foreign.raw)
    existing = Index.build([foreign.descriptor()])
    store.put_manifest(repo, existing, tag=subject.digest.tag_suffix)

    ours = _referrer(store, repo, subject, "ours")
    store.put_manifest(repo, ours)

    assert [d.digest for d in store.referrers(repo, subject.digest)] == [
        foreign.digest,
        ours.digest,
    ]


def test_delete_manifest_removes_entries_blob_and_referrer(
    store: OCILayoutStore, repo: Repository
) -> None:
    subject = _image(store, repo, "subject")
    store.put_manifest(repo, subject, tag="1.0")
    first = _referrer(store, repo, subject, "first")
    second = _referrer(store, repo, subject, "second")
    store.put_manifest(repo, first, tag="first")
    store.put_manifest(repo, second)

    store.delete_manifest(repo, first.digest)
    assert [d.digest for d in store.referrers(repo, subject.digest)] == [second.digest]
    assert "first" not in store.list_tags(repo)
    assert not store.blob_exists(repo, first.digest)
    with pytest.raises(ManifestNotFoundError):
        store.get_manifest(_ref(repo, str(first.digest)))
    with pytest.raises(ManifestNotFoundError):
        store.delete_manifest(repo, first.digest)

    store.delete_manifest(repo, second.digest)
    assert store.referrers(repo, subject.digest) == []
    assert store.list_tags(repo) == ["1.0"]

    store.delete_manifest(repo, subject.digest)
    with pytest.raises(ManifestNotFoundError):
        store.resolve(_ref(repo, "1.0"))
    assert store.list_tags(repo) == []
    _assert_valid_layout(store.layout_dir(repo))


# -- damaged content and limits -------------------------------------------------------------


def _blob_file(store: OCILayoutStore, repo: Repository, digest: Digest) -> Path:
    return store.layout_dir(repo) / "blobs" / digest.algorithm / digest.hex


def test_tampered_blob_raises_digest_mismatch(store: OCILayoutStore, repo: Repository) -> None:
    manifest = _image(store, repo, "victim")
    store.put_manifest(repo, manifest, tag="v")
    path = _blob_file(store, repo, manifest.digest)
    evil = Digest.from_bytes(b"evil layer").hex.encode()
    tampered = manifest.raw.replace(manifest.layers[0].digest.hex.encode(), evil)
    assert len(tampered) == len(manifest.raw)
    assert tampered != manifest.raw
    path.write_bytes(tampered)
    for ref in (_ref(repo, "v"), _ref(repo, str(manifest.digest))):
        with pytest.raises(DigestMismatchError):
            store.get_manifest(ref)

    layer = manifest.layers[0]
    _blob_file(store, repo, layer.digest).write_bytes(b"layer xxxxxx")
    with pytest.raises(DigestMismatchError):
        store.get_blob(repo, layer.digest)
    with pytest.raises(DigestMismatchError):
        store.copy_blob_to(repo, layer.digest, io.BytesIO())


def test_oversized_blob_is_refused_before_reading(store: OCILayoutStore, repo: Repository) -> None:
    digest = store.put_blob(repo, b"small")
    path = _blob_file(store, repo, digest)
    with path.open("r+b") as handle:
        handle.truncate(64 * 1024**3)  # sparse: reading it would take a very long time

    with pytest.raises(SizeLimitExceededError):
        store.get_blob(repo, digest)
    sink = io.BytesIO()
    with pytest.raises(SizeLimitExceededError):
        store.copy_blob_to(repo, digest, sink, max_bytes=1024)
    with pytest.raises(SizeLimitExceededError):
        store.copy_blob_to(repo, digest, sink, size=5)
    assert sink.getvalue() == b""


def test_blob_size_is_checked_against_size_and_max_bytes(
    store: OCILayoutStore, repo: Repository
) -> None:
    digest = store.put_blob(repo, b"0123456789")
    with pytest.raises(SizeLimitExceededError):
        store.get_blob(repo, digest, max_bytes=9)
    with pytest.raises(SizeLimitExceededError):
        store.get_blob(repo, digest, size=9)
    with pytest.raises(DigestMismatchError):
        store.get_blob(repo, digest, size=11)
    assert store.get_blob(repo, digest, size=10, max_bytes=10) == b"0123456789"


def test_oversized_manifest_is_refused(store: OCILayoutStore, repo: Repository) -> None:
    manifest = _image(store, repo, "big")
    store.put_manifest(repo, manifest, tag="big")
    with pytest.raises(SizeLimitExceededError):
        store.get_manifest(_ref(repo, "big"), max_bytes=len(manifest.raw) - 1)
    # The blob grew behind index.json's back: larger than the recorded size.
    path = _blob_file(store, repo, manifest.digest)
    path.write_bytes(manifest.raw + b" ")
    with pytest.raises(SizeLimitExceededError):
        store.get_manifest(_ref(repo, "big"))


@pytest.mark.parametrize(
    "marker", [b'{"imageLayoutVersion": "2.0.0"}', b"{}", b"not json", b'{"imageLayoutVersion": 1}']
)
def test_unsupported_oci_layout_is_refused(
    store: OCILayoutStore, repo: Repository, marker: bytes
) -> None:
    store.put_manifest(repo, _image(store, repo, "x"), tag="x")
    (store.layout_dir(repo) / "oci-layout").write_bytes(marker)
    with pytest.raises(LayoutError):
        store.list_tags(repo)
    with pytest.raises(LayoutError):
        store.put_manifest(repo, _image(store, repo, "y"), tag="y")


def test_damaged_index_json_is_a_layout_error(store: OCILayoutStore, repo: Repository) -> None:
    store.put_manifest(repo, _image(store, repo, "x"), tag="x")
    (store.layout_dir(repo) / "index.json").write_bytes(b'{"schemaVersion": 2, "manifests": [1]}')
    with pytest.raises(LayoutError, match=r"index\.json"):
        store.resolve(_ref(repo, "x"))


def test_os_errors_become_layout_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    store = OCILayoutStore(blocker)
    repo = Repository.parse(REPOSITORY)
    with pytest.raises(LayoutError) as caught:
        store.put_blob(repo, b"data")
    assert isinstance(caught.value.__cause__, OSError)
    assert str(store.layout_dir(repo)) in str(caught.value)
    with pytest.raises(LayoutError):
        store.list_tags(repo)


# -- concurrency ----------------------------------------------------------------------------


def _tag_from_process(root: str, worker: int, count: int) -> None:
    store = OCILayoutStore(root)
    repo = Repository.parse(REPOSITORY)
    for n in range(count):
        store.put_manifest(repo, _image(store, repo, f"p{worker}-{n}"), tag=f"p{worker}-{n}")


def test_concurrent_threads_and_processes_keep_every_tag(
    store: OCILayoutStore, repo: Repository
) -> None:
    processes_count, per_process, threads_count = 4, 3, 8
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def tag_from_thread(worker: int) -> None:
        try:
            manifest = _image(store, repo, f"t{worker}")
            start.wait()
            store.put_manifest(repo, manifest, tag=f"t{worker}")
        except BaseException as exc:
            errors.append(exc)

    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_tag_from_process, args=(str(store.root), worker, per_process))
        for worker in range(processes_count)
    ]
    for process in processes:
        process.start()
    threads = [threading.Thread(target=tag_from_thread, args=(w,)) for w in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0

    assert errors == []
    expected = {f"t{w}" for w in range(threads_count)} | {
        f"p{w}-{n}" for w in range(processes_count) for n in range(per_process)
    }
    assert set(store.list_tags(repo)) == expected
    _assert_valid_layout(store.layout_dir(repo))


def test_concurrent_referrers_are_all_recorded(store: OCILayoutStore, repo: Repository) -> None:
    subject = _image(store, repo, "subject")
    store.put_manifest(repo, subject, tag="1.0")
    referrers = [_referrer(store, repo, subject, f"r{n}") for n in range(8)]
    start = threading.Barrier(len(referrers))
    errors: list[BaseException] = []

    def attach(manifest: Manifest) -> None:
        try:
            start.wait()
            store.put_manifest(repo, manifest)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attach, args=(m,)) for m in referrers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    found = {d.digest for d in store.referrers(repo, subject.digest)}
    assert found == {m.digest for m in referrers}
    _assert_valid_layout(store.layout_dir(repo))
