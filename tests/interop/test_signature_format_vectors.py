"""Signature formats against payloads, envelopes and bundles real cosign and sigstore wrote.

Each vector in ``vectors/cosign`` that carries a simple-signing payload, a DSSE envelope or a
bundle is parsed, its expected contents (``vectors/cosign/README.md``) are checked, its
signature is verified with ``cryptography`` over the bytes imagesig says are signed, and where
imagesig can write the format the bytes are rebuilt from the parsed fields and compared.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.conftest import shared_dir

from imagesig.reference import Digest, Repository
from imagesig.signatures import intoto, simplesigning
from imagesig.signatures.bundle import (
    BUNDLE_V03_MEDIA_TYPE,
    Bundle,
    cosign_key_hint,
)
from imagesig.signatures.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, pae
from imagesig.signatures.intoto import COSIGN_CUSTOM_PREDICATE_TYPE, STATEMENT_TYPE_V01, Statement
from imagesig.tlog import LogEntry

VECTORS = shared_dir() / "vectors" / "cosign"
CONTAINERS_IMAGE_MAGIC = b"\x00sigstore-json\n"
# go-containerregistry's empty image manifest, the subject of the attestation vector.
EMPTY_IMAGE_MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":115,'
    b'"digest":"sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"},'
    b'"layers":[]}'
)

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"vectors not found at {VECTORS}")


def read(path: str) -> bytes:
    return (VECTORS / path).read_bytes()


def public_key(pem: bytes) -> Any:
    if b"CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    return serialization.load_pem_public_key(pem)


def verifies(key: Any, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def containers_image_signature() -> tuple[bytes, dict[str, str]]:
    """Unwrap containers/image's on-disk signature: (layer payload bytes, layer annotations)."""
    raw = read("legacy-key-rekor/signature-1.containers-image")
    assert raw.startswith(CONTAINERS_IMAGE_MAGIC)
    wrapper = json.loads(raw[len(CONTAINERS_IMAGE_MAGIC) :])
    assert wrapper["mimeType"] == simplesigning.SIMPLE_SIGNING_MEDIA_TYPE
    return base64.b64decode(wrapper["payload"]), wrapper["annotations"]


# --- legacy tag-based signatures ------------------------------------------------------------


def test_keyless_payload_parses_and_rebuilds_byte_for_byte() -> None:
    raw = read("legacy-keyless/payload.json")
    payload = simplesigning.parse(raw)
    assert payload.docker_reference == "192.168.64.2:5000/test-repo-2100826901021538654/alpine"
    assert str(payload.docker_manifest_digest) == (
        "sha256:fa93b01658e3a5a1686dc3ae55f170d8de487006fb53a28efcd12ab0710a2e5f"
    )
    assert payload.optional is None
    assert payload.raw == raw
    assert payload.to_json() == raw
    rebuilt = simplesigning.build(
        Repository.parse(payload.docker_reference), payload.docker_manifest_digest
    )
    assert rebuilt == raw
    assert len(raw) == 270


def test_keyless_signature_verifies_over_the_payload_bytes() -> None:
    raw = read("legacy-keyless/payload.json")
    signature = base64.b64decode(read("legacy-keyless/signature.b64"))
    key = public_key(read("legacy-keyless/certificate.pem"))
    assert verifies(key, signature, raw)
    assert not verifies(key, signature, raw.replace(b"alpine", b"alpinf"))
    assert not verifies(public_key(read("legacy-key-rekor/cosign2.pub")), signature, raw)


def test_key_signature_payload_names_the_manifest_and_rebuilds() -> None:
    raw, annotations = containers_image_signature()
    payload = simplesigning.parse(raw)
    manifest_digest = Digest.from_bytes(read("legacy-key-rekor/image-manifest.json"))
    assert str(manifest_digest) == (
        "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
    )
    assert payload.matches(manifest_digest)
    assert payload.type == simplesigning.COSIGN_SIGNATURE_TYPE
    assert payload.to_json() == raw
    rebuilt = simplesigning.build(
        Repository.parse(payload.docker_reference),
        manifest_digest,
        dict(payload.optional) if payload.optional else None,
    )
    assert rebuilt == raw
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    assert verifies(public_key(read("legacy-key-rekor/cosign2.pub")), signature, raw)
    assert not verifies(public_key(read("legacy-keyless/certificate.pem")), signature, raw)


def test_key_signature_payload_does_not_match_another_image() -> None:
    raw, _annotations = containers_image_signature()
    assert not simplesigning.parse(raw).matches(Digest.from_bytes(EMPTY_IMAGE_MANIFEST))


# --- bundle with a message signature ---------------------------------------------------------


