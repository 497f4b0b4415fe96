"""Sigstore bundles: protobuf-JSON strictness, version rules, caps and the canonical writer."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from typing import Any

import pytest

from imagesig.errors import BundleError, SizeLimitExceededError
from imagesig.signatures import bundle as bundle_module
from imagesig.signatures.bundle import (
    BUNDLE_MEDIA_TYPE_V01,
    BUNDLE_MEDIA_TYPE_V02,
    BUNDLE_MEDIA_TYPE_V03_LEGACY,
    BUNDLE_V03_MEDIA_TYPE,
    MAX_TIMESTAMPS,
    MAX_TLOG_ENTRIES,
    Bundle,
    MessageSignature,
    VerificationMaterial,
    cosign_key_hint,
)
from imagesig.signatures.dsse import Envelope, EnvelopeSignature


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


DIGEST = hashlib.sha256(b"artifact").digest()
ENTRY: dict[str, Any] = {
    "logIndex": "7",
    "logId": {"keyId": b64(b"\x01" * 32)},
    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
    "integratedTime": "1700000000",
    "inclusionPromise": {"signedEntryTimestamp": b64(b"set")},
    "inclusionProof": {
        "logIndex": "6",
        "rootHash": b64(b"\x02" * 32),
        "treeSize": "9",
        "hashes": [b64(b"\x03" * 32)],
        "checkpoint": {"envelope": "origin\n9\nroot\n"},
    },
    "canonicalizedBody": b64(b'{"kind":"hashedrekord"}'),
}


def message_bundle(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": "hint"},
            "tlogEntries": [copy.deepcopy(ENTRY)],
            "timestampVerificationData": {"rfc3161Timestamps": [{"signedTimestamp": b64(b"tsr")}]},
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(DIGEST)},
            "signature": b64(b"signature"),
        },
    }
    document.update(overrides)
    return document


def dsse_bundle(**overrides: Any) -> dict[str, Any]:
    document = message_bundle(**overrides)
    del document["messageSignature"]
    document.setdefault(
        "dsseEnvelope",
        {
            "payload": b64(b"{}"),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": b64(b"sig")}],
        },
    )
    document["verificationMaterial"] = {
        "certificate": {"rawBytes": b64(b"der")},
        **{k: v for k, v in document["verificationMaterial"].items() if k != "publicKey"},
    }
    return document


def parse(document: dict[str, Any]) -> Bundle:
    return Bundle.parse(json.dumps(document).encode())


def compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def test_message_signature_bundle_parses() -> None:
    parsed = parse(message_bundle())
    assert parsed.version == (0, 3, 0)
    assert parsed.content_annotation == "message-signature"
    assert parsed.message_signature == MessageSignature("SHA2_256", DIGEST, b"signature")
    assert parsed.message_signature.hashlib_name == "sha256"
    assert parsed.dsse_envelope is None
    material = parsed.verification_material
    assert material.public_key_hint == "hint"
    assert material.leaf_certificate is None
    assert parsed.tlog_entries == (ENTRY,)
    assert parsed.rfc3161_timestamps == (b"tsr",)


def test_dsse_bundle_parses() -> None:
    parsed = parse(dsse_bundle())
    assert parsed.content_annotation == "dsse-envelope"
    assert parsed.dsse_envelope == Envelope(
        b"{}", "application/vnd.in-toto+json", [EnvelopeSignature(b"sig")]
    )
    assert parsed.verification_material.leaf_certificate == b"der"


@pytest.mark.parametrize("build", [message_bundle, dsse_bundle])
def test_to_json_reproduces_canonical_protobuf_json(build: Any) -> None:
    document = build()
    assert parse(document).to_json() == compact(document)


def test_to_json_canonicalises_what_protobuf_json_also_accepts() -> None:
    document = message_bundle(
        media_type=BUNDLE_V03_MEDIA_TYPE,
        verificationMaterial={
            "public_key": {"hint": ""},
            "tlog_entries": [
                {
                    **{
                        k: v
                        for k, v in ENTRY.items()
                        if k not in ("logIndex", "integratedTime", "inclusionPromise")
                    },
                    "log_index": 7,
                    "integrated_time": 1700000000,
                    "logId": {
                        "key_id": base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
                    },
                    "inclusion_promise": None,
                }
            ],
            "timestampVerificationData": None,
        },
        messageSignature={
            "messageDigest": {"algorithm": 1, "digest": b64(DIGEST)},
            "signature": b64(b"signature"),
        },
    )
    del document["mediaType"]
    canonical = parse(document).to_json()
    assert json.loads(canonical) == {
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {},
            "tlogEntries": [
                {
                    "logIndex": "7",
                    "logId": {"keyId": b64(b"\xfb" * 32)},
                    "kindVersion": ENTRY["kindVersion"],
                    "integratedTime": "1700000000",
                    "inclusionProof": ENTRY["inclusionProof"],
                    "canonicalizedBody": ENTRY["canonicalizedBody"],
                }
            ],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(DIGEST)},
            "signature": b64(b"signature"),
        },
    }
    assert parse(json.loads(canonical)).to_json() == canonical


def test_to_json_omits_zero_integers_as_protobuf_does() -> None:
    document = message_bundle()
    document["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "0"
    assert '"logIndex":"0"' not in parse(document).to_json().decode().split("inclusionProof")[0]


@pytest.mark.parametrize(
    ("media_type", "version"),
    [
        (BUNDLE_V03_MEDIA_TYPE, (0, 3, 0)),
        (BUNDLE_MEDIA_TYPE_V03_LEGACY, (0, 3, 0)),
        (BUNDLE_MEDIA_TYPE_V02, (0, 2, 0)),
        ("application/vnd.dev.sigstore.bundle.v0.3.1+json", (0, 3, 1)),
        ("application/vnd.dev.sigstore.bundle.v0.2+json", (0, 2, 0)),
    ],
)
def test_supported_media_types(media_type: str, version: tuple[int, int, int]) -> None:
    assert parse(message_bundle(mediaType=media_type)).version == version


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.dev.sigstore.bundle.v0.4+json",
        "application/vnd.dev.sigstore.bundle.v1.0+json",
        "application/vnd.dev.sigstore.bundle.v0.0+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.4",
        "application/vnd.dev.sigstore.bundle.v0.03+json",
        "application/vnd.dev.sigstore.bundle.v0.3+JSON",
        "application/json",
        "",
    ],
)
def test_unsupported_media_types_are_refused(media_type: str) -> None:
    with pytest.raises(BundleError, match="unsupported bundle"):
        parse(message_bundle(mediaType=media_type))


def test_v01_entries_need_an_inclusion_promise() -> None:
    document = message_bundle(mediaType=BUNDLE_MEDIA_TYPE_V01)
    assert parse(document).version == (0, 1, 0)
    del document["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
    with pytest.raises(BundleError, match="inclusionPromise"):
        parse(document)


@pytest.mark.parametrize("media_type", [BUNDLE_MEDIA_TYPE_V02, BUNDLE_V03_MEDIA_TYPE])
def test_later_entries_need_an_inclusion_proof(media_type: str) -> None:
    document = message_bundle(mediaType=media_type)
    del document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    with pytest.raises(BundleError, match="inclusionProof"):
        parse(document)


def test_certificate_chains_are_refused_from_v03_on() -> None:
    material = {
        "x509CertificateChain": {
            "certificates": [{"rawBytes": b64(b"leaf")}, {"rawBytes": b64(b"ca")}]
        }
    }
    for media_type in (BUNDLE_MEDIA_TYPE_V01, BUNDLE_MEDIA_TYPE_V02):
        parsed = parse(message_bundle(mediaType=media_type, verificationMaterial=material))
        assert parsed.verification_material.certificate_chain == (b"leaf", b"ca")
        assert parsed.verification_material.leaf_certificate == b"leaf"
    with pytest.raises(BundleError, match="x509CertificateChain"):
        parse(message_bundle(verificationMaterial=material))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"verificationMaterial": None}, "verificationMaterial"),
        ({"verificationMaterial": {}}, "no public key"),
        (
            {"verificationMaterial": {"publicKey": {}, "certificate": {"rawBytes": "AA=="}}},
            "only one",
        ),
        ({"verificationMaterial": {"certificate": {}}}, "rawBytes"),
        (
            {"verificationMaterial": {"x509CertificateChain": {"certificates": []}}},
            "x509CertificateChain",
        ),
        ({"messageSignature": None}, "no content"),
        (
            {"dsseEnvelope": {"payload": "", "payloadType": "t", "signatures": [{"sig": "AQ=="}]}},
            "only one",
        ),
        ({"messageSignature": {"signature": "AQ=="}}, "messageDigest"),
        (
            {"messageSignature": {"messageDigest": {"digest": b64(DIGEST)}, "signature": "AQ=="}},
            "hash algorithm",
        ),
        (
            {"messageSignature": {"messageDigest": {"algorithm": "MD5", "digest": b64(DIGEST)}}},
            "hash algorithm",
        ),
        (
            {"messageSignature": {"messageDigest": {"algorithm": 9, "digest": b64(DIGEST)}}},
            "hash algorithm",
        ),
        (
            {
                "messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_384", "digest": b64(DIGEST)},
                    "signature": "AQ==",
                }
            },
            "not the 48",
        ),
        (
            {
                "messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_256", "digest": b64(DIGEST)}
                }
            },
            "no signature",
        ),
        ({"signature": "x"}, "unknown field"),
        ({"MediaType": BUNDLE_V03_MEDIA_TYPE}, "unknown field"),
        ({"media_type": BUNDLE_V03_MEDIA_TYPE}, "twice"),
        ({"mediaType": 3}, "must be a string"),
    ],
)
def test_malformed_bundles_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse(message_bundle(**change))


@pytest.mark.parametrize(
    ("entry_change", "message"),
    [
        ({"logIndex": "07"}, "64-bit integer"),
        ({"logIndex": "9223372036854775808"}, "64-bit"),
        ({"logIndex": 1.5}, "64-bit integer"),
        ({"logIndex": True}, "64-bit integer"),
        ({"canonicalizedBody": "not base64!"}, "base64"),
        ({"canonicalizedBody": None}, "canonicalizedBody"),
        ({"kindVersion": "hashedrekord"}, "must be an object"),
        ({"inclusionProof": {**ENTRY["inclusionProof"], "hashes": [None]}}, "null"),
        ({"bogus": 1}, "unknown field"),
    ],
)
def test_malformed_log_entries_are_refused(entry_change: dict[str, Any], message: str) -> None:
    document = message_bundle()
    document["verificationMaterial"]["tlogEntries"][0].update(entry_change)
    with pytest.raises(BundleError, match=message):
        parse(document)


@pytest.mark.parametrize(
    "envelope",
    [
        {"payload": {"a": 1}, "payloadType": "t", "signatures": [{"sig": "AQ=="}]},
        {"payload": 12, "payloadType": "t", "signatures": [{"sig": "AQ=="}]},
        {"payload": ["e30="], "payloadType": "t", "signatures": [{"sig": "AQ=="}]},
        {"payloadType": "t", "signatures": [{"sig": "AQ=="}]},
        {"payload": "e30=", "signatures": [{"sig": "AQ=="}]},
        {"payload": "e30=", "payloadType": 1, "signatures": [{"sig": "AQ=="}]},
        {"payload": "e30=", "payloadType": "t", "signatures": []},
        {"payload": "e30=", "payloadType": "t"},
        {"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AQ=="}, {"sig": "Ag=="}]},
        {"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k"}]},
        {"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AQ=="}], "x": 1},
    ],
)
def test_dsse_content_must_be_well_formed_with_one_signature(envelope: dict[str, Any]) -> None:
    with pytest.raises(BundleError):
        parse(dsse_bundle(dsseEnvelope=envelope))


def test_1000_tlog_entries_are_refused_before_any_is_read() -> None:
    document = message_bundle()
    document["verificationMaterial"]["tlogEntries"] = [{"garbage": True}] * 1000
    start = time.perf_counter()
    with pytest.raises(SizeLimitExceededError) as info:
        parse(document)
    assert time.perf_counter() - start < 3.0
    assert info.value.context["limit"] == MAX_TLOG_ENTRIES


def test_1000_timestamps_are_refused_before_any_is_read() -> None:
    document = message_bundle()
    document["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"garbage": 1}] * 1000
    }
    with pytest.raises(SizeLimitExceededError) as info:
        parse(document)
    assert info.value.context["limit"] == MAX_TIMESTAMPS


def test_the_caps_themselves_are_accepted() -> None:
    document = message_bundle()
    document["verificationMaterial"]["tlogEntries"] = [ENTRY] * MAX_TLOG_ENTRIES
    document["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] *= (
        MAX_TIMESTAMPS
    )
    parsed = parse(document)
    assert len(parsed.tlog_entries) == MAX_TLOG_ENTRIES
    assert len(parsed.rfc3161_timestamps) == MAX_TIMESTAMPS


def test_oversized_bundles_are_refused_before_parsing() -> None:
    raw = compact(
        dsse_bundle(
            dsseEnvelope={
                "payload": b64(b"x" * 8_000_000),
                "payloadType": "t",
                "signatures": [{"sig": "AQ=="}],
            }
        )
    )
    assert len(raw) > bundle_module.MAX_BUNDLE_BYTES
    start = time.perf_counter()
    with pytest.raises(SizeLimitExceededError):
        Bundle.parse(raw)
    assert time.perf_counter() - start < 0.5


def test_deeply_nested_bundles_are_refused() -> None:
    raw = b'{"mediaType":' + b"[" * 50 + b"]" * 50 + b"}"
    with pytest.raises(SizeLimitExceededError, match="nests deeper"):
        Bundle.parse(raw)


def test_duplicate_keys_are_refused() -> None:
    raw = compact(message_bundle())[:-1] + b',"mediaType":"application/json"}'
    with pytest.raises(BundleError, match="duplicate"):
        Bundle.parse(raw)


def test_constructors_enforce_the_one_ofs() -> None:
    material = VerificationMaterial(public_key_hint="")
    with pytest.raises(BundleError):
        VerificationMaterial()
    with pytest.raises(BundleError):
        VerificationMaterial(public_key_hint="h", certificate=b"c")
    envelope = Envelope(b"{}", "t", [EnvelopeSignature(b"s")])
    signature = MessageSignature("SHA2_256", DIGEST, b"s")
    with pytest.raises(BundleError):
        Bundle(BUNDLE_V03_MEDIA_TYPE, material)
    with pytest.raises(BundleError):
        Bundle(BUNDLE_V03_MEDIA_TYPE, material, signature, envelope)
    with pytest.raises(BundleError):
        Bundle("application/vnd.dev.sigstore.bundle.v0.4+json", material, signature)
    built = Bundle(BUNDLE_V03_MEDIA_TYPE, material, dsse_envelope=envelope)
    assert Bundle.parse(built.to_json()) == built


def test_cosign_key_hint_is_base64_of_the_spki_sha256() -> None:
    # a cosign-generated key and the hint cosign computed for it
    spki = base64.b64decode(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmsWpZNuu+SUX70n3lVK4JLsaoV7T+rhea2rQUu29EQiatoLB06Q"
        "dsmSd+GsQGlQzfcDtsKPzb+B2zLggrWZjg=="
    )
    assert cosign_key_hint(spki) == "DYzWeU3vXF47QvN79u4puyUs4ml3HPPAeF2S/Ke+WG8="
