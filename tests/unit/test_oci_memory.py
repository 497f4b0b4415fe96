"""InMemoryStore: the Store protocol in memory, and the whole sign/verify story on it."""

from __future__ import annotations

import io

import pytest

from imagesig import Client
from imagesig.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ManifestNotFoundError,
    SizeLimitExceededError,
)
from imagesig.oci.memory import InMemoryStore
from imagesig.oci.model import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_EMPTY_JSON,
    OCI_LAYER,
    Descriptor,
    Manifest,
)
from imagesig.oci.store import Store
from imagesig.reference import Digest, ImageReference, Repository
from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
from imagesig.signers.local import LocalSigner
from imagesig.testing import RekorServer

REPO = Repository.parse("registry.example.com/team/app")
CONFIG = b'{"os":"linux"}'
LAYER = b"layer bytes"


def _image(store: InMemoryStore, tag: str = "1.0") -> Descriptor:
    store.put_blob(REPO, CONFIG)
    store.put_blob(REPO, LAYER)
    manifest = Manifest.build(
        Descriptor.for_content(CONFIG, OCI_CONFIG), [Descriptor.for_content(LAYER, OCI_LAYER)]
    )
    return store.put_manifest(REPO, manifest, tag=tag)


def test_it_is_a_store() -> None:
    assert isinstance(InMemoryStore(), Store)


def test_round_trip_by_tag_and_digest() -> None:
    store = InMemoryStore()
    descriptor = _image(store)
    by_tag = store.resolve(ImageReference(REPO, "1.0", None))
    assert by_tag.digest == descriptor.digest
    manifest = store.get_manifest(ImageReference(REPO, None, descriptor.digest))
    assert manifest.digest == descriptor.digest
    assert store.get_blob(REPO, Digest.from_bytes(LAYER)) == LAYER
    sink = io.BytesIO()
    assert store.copy_blob_to(REPO, Digest.from_bytes(LAYER), sink) == len(LAYER)
    assert sink.getvalue() == LAYER
    assert store.list_tags(REPO) == ["1.0"]


def test_errors_are_the_typed_ones() -> None:
    store = InMemoryStore()
    _image(store)
    with pytest.raises(ManifestNotFoundError):
        store.resolve(ImageReference(REPO, "nope", None))
    with pytest.raises(BlobNotFoundError):
        store.get_blob(REPO, Digest.from_bytes(b"absent"))
    with pytest.raises(SizeLimitExceededError):
        store.get_blob(REPO, Digest.from_bytes(LAYER), max_bytes=3)
    with pytest.raises(DigestMismatchError):
        store.put_blob(REPO, b"data", digest=Digest.from_bytes(b"other"))


def test_referrers_come_from_subjects_and_delete_removes_tags() -> None:
    store = InMemoryStore()
    subject = _image(store)
    store.put_blob(REPO, OCI_EMPTY_JSON)
    referrer = Manifest.build(
        Descriptor.for_content(OCI_EMPTY_JSON, OCI_EMPTY),
        [Descriptor.for_content(LAYER, OCI_LAYER)],
        subject=subject,
        artifact_type="application/vnd.example",
    )
    stored = store.put_manifest(REPO, referrer)
    assert [d.digest for d in store.referrers(REPO, subject.digest)] == [stored.digest]
    assert store.referrers(REPO, subject.digest, artifact_type="other/type") == []
    store.delete_manifest(REPO, subject.digest)
    assert store.list_tags(REPO) == []
    with pytest.raises(ManifestNotFoundError):
        store.delete_manifest(REPO, subject.digest)


def test_mount_copies_only_existing_blobs() -> None:
    store = InMemoryStore()
    _image(store)
    other = Repository.parse("registry.example.com/team/other")
    assert store.mount_blob(other, Digest.from_bytes(LAYER), REPO)
    assert store.blob_exists(other, Digest.from_bytes(LAYER))
    assert not store.mount_blob(other, Digest.from_bytes(b"absent"), REPO)


@pytest.mark.parametrize("signature_format", list(SignatureFormat))
def test_sign_and_verify_on_an_in_memory_store(signature_format: SignatureFormat) -> None:
    store = InMemoryStore()
    _image(store)
    signer = LocalSigner.generate()
    with RekorServer() as rekor:
        tlog = TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())
        with Client(store=store) as client:
            client.sign_image(f"{REPO}:1.0", signer, format=signature_format, tlog=tlog)
            result = client.verify_image(f"{REPO}:1.0", [signer.public_key()], tlog=tlog)
            stranger = client.verify_image(
                f"{REPO}:1.0", [LocalSigner.generate().public_key()], tlog=tlog
            )
    assert result.verified
    assert not stranger.verified