def test_message_signature_bundle_matches_its_artifact_and_key() -> None:
    raw = read("bundle-msgsig-key/bundle.sigstore.json")
    bundle = Bundle.parse(raw)
    assert bundle.media_type == BUNDLE_V03_MEDIA_TYPE
    assert bundle.raw == raw
    pem = read("bundle-msgsig-key/key.pub")
    key = public_key(pem)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert bundle.verification_material.public_key_hint == cosign_key_hint(spki)
    assert bundle.verification_material.public_key_hint == (
        "TLMsSDfG3ajPsWge+z/vX5T/zluXnmvbkTkwLIV68Tk="
    )
    signature = bundle.message_signature
    assert signature is not None
    artifact = read("bundle-msgsig-key/a.txt")
    assert signature.digest_algorithm == "SHA2_256"
    assert signature.digest == hashlib.new(signature.hashlib_name, artifact).digest()
    assert verifies(key, signature.signature, artifact)
    assert not verifies(key, signature.signature, artifact + b"x")
    assert len(bundle.rfc3161_timestamps) == 1
    (entry,) = bundle.tlog_entries
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert (entry["logIndex"], entry["integratedTime"]) == ("771488337", "1766077479")


def test_message_signature_bundle_rewrites_as_protobuf_json_without_spaces() -> None:
    raw = read("bundle-msgsig-key/bundle.sigstore.json")
    expected = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    assert b'", "' in raw  # this producer's writer put a space after each comma
    assert Bundle.parse(raw).to_json() == expected


# --- bundle with a DSSE attestation ----------------------------------------------------------


def dsse_vector() -> tuple[bytes, Bundle, Envelope]:
    raw = read("bundle-dsse-oci-attestation/oci-attestation.sigstore.json")
    bundle = Bundle.parse(raw)
    assert bundle.dsse_envelope is not None
    return raw, bundle, bundle.dsse_envelope


def test_dsse_bundle_statement_is_what_the_vector_readme_states() -> None:
    _raw, bundle, envelope = dsse_vector()
    assert bundle.content_annotation == "dsse-envelope"
    assert envelope.payload_type == IN_TOTO_PAYLOAD_TYPE
    assert len(envelope.signatures) == 1
    statement = Statement.parse(envelope.payload)
    assert statement.type == STATEMENT_TYPE_V01
    assert statement.predicate_type == COSIGN_CUSTOM_PREDICATE_TYPE
    assert intoto.resolve_predicate_type("custom") == statement.predicate_type
    (subject,) = statement.subjects
    assert subject.name == "127.0.0.1:60943/repo"
    assert dict(subject.digest) == {
        "sha256": "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    }
    assert statement.subject_matches(Digest.from_bytes(EMPTY_IMAGE_MANIFEST))
    assert not statement.subject_matches(Digest.from_bytes(EMPTY_IMAGE_MANIFEST + b" "))
    assert statement.raw == envelope.payload


def test_dsse_bundle_signature_verifies_over_pae_with_the_certificate_key() -> None:
    _raw, bundle, envelope = dsse_vector()
    certificate = bundle.verification_material.leaf_certificate
    assert certificate is not None
    key = x509.load_der_x509_certificate(certificate).public_key()
    sig = envelope.signatures[0].sig
    assert envelope.pae_bytes() == pae(IN_TOTO_PAYLOAD_TYPE, envelope.payload)
    assert envelope.pae_bytes().startswith(b"DSSEv1 28 application/vnd.in-toto+json ")
    assert verifies(key, sig, envelope.pae_bytes())
    assert not verifies(key, sig, envelope.payload)
    assert not verifies(key, sig, pae("application/json", envelope.payload))


def test_dsse_envelope_to_json_is_what_rekor_hashed() -> None:
    _raw, bundle, envelope = dsse_vector()
    (entry,) = bundle.tlog_entries
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    assert body["kind"] == "dsse"
    spec = body["spec"]
    assert hashlib.sha256(envelope.to_json()).hexdigest() == spec["envelopeHash"]["value"]
    assert spec["envelopeHash"]["value"].startswith("c6adaaf1")
    assert hashlib.sha256(envelope.payload).hexdigest() == spec["payloadHash"]["value"]
    assert (
        hashlib.sha256(envelope.to_json(style="protobuf")).hexdigest()
        != (spec["envelopeHash"]["value"])
    )
    reparsed = Envelope.parse(envelope.to_json())
    assert reparsed == envelope
    assert reparsed.raw == envelope.to_json()


def test_dsse_bundle_rewrites_byte_for_byte() -> None:
    raw, bundle, _envelope = dsse_vector()
    assert bundle.to_json() == raw.rstrip(b"\n")


@pytest.mark.parametrize(
    "path",
    [
        "bundle-msgsig-key/bundle.sigstore.json",
        "bundle-dsse-oci-attestation/oci-attestation.sigstore.json",
    ],
)
def test_bundle_log_entries_convert_for_the_tlog_package(path: str) -> None:
    bundle = Bundle.parse(read(path))
    (entry,) = bundle.log_entries()
    assert isinstance(entry, LogEntry)
    (stored,) = bundle.tlog_entries
    assert entry.to_bundle_tlog_entry()["canonicalizedBody"] == stored["canonicalizedBody"]
