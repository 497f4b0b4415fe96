"""The OCI model: exact bytes, strict parsing, caps."""

from __future__ import annotations

import json

import pytest

from imagesig.errors import InvalidDigestError, InvalidManifestError, SizeLimitExceededError
from imagesig.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
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
    parse_manifest,
)
from imagesig.reference import Digest

CONFIG = Descriptor.for_content(b'{"os":"linux"}', OCI_CONFIG)
LAYER = Descriptor.for_content(b"layer", OCI_LAYER)

# The exact bytes of go-containerregistry's empty image (see the cosign vectors' README).
GGCR_EMPTY_IMAGE = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":115,'
    b'"digest":"sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"},'
    b'"layers":[]}'
)


def test_digest_is_of_the_received_bytes_not_a_reserialisation() -> None:
    manifest = parse_manifest(GGCR_EMPTY_IMAGE)
    assert isinstance(manifest, Manifest)
    assert manifest.media_type == DOCKER_MANIFEST
    assert manifest.config.media_type == DOCKER_CONFIG
    assert str(manifest.digest) == (
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    )
    spaced = json.dumps(json.loads(GGCR_EMPTY_IMAGE), indent=2).encode()
    reparsed = parse_manifest(spaced)
    assert reparsed.raw == spaced
    assert reparsed.digest != manifest.digest
    assert reparsed.digest == Digest.from_bytes(spaced)


def test_build_serialises_once_and_parse_round_trips() -> None:
    subject = Descriptor.for_content(b"subject", OCI_MANIFEST)
    manifest = Manifest.build(
        CONFIG,
        [LAYER],
        subject=subject,
        artifact_type="application/vnd.example",
        annotations={"a": "b"},
    )
    again = Manifest.parse(manifest.raw)
    assert again == manifest
    assert again.raw == manifest.raw
    assert again.subject == subject
    assert again.annotations == {"a": "b"}
    descriptor = manifest.descriptor()
    assert descriptor.digest == Digest.from_bytes(manifest.raw)
    assert descriptor.size == len(manifest.raw)
    assert descriptor.artifact_type == "application/vnd.example"


def test_referrer_descriptor_falls_back_to_config_media_type_for_artifact_type() -> None:
    subject = Descriptor.for_content(b"subject", OCI_MANIFEST)
    empty = Descriptor.for_content(OCI_EMPTY_JSON, OCI_EMPTY)
    manifest = Manifest.build(empty, [LAYER], subject=subject)
    assert manifest.descriptor().artifact_type == OCI_EMPTY
    plain = Manifest.build(CONFIG, [LAYER])
    assert plain.descriptor().artifact_type is None


def test_index_with_platforms_round_trips() -> None:
    entry = Descriptor(
        media_type=OCI_MANIFEST,
        digest=Digest.from_bytes(b"m"),
        size=1,
        platform=Platform(os="linux", architecture="arm64", variant="v8"),
    )
    index = Index.build([entry], media_type=DOCKER_MANIFEST_LIST)
    parsed = parse_manifest(index.raw)
    assert isinstance(parsed, Index)
    assert parsed.media_type == DOCKER_MANIFEST_LIST
    assert parsed.manifests[0].platform == Platform(os="linux", architecture="arm64", variant="v8")


def test_media_type_comes_from_body_then_header_then_shape() -> None:
    body = {"schemaVersion": 2, "config": CONFIG.to_dict(), "layers": []}
    raw = json.dumps(body).encode()
    assert parse_manifest(raw, DOCKER_MANIFEST).media_type == DOCKER_MANIFEST
    assert parse_manifest(raw).media_type == OCI_MANIFEST
    assert parse_manifest(
        json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    ).media_type == (OCI_INDEX)


def test_body_contradicting_the_served_kind_is_refused() -> None:
    raw = Manifest.build(CONFIG, [LAYER]).raw
    with pytest.raises(InvalidManifestError, match="served as"):
        parse_manifest(raw, OCI_INDEX)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"schemaVersion":1}', "schemaVersion"),
        (b'{"schemaVersion":2,"schemaVersion":2,"manifests":[]}', "duplicate key"),
        (b'{"schemaVersion":2,"mediaType":"text/plain"}', "unsupported manifest media type"),
        (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}', "config"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_manifests_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidManifestError, match=message):
        parse_manifest(raw)


@pytest.mark.parametrize(
    "descriptor",
    [
        {"mediaType": OCI_LAYER, "digest": "sha256:../../etc/passwd", "size": 1},
        {"mediaType": OCI_LAYER, "digest": "sha256:" + "A" * 64, "size": 1},
        {"mediaType": OCI_LAYER, "digest": "md5:" + "a" * 32, "size": 1},
        {"mediaType": OCI_LAYER, "digest": "sha256:" + "a" * 1_000_000, "size": 1},
    ],
)
def test_malformed_descriptor_digests_are_refused_at_parse_time(
    descriptor: dict[str, object],
) -> None:
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG.to_dict()}
    body["layers"] = [descriptor]
    with pytest.raises(InvalidDigestError):
        parse_manifest(json.dumps(body).encode())


@pytest.mark.parametrize("size", [-1, 1.5, "1", True, None, 2**63])
def test_descriptor_size_must_be_a_non_negative_integer(size: object) -> None:
    data = {"mediaType": OCI_LAYER, "digest": str(LAYER.digest), "size": size}
    with pytest.raises(InvalidManifestError):
        Descriptor.from_dict(data)


def test_descriptor_count_is_capped_before_parsing_each_one() -> None:
    layers = [LAYER.to_dict()] * 1001
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": CONFIG.to_dict(),
        "layers": layers,
    }
    raw = json.dumps(body).encode()
    with pytest.raises(SizeLimitExceededError, match="1001"):
        parse_manifest(raw)
    assert len(parse_manifest(raw, max_descriptors=2000).layers) == 1001  # type: ignore[union-attr]


def test_descriptor_round_trip_keeps_urls_annotations_data_and_artifact_type() -> None:
    descriptor = Descriptor(
        media_type=DOCKER_LAYER,
        digest=Digest.from_bytes(b"x"),
        size=1,
        annotations={"k": "v"},
        artifact_type="application/x",
        urls=("https://example.com/blob",),
        data=b"x",
    )
    assert Descriptor.from_dict(descriptor.to_dict()) == descriptor


def test_embedded_data_must_be_base64() -> None:
    data = {"mediaType": OCI_LAYER, "digest": str(LAYER.digest), "size": 1, "data": "!!!"}
    with pytest.raises(InvalidManifestError, match="base64"):
        Descriptor.from_dict(data)


@pytest.mark.parametrize("annotations", [{"a": 1}, ["a"], {"a": None}])
def test_annotations_must_map_strings_to_strings(annotations: object) -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": CONFIG.to_dict(),
        "layers": [],
        "annotations": annotations,
    }
    with pytest.raises(InvalidManifestError, match="annotations"):
        parse_manifest(json.dumps(body).encode())


def test_build_refuses_the_wrong_kind_of_media_type() -> None:
    with pytest.raises(InvalidManifestError):
        Manifest.build(CONFIG, [], media_type=OCI_INDEX)
    with pytest.raises(InvalidManifestError):
        Index.build([], media_type=OCI_MANIFEST)
    with pytest.raises(InvalidManifestError):
        Manifest.parse(Index.build([]).raw)
    with pytest.raises(InvalidManifestError):
        Index.parse(Manifest.build(CONFIG, []).raw)
