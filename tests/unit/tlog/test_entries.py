"""Log entries: the SET payload, the three wire forms, caps, bodies and PEM canonicalisation."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from imagesig.errors import MissingLogEntryError, SizeLimitExceededError, TransparencyLogError
from imagesig.tlog.entries import (
    MAX_BODY_BYTES,
    MAX_SAFE_INTEGER,
    MAX_TLOG_ENTRIES,
    InclusionProof,
    LogEntry,
    canonical_pem,
    decode_pem_blocks,
    dsse_body,
    dsse_proposed_entry,
    hashedrekord_body,
    hashedrekord_proposed_entry,
    parse_body,
    parse_bundle_tlog_entries,
)
from imagesig.tlog.merkle import leaf_hash

LOG_ID = hashlib.sha256(b"log").digest()
BODY = b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}'
PROOF = InclusionProof(
    log_index=3,
    root_hash=hashlib.sha256(b"root").digest(),
    tree_size=10,
    hashes=(hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()),
    checkpoint="origin\n10\nroot\n\n\u2014 name sig\n",
)
ENTRY = LogEntry(
    body=BODY,
    integrated_time=1700000000,
    log_id=LOG_ID,
    log_index=12,
    signed_entry_timestamp=b"set-bytes",
    inclusion_proof=PROOF,
)


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_set_payload_is_canonical_json_with_integers_and_hex_log_id() -> None:
    expected = (
        f'{{"body":"{base64.b64encode(BODY).decode()}","integratedTime":1700000000,"logID":"{LOG_ID.hex()}","logIndex":12}}'
    ).encode()
    assert ENTRY.set_payload() == expected


def test_leaf_hash_is_the_rfc6962_hash_of_the_body() -> None:
    assert ENTRY.leaf_hash() == leaf_hash(BODY)


def test_cosign_annotation_round_trips_in_go_field_order() -> None:
    text = ENTRY.to_cosign_bundle_annotation()
    assert text.startswith('{"SignedEntryTimestamp":"')
    assert '"Payload":{"body":' in text
    assert text.index('"integratedTime"') < text.index('"logIndex"') < text.index('"logID"')
    again = LogEntry.from_cosign_bundle_annotation(text)
    assert again == LogEntry(
        body=BODY,
        integrated_time=ENTRY.integrated_time,
        log_id=LOG_ID,
        log_index=12,
        signed_entry_timestamp=b"set-bytes",
    )
    assert LogEntry.from_cosign_bundle_annotation(text.encode()) == again


def test_cosign_annotation_needs_a_set() -> None:
    with pytest.raises(MissingLogEntryError):
        LogEntry(
            body=BODY, integrated_time=1, log_id=LOG_ID, log_index=1
        ).to_cosign_bundle_annotation()


def test_bundle_entry_round_trips_as_protojson() -> None:
    item = ENTRY.to_bundle_tlog_entry()
    assert list(item) == [
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    ]
    assert item["logIndex"] == "12"
    assert item["integratedTime"] == "1700000000"
    assert item["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert list(item["inclusionProof"]) == [
        "logIndex",
        "rootHash",
        "treeSize",
        "hashes",
        "checkpoint",
    ]
    again = LogEntry.from_bundle_tlog_entry(item)
    assert again == attrs.evolve(ENTRY, kind="hashedrekord", version="0.0.1")


def test_protojson_zero_values_are_omitted_and_read_back_as_zero() -> None:
    entry = LogEntry(
        body=BODY,
        integrated_time=0,
        log_id=LOG_ID,
        log_index=0,
        inclusion_proof=InclusionProof(0, PROOF.root_hash, 1, (), None),
        kind="hashedrekord",
        version="0.0.1",
    )
    item = entry.to_bundle_tlog_entry()
    assert "logIndex" not in item
    assert "integratedTime" not in item
    assert item["inclusionProof"] == {
        "rootHash": base64.b64encode(PROOF.root_hash).decode(),
        "treeSize": "1",
    }
    assert LogEntry.from_bundle_tlog_entry(item) == entry


def test_protojson_reader_accepts_numbers_and_url_safe_unpadded_base64() -> None:
    item = ENTRY.to_bundle_tlog_entry()
    item["logIndex"] = 12
    item["canonicalizedBody"] = base64.urlsafe_b64encode(BODY).decode().rstrip("=")
    item["logId"]["keyId"] = base64.urlsafe_b64encode(LOG_ID).decode()
    entry = LogEntry.from_bundle_tlog_entry(item)
    assert entry.body == BODY
    assert entry.log_index == 12
    assert entry.log_id == LOG_ID


def test_rekor_response_round_trips_with_hex_proof_hashes() -> None:
    document = ENTRY.to_rekor_response()
    ((uuid, value),) = document.items()
    assert uuid == leaf_hash(BODY).hex()
    assert value["verification"]["inclusionProof"]["hashes"] == [h.hex() for h in PROOF.hashes]
    assert value["verification"]["inclusionProof"]["rootHash"] == PROOF.root_hash.hex()
    again = LogEntry.from_rekor_response(document)
    assert again == attrs.evolve(ENTRY, uuid=uuid)


def test_rekor_entry_ids_with_a_tree_id_prefix_are_kept() -> None:
    entry_id = "1" * 16 + leaf_hash(BODY).hex()
    value = ENTRY.to_rekor_response()[leaf_hash(BODY).hex()]
    assert LogEntry.from_rekor_response({entry_id: value}).uuid == entry_id


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"a" * 64: {}, "b" * 64: {}},
        {"A" * 64: {}},
        {"a" * 63: {}},
        [],
    ],
)
def test_rekor_responses_need_exactly_one_lowercase_hex_uuid(document: Any) -> None:
    with pytest.raises(TransparencyLogError) as info:
        LogEntry.from_rekor_response(document)
    assert info.value.context["check"] == "entry-format"


def annotation(**payload: Any) -> str:
    base = {
        "body": base64.b64encode(BODY).decode(),
        "integratedTime": 1,
        "logIndex": 1,
        "logID": LOG_ID.hex(),
    }
    base.update(payload)
    return json.dumps({"SignedEntryTimestamp": "c2V0", "Payload": base})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"integratedTime": -1}, "Payload.integratedTime"),
        ({"integratedTime": True}, "Payload.integratedTime"),
        ({"integratedTime": "5"}, "Payload.integratedTime"),  # Go JSON: numbers only
        ({"logIndex": MAX_SAFE_INTEGER + 1}, "Payload.logIndex"),
        ({"logIndex": 1.5}, "Payload.logIndex"),
        ({"logID": "zz" * 32}, "Payload.logID"),
        ({"logID": "ab" * 31}, "Payload.logID"),
        ({"body": "not base64!"}, "Payload.body"),
        ({"body": 5}, "Payload.body"),
    ],
)
def test_malformed_annotation_fields_are_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(TransparencyLogError) as info:
        LogEntry.from_cosign_bundle_annotation(annotation(**changes))
    assert info.value.context["field"] == field


def test_duplicate_json_keys_and_deep_nesting_are_refused() -> None:
    with pytest.raises(TransparencyLogError, match="repeats a JSON key"):
        LogEntry.from_cosign_bundle_annotation('{"Payload":{},"Payload":{}}')
    with pytest.raises(TransparencyLogError, match="not valid JSON"):
        parse_body(b"[" * 100_000)
    with pytest.raises(TransparencyLogError, match="repeats"):
        parse_body(b'{"kind":"a","kind":"b"}')


def test_oversized_bodies_trip_the_cap_before_decoding() -> None:
    huge = base64.b64encode(b"x" * (MAX_BODY_BYTES + 10)).decode()
    with pytest.raises(SizeLimitExceededError):
        LogEntry.from_cosign_bundle_annotation(annotation(body=huge))
    with pytest.raises(SizeLimitExceededError):
        parse_body(b" " * (MAX_BODY_BYTES + 1))


def test_proofs_with_more_than_64_hashes_trip_the_cap() -> None:
    item = ENTRY.to_bundle_tlog_entry()
    item["inclusionProof"]["hashes"] = [base64.b64encode(bytes(32)).decode()] * 65
    with pytest.raises(SizeLimitExceededError):
        LogEntry.from_bundle_tlog_entry(item)


def test_proof_hashes_must_be_32_bytes() -> None:
    item = ENTRY.to_bundle_tlog_entry()
    item["inclusionProof"]["hashes"] = [base64.b64encode(bytes(31)).decode()]
    entry = LogEntry.from_bundle_tlog_entry(item)  # length is the verifier's business
    assert entry.inclusion_proof is not None
    assert len(entry.inclusion_proof.hashes[0]) == 31
    response = ENTRY.to_rekor_response()
    next(iter(response.values()))["verification"]["inclusionProof"]["hashes"] = ["00" * 31]
    with pytest.raises(TransparencyLogError, match="64 hex digits"):
        LogEntry.from_rekor_response(response)


def test_bundle_entry_lists_are_capped_before_parsing_and_deduplicated() -> None:
    with pytest.raises(SizeLimitExceededError):
        parse_bundle_tlog_entries([{"garbage": True}] * (MAX_TLOG_ENTRIES + 1))
    item = ENTRY.to_bundle_tlog_entry()
    assert len(parse_bundle_tlog_entries([item])) == 1
    with pytest.raises(TransparencyLogError) as info:
        parse_bundle_tlog_entries([item, item])
    assert info.value.context["check"] == "duplicate-entry"
    with pytest.raises(TransparencyLogError):
        parse_bundle_tlog_entries({"not": "a list"})


def test_bundle_entries_need_kind_version_and_a_32_byte_log_id() -> None:
    item = ENTRY.to_bundle_tlog_entry()
    del item["kindVersion"]
    with pytest.raises(TransparencyLogError, match="kindVersion"):
        LogEntry.from_bundle_tlog_entry(item)
    item = ENTRY.to_bundle_tlog_entry()
    item["logId"]["keyId"] = base64.b64encode(b"short").decode()
    with pytest.raises(TransparencyLogError, match="32 bytes"):
        LogEntry.from_bundle_tlog_entry(item)


def test_parse_body_reads_kind_version_and_spec() -> None:
    body = parse_body(BODY)
    assert (body.kind, body.api_version, dict(body.spec)) == ("hashedrekord", "0.0.1", {})
    for bad in (b"[]", b'{"kind":"x","apiVersion":"1"}', b'{"kind":1,"apiVersion":"1","spec":{}}'):
        with pytest.raises(TransparencyLogError):
            parse_body(bad)


def test_canonical_pem_rewraps_keys_as_rekor_stores_them(key_pem: bytes) -> None:
    der_b64 = b"".join(key_pem.splitlines()[1:-1])
    rewrapped = (
        b"-----BEGIN PUBLIC KEY-----\r\n" + der_b64[:40] + b"\r\n" + der_b64[40:] + b"\r\n"
        b"-----END PUBLIC KEY-----"
    )
    assert canonical_pem(rewrapped) == key_pem
    assert canonical_pem(b"\n\n" + key_pem + b"\n") == key_pem


def test_canonical_pem_refuses_other_content(key_pem: bytes) -> None:
    for bad in (
        b"",
        b"not pem",
        key_pem + key_pem,
        key_pem.replace(b"PUBLIC KEY", b"PRIVATE KEY"),
        key_pem + b"trailing",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ):
        with pytest.raises(ValueError):
            canonical_pem(bad)
    with pytest.raises(ValueError, match="base64"):
        decode_pem_blocks(b"-----BEGIN X-----\nA\n-----END X-----\n")


def test_hashedrekord_body_is_rfc8785_with_canonical_pem(key_pem: bytes) -> None:
    digest = hashlib.sha256(b"payload").hexdigest()
    body = hashedrekord_body(signature=b"sig", public_key_pem=key_pem, digest_hex=digest)
    assert body == (
        b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":'
        b'"sha256","value":"' + digest.encode() + b'"}},"signature":{"content":"c2ln",'
        b'"publicKey":{"content":"' + base64.b64encode(key_pem) + b'"}}}}'
    )
    proposed = hashedrekord_proposed_entry(
        signature=b"sig", public_key_pem=b"as given", digest_hex=digest
    )
    assert (
        proposed["spec"]["signature"]["publicKey"]["content"]
        == base64.b64encode(b"as given").decode()
    )


@pytest.mark.parametrize(
    ("digest", "algorithm"),
    [("ab" * 31, "sha256"), ("zz" * 32, "sha256"), ("ab" * 32, "md5"), ("ab" * 32, "sha512")],
)
def test_hashedrekord_digests_must_fit_their_algorithm(digest: str, algorithm: str) -> None:
    with pytest.raises(ValueError, match="hex digest"):
        hashedrekord_proposed_entry(
            signature=b"s", public_key_pem=b"k", digest_hex=digest, algorithm=algorithm
        )


def test_dsse_body_sorts_and_deduplicates_signatures(key_pem: bytes) -> None:
    envelope = b'{"payloadType":"t","payload":"cA==","signatures":[]}'
    body = dsse_body(
        envelope=envelope,
        payload=b"p",
        signatures=[(b"\xff\xff", key_pem), (b"\x00\x00", key_pem), ("AAA=", key_pem)],
    )
    spec = json.loads(body)["spec"]
    assert [s["signature"] for s in spec["signatures"]] == ["//8=", "AAA="]
    assert spec["envelopeHash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(envelope).hexdigest(),
    }
    assert spec["payloadHash"]["value"] == hashlib.sha256(b"p").hexdigest()
    assert spec["signatures"][0]["verifier"] == base64.b64encode(key_pem).decode()


def test_dsse_body_keeps_an_envelope_signature_text_verbatim(key_pem: bytes) -> None:
    body = dsse_body(envelope=b"{}", payload=b"", signatures=[("_-8", key_pem)])
    assert json.loads(body)["spec"]["signatures"][0]["signature"] == "_-8"


def test_dsse_proposed_entry_carries_the_envelope_text_and_verifiers(key_pem: bytes) -> None:
    proposed = dsse_proposed_entry(envelope=b'{"a":1}', verifiers=[key_pem])
    assert proposed == {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": '{"a":1}',
                "verifiers": [base64.b64encode(key_pem).decode()],
            }
        },
    }
