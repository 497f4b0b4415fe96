"""The simple-signing payload: exact bytes on build, strict reading on parse."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagesig.errors import InvalidReferenceError, PayloadError, SizeLimitExceededError
from imagesig.reference import Digest, ImageReference, Repository
from imagesig.signatures import simplesigning
from imagesig.signatures.simplesigning import COSIGN_SIGNATURE_TYPE, SimpleSigningPayload

DIGEST = Digest.from_bytes(b"manifest")
OTHER = Digest.from_bytes(b"other manifest")


def payload_text(
    reference: str = "example.com/test/image",
    digest: str = str(DIGEST),
    kind: str = COSIGN_SIGNATURE_TYPE,
    optional: str = "null",
) -> bytes:
    critical = (
        f'{{"identity":{{"docker-reference":"{reference}"}},'
        f'"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"}}'
    )
    return f'{{"critical":{critical},"optional":{optional}}}'.encode()


def test_build_writes_cosign_bytes_with_null_optional() -> None:
    raw = simplesigning.build(Repository.parse("example.com/test/image"), DIGEST)
    assert raw == payload_text()
    assert not raw.endswith(b"\n")


def test_build_writes_annotations_sorted_and_html_escaped() -> None:
    raw = simplesigning.build(
        Repository.parse("example.com/test/image"),
        DIGEST,
        {"timestamp": 1458239713, "creator": "atomic", "note": "<a & b>"},
    )
    assert raw == payload_text(
        optional='{"creator":"atomic","note":"\\u003ca \\u0026 b\\u003e","timestamp":1458239713}'
    )


def test_build_writes_null_for_empty_annotations_as_cosign_does() -> None:
    assert (
        simplesigning.build(Repository.parse("example.com/test/image"), DIGEST, {})
        == payload_text()
    )


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("ubuntu", "index.docker.io/library/ubuntu"),
        ("docker.io/user/app:1.0", "index.docker.io/user/app"),
        ("ghcr.io/org/app@" + str(DIGEST), "ghcr.io/org/app"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b"),
    ],
)
def test_build_names_the_repository_as_cosign_does(reference: str, expected: str) -> None:
    payload = SimpleSigningPayload.for_image(ImageReference.parse(reference), DIGEST)
    assert payload.docker_reference == expected
    assert json.loads(payload.raw or b"")["critical"]["identity"]["docker-reference"] == expected


def test_build_writes_a_string_reference_verbatim() -> None:
    raw = simplesigning.build("registry.example/claimed:v1", str(DIGEST))
    assert simplesigning.parse(raw).docker_reference == "registry.example/claimed:v1"


@given(
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    st.sampled_from(["example.com/a", "ubuntu", "localhost:5000/x/y"]),
)
def test_build_then_parse_round_trips(annotations: dict[str, str], name: str) -> None:
    raw = simplesigning.build(Repository.parse(name), DIGEST, annotations)
    payload = simplesigning.parse(raw)
    assert payload.matches(DIGEST)
    assert payload.to_json() == raw
    assert payload.raw == raw
    assert dict(payload.optional or {}) == annotations
    assert payload.annotations_match(annotations)


def test_parse_reads_the_fields() -> None:
    payload = simplesigning.parse(payload_text(optional='{"creator":"atomic","n":1}'))
    assert payload.docker_reference == "example.com/test/image"
    assert payload.docker_manifest_digest == DIGEST
    assert payload.type == COSIGN_SIGNATURE_TYPE
    assert payload.matches(DIGEST)
    assert payload.matches(str(DIGEST))
    assert not payload.matches(OTHER)
    assert payload.annotations_match({"creator": "atomic"})
    assert payload.annotations_match({"n": 1.0})
    assert not payload.annotations_match({"n": "1"})
    assert not payload.annotations_match({"missing": "x"})
    assert payload.reference() == ImageReference.parse("example.com/test/image")


def test_parse_matches_keys_as_cosign_does() -> None:
    raw = (
        b'{"Critical":{"Identity":{"Docker-Reference":"r.example/x"},'
        b'"IMAGE":{"Docker-manifest-digest":"' + str(DIGEST).encode() + b'"},'
        b'"type":"cosign container image signature","extra":1},"optional":null,"more":{}}'
    )
    assert simplesigning.parse(raw).matches(DIGEST)


@pytest.mark.parametrize(
    "raw",
    [
        # two spellings of one field: Go keeps the last, an attacker hopes we keep the first
        b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"%s"},'
        b'"Image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"}}',
        b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"%s",'
        b'"docker-manifest-digest":"%s"},"type":"cosign container image signature"}}',
        b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"%s"},'
        b'"type":"cosign container image signature"},'
        b'"critical":{"image":{"docker-manifest-digest":"%s"}}}',
    ],
)
def test_parse_refuses_duplicate_and_ambiguous_keys(raw: bytes) -> None:
    with pytest.raises(PayloadError, match=r"duplicate|two keys"):
        simplesigning.parse(raw % (str(DIGEST).encode(), str(OTHER).encode()))


@pytest.mark.parametrize(
    "kind",
    [
        "atomic container signature",
        "Cosign Container Image Signature",
        "cosign container image signature ",
        "",
    ],
)
def test_parse_refuses_another_critical_type(kind: str) -> None:
    with pytest.raises(PayloadError, match=r"critical\.type") as info:
        simplesigning.parse(payload_text(kind=kind))
    assert info.value.context["field"] == "critical.type"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"[]", "payload"),
        (b'{"optional":null}', "critical"),
        (b'{"critical":[]}', "critical"),
        (b'{"critical":{"type":"cosign container image signature"}}', "critical.identity"),
        (
            b'{"critical":{"type":"cosign container image signature",'
            b'"identity":{"docker-reference":7},"image":{}}}',
            "critical.identity.docker-reference",
        ),
        (
            b'{"critical":{"type":"cosign container image signature",'
            b'"identity":{"docker-reference":"r"},"image":{}}}',
            "critical.image.docker-manifest-digest",
        ),
        (payload_text(digest="sha256:ABCDEF"), "critical.image.docker-manifest-digest"),
        (payload_text(digest="sha256:" + "0" * 63), "critical.image.docker-manifest-digest"),
        (payload_text(digest="md5:" + "0" * 32), "critical.image.docker-manifest-digest"),
        (payload_text(digest="sha256:" + "a" * 100_000), "critical.image.docker-manifest-digest"),
        (payload_text(optional='"x"'), "optional"),
        (payload_text(optional="[]"), "optional"),
        (payload_text(reference="r" * 5000), "critical.identity.docker-reference"),
    ],
)
def test_parse_refuses_malformed_fields(raw: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        simplesigning.parse(raw)
    assert info.value.context.get("field", "payload") == field


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}}", b'{"critical":NaN}', b"\xff", payload_text() + b"x"],
)
def test_parse_refuses_malformed_json(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        simplesigning.parse(raw)


def test_parse_refuses_a_10_mb_payload_quickly() -> None:
    raw = payload_text(optional='{"pad":"%s"}' % ("A" * 10_000_000))
    start = time.perf_counter()
    with pytest.raises(SizeLimitExceededError):
        simplesigning.parse(raw)
    assert time.perf_counter() - start < 1.0


def test_parse_refuses_50_levels_of_nesting() -> None:
    nested = '{"a":' * 50 + "1" + "}" * 50
    with pytest.raises(SizeLimitExceededError, match="nests deeper"):
        simplesigning.parse(payload_text(optional=nested))


def test_parse_keeps_the_exact_bytes_and_to_json_rewrites_canonically() -> None:
    spaced = payload_text().replace(b'"optional":null', b'"optional": null')
    payload = simplesigning.parse(spaced)
    assert payload.raw == spaced
    assert payload.to_json() == payload_text()


def test_reference_refuses_an_invalid_docker_reference() -> None:
    payload = simplesigning.parse(payload_text(reference="UPPER/Case"))
    with pytest.raises(InvalidReferenceError):
        payload.reference()
