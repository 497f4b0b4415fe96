"""Transparency-log verification against entries the real Rekor wrote (shared cosign vectors).

Every expected outcome in ``vectors/cosign/README.md`` that concerns the log is checked here,
with its negative variants; bodies are rebuilt from their parts and compared byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.conftest import shared_dir

from imagesig.errors import (
    CheckpointError,
    InclusionProofError,
    LogEntryMismatchError,
    SignedEntryTimestampError,
    UnknownLogError,
)
from imagesig.tlog import (
    ExpectedEntry,
    LogEntry,
    TrustedRoot,
    dsse_body,
    hashedrekord_body,
    parse_signed_note,
    verify_checkpoint,
    verify_log_entry,
)
from imagesig.tlog.trust import load_log_public_key, log_id_for_key

VECTORS = shared_dir() / "vectors" / "cosign"
PRODUCTION_LOG_ID = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"vectors not found at {VECTORS}")


def ecdsa_verifies(public_key_pem: bytes, signature: bytes, data: bytes) -> bool:
    if b"CERTIFICATE" in public_key_pem:
        key: Any = x509.load_pem_x509_certificate(public_key_pem).public_key()
    else:
        key = serialization.load_pem_public_key(public_key_pem)
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@attrs.frozen
class Case:
    """One signature from the vectors and what its log entry must record."""

    name: str
    entry: LogEntry
    signed: bytes  # the signed bytes (payload, artifact or DSSE PAE)
    signature: bytes
    key_pem: bytes  # PEM key or certificate
    expected: ExpectedEntry
    entry_json: Any  # the stored form, as read

    def reject(self, **changes: Any) -> ExpectedEntry:
        return attrs.evolve(self.expected, **changes)


def legacy_keyless() -> Case:
    folder = VECTORS / "legacy-keyless"
    text = (folder / "bundle-annotation.json").read_text()
    payload = (folder / "payload.json").read_bytes()
    signature = base64.b64decode((folder / "signature.b64").read_text())
    cert = (folder / "certificate.pem").read_bytes()
    expected = ExpectedEntry.hashedrekord(
        signature=signature, public_key_pem=cert, digest_hex=hashlib.sha256(payload).hexdigest()
    )
    entry = LogEntry.from_cosign_bundle_annotation(text)
    return Case("legacy-keyless", entry, payload, signature, cert, expected, text)


def legacy_key_rekor() -> Case:
    folder = VECTORS / "legacy-key-rekor"
    raw = (folder / "signature-1.containers-image").read_bytes()
    assert raw.startswith(b"\x00sigstore-json\n")
    wrapper = json.loads(raw[len(b"\x00sigstore-json\n") :])
    annotations = wrapper["annotations"]
    payload = base64.b64decode(wrapper["payload"])
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    key = (folder / "cosign2.pub").read_bytes()
    text = annotations["dev.sigstore.cosign/bundle"]
    expected = ExpectedEntry.hashedrekord(
        signature=signature, public_key_pem=key, digest_hex=hashlib.sha256(payload).hexdigest()
    )
    entry = LogEntry.from_cosign_bundle_annotation(text)
    return Case("legacy-key-rekor", entry, payload, signature, key, expected, text)


def bundle_msgsig_key() -> Case:
    folder = VECTORS / "bundle-msgsig-key"
    bundle = json.loads((folder / "bundle.sigstore.json").read_text())
    (item,) = bundle["verificationMaterial"]["tlogEntries"]
    artifact = (folder / "a.txt").read_bytes()
    signature = base64.b64decode(bundle["messageSignature"]["signature"])
    key = (folder / "key.pub").read_bytes()
    expected = ExpectedEntry.hashedrekord(
        signature=signature, public_key_pem=key, digest_hex=hashlib.sha256(artifact).hexdigest()
    )
    entry = LogEntry.from_bundle_tlog_entry(item)
    return Case("bundle-msgsig-key", entry, artifact, signature, key, expected, item)


def dsse_bundle() -> dict[str, Any]:
    path = VECTORS / "bundle-dsse-oci-attestation/oci-attestation.sigstore.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def submitted_envelope(envelope: dict[str, Any]) -> bytes:
    """The envelope as cosign sent it to Rekor: go-securesystemslib field order, compact."""
    document = {
        "payloadType": envelope["payloadType"],
        "payload": envelope["payload"],
        "signatures": [{"keyid": "", "sig": s["sig"]} for s in envelope["signatures"]],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def bundle_dsse() -> Case:
    bundle = dsse_bundle()
    (item,) = bundle["verificationMaterial"]["tlogEntries"]
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    cert = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    payload_type = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)
    expected = ExpectedEntry.dsse(
        signature=signature,
        public_key_pem=cert,
        payload=payload,
        envelope=submitted_envelope(envelope),
    )
    entry = LogEntry.from_bundle_tlog_entry(item)
    return Case("bundle-dsse-oci-attestation", entry, pae, signature, cert, expected, item)


CASES = {
    "legacy-keyless": legacy_keyless,
    "legacy-key-rekor": legacy_key_rekor,
    "bundle-msgsig-key": bundle_msgsig_key,
    "bundle-dsse-oci-attestation": bundle_dsse,
}


@pytest.fixture(scope="module")
def root() -> TrustedRoot:
    return TrustedRoot.from_file(VECTORS / "trust/trusted_root_pgi.json")


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


# -- every vector passes, whichever way the log key is given ------------------------------


def test_every_vector_signature_verifies_with_its_key(case: Case) -> None:
    assert ecdsa_verifies(case.key_pem, case.signature, case.signed)


def test_every_vector_entry_verifies_against_the_trusted_root(
    root: TrustedRoot, case: Case
) -> None:
    result = verify_log_entry(case.entry, root, case.expected)
    assert result.set_verified
    assert result.log_id.hex() == PRODUCTION_LOG_ID
    assert result.log_base_url == "https://rekor.sigstore.dev"
    assert result.inclusion_verified == (case.entry.inclusion_proof is not None)


def test_every_vector_entry_verifies_with_the_bare_rekor_key(case: Case) -> None:
    pem = (VECTORS / "trust/rekor-production.pub").read_bytes()
    root = TrustedRoot.from_rekor_public_key(pem)
    assert verify_log_entry(case.entry, root, case.expected).set_verified


def test_bundle_vectors_carry_verifiable_inclusion_proofs(root: TrustedRoot) -> None:
    for make in (bundle_msgsig_key, bundle_dsse):
        case = make()
        result = verify_log_entry(case.entry, root, case.expected, require_inclusion_proof=True)
        assert result.inclusion_verified
        assert result.checkpoint is not None
        assert result.checkpoint.origin == "rekor.sigstore.dev - 1193050959916656506"


def test_vector_entries_round_trip_through_their_storage_format(case: Case) -> None:
    if isinstance(case.entry_json, str):
        assert case.entry.to_cosign_bundle_annotation() == case.entry_json
    else:
        assert case.entry.to_bundle_tlog_entry() == case.entry_json


def test_vector_set_payloads_use_integers_and_hex_log_ids(case: Case) -> None:
    payload = json.loads(case.entry.set_payload())
    assert list(payload) == ["body", "integratedTime", "logID", "logIndex"]
    assert isinstance(payload["integratedTime"], int)
    assert isinstance(payload["logIndex"], int)
    assert payload["logID"] == PRODUCTION_LOG_ID


def test_sharded_bundle_entries_prove_inclusion_at_a_shard_local_index() -> None:
    case = bundle_msgsig_key()
    assert case.entry.inclusion_proof is not None
    assert case.entry.log_index == 771488337
    assert case.entry.inclusion_proof.log_index == 649584075


# -- bodies are rebuilt byte for byte -------------------------------------------------------


@pytest.mark.parametrize("make", [legacy_keyless, legacy_key_rekor, bundle_msgsig_key])
def test_hashedrekord_bodies_are_rebuilt_byte_for_byte(make: Any) -> None:
    case = make()
    body = hashedrekord_body(
        signature=case.signature,
        public_key_pem=case.key_pem,
        digest_hex=hashlib.sha256(case.signed).hexdigest(),
    )
    assert body == case.entry.body


def test_dsse_body_is_rebuilt_byte_for_byte() -> None:
    case = bundle_dsse()
    bundle = dsse_bundle()
    envelope = submitted_envelope(bundle["dsseEnvelope"])
    assert hashlib.sha256(envelope).hexdigest().startswith("c6adaaf1")
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    body = dsse_body(
        envelope=envelope, payload=payload, signatures=[(case.signature, case.key_pem)]
    )
    assert body == case.entry.body


def test_legacy_keyless_body_records_the_certificate_exactly() -> None:
    case = legacy_keyless()
    spec = case.entry.parse_body().spec
    assert spec["data"]["hash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(case.signed).hexdigest(),
    }
    assert spec["signature"]["content"] == (VECTORS / "legacy-keyless/signature.b64").read_text()
    assert base64.b64decode(spec["signature"]["publicKey"]["content"]) == case.key_pem


def test_legacy_keyless_integrated_time_is_inside_the_certificate_validity() -> None:
    case = legacy_keyless()
    cert = x509.load_pem_x509_certificate(case.key_pem)
    when = datetime.fromtimestamp(case.entry.integrated_time, timezone.utc)
    assert when == datetime(2022, 12, 12, 18, 48, 19, tzinfo=timezone.utc)
    assert cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def test_bundle_checkpoint_verifies_with_the_rekor_key_and_hint() -> None:
    case = bundle_msgsig_key()
    assert case.entry.inclusion_proof is not None
    text = case.entry.inclusion_proof.checkpoint
    assert text is not None
    key = load_log_public_key((VECTORS / "trust/rekor-production.pub").read_bytes())
    checkpoint = verify_checkpoint(text, key, log_id=log_id_for_key(key))
    assert checkpoint.tree_size == case.entry.inclusion_proof.tree_size
    assert checkpoint.root_hash == case.entry.inclusion_proof.root_hash
    assert parse_signed_note(text)[1][0].key_hint == bytes.fromhex(PRODUCTION_LOG_ID)[:4]


def test_message_digest_and_cosign_key_hint_of_the_key_bundle() -> None:
    folder = VECTORS / "bundle-msgsig-key"
    bundle = json.loads((folder / "bundle.sigstore.json").read_text())
    der = load_log_public_key((folder / "key.pub").read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hint = bundle["verificationMaterial"]["publicKey"]["hint"]
    assert base64.b64decode(hint) == hashlib.sha256(der).digest()
    digest = base64.b64decode(bundle["messageSignature"]["messageDigest"]["digest"])
    assert digest == hashlib.sha256((folder / "a.txt").read_bytes()).digest()


# -- the README's negative variants ---------------------------------------------------------


def test_legacy_keyless_with_a_flipped_payload_byte_fails(root: TrustedRoot) -> None:
    case = legacy_keyless()
    payload = bytearray(case.signed)
    payload[10] ^= 1
    assert not ecdsa_verifies(case.key_pem, case.signature, bytes(payload))
    expected = case.reject(digest_hex=hashlib.sha256(bytes(payload)).hexdigest())
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(case.entry, root, expected)
    assert info.value.context["check"] == "body-digest"


def test_legacy_keyless_with_a_changed_integrated_time_fails_the_set(root: TrustedRoot) -> None:
    case = legacy_keyless()
    changed = attrs.evolve(case.entry, integrated_time=case.entry.integrated_time + 1)
    with pytest.raises(SignedEntryTimestampError):
        verify_log_entry(changed, root, case.expected)


def test_legacy_keyless_verified_with_cosign2_key_fails(root: TrustedRoot) -> None:
    case = legacy_keyless()
    other = (VECTORS / "legacy-key-rekor/cosign2.pub").read_bytes()
    assert not ecdsa_verifies(other, case.signature, case.signed)
    expected = ExpectedEntry.hashedrekord(
        signature=case.signature,
        public_key_pem=other,
        digest_hex=hashlib.sha256(case.signed).hexdigest(),
    )
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(case.entry, root, expected)
    assert info.value.context["check"] == "body-public-key"


def test_legacy_key_rekor_verified_with_the_keyless_certificate_fails(root: TrustedRoot) -> None:
    case = legacy_key_rekor()
    cert = (VECTORS / "legacy-keyless/certificate.pem").read_bytes()
    assert not ecdsa_verifies(cert, case.signature, case.signed)
    expected = ExpectedEntry.hashedrekord(
        signature=case.signature,
        public_key_pem=cert,
        digest_hex=hashlib.sha256(case.signed).hexdigest(),
    )
    with pytest.raises(LogEntryMismatchError):
        verify_log_entry(case.entry, root, expected)


def test_legacy_key_rekor_payload_names_the_manifest_digest() -> None:
    case = legacy_key_rekor()
    manifest = (VECTORS / "legacy-key-rekor/image-manifest.json").read_bytes()
    critical = json.loads(case.signed)["critical"]
    assert critical["type"] == "cosign container image signature"
    assert critical["image"]["docker-manifest-digest"] == (
        "sha256:" + hashlib.sha256(manifest).hexdigest()
    )


def test_key_bundle_with_a_corrupted_key_fails(root: TrustedRoot) -> None:
    case = bundle_msgsig_key()
    wrong = (VECTORS / "legacy-key-rekor/cosign2.pub").read_bytes()
    assert not ecdsa_verifies(wrong, case.signature, case.signed)
    with pytest.raises(LogEntryMismatchError):
        verify_log_entry(case.entry, root, case.reject(public_key_pem=wrong))


def test_dsse_bundle_with_the_re_serialised_envelope_fails_the_envelope_hash(
    root: TrustedRoot,
) -> None:
    case = bundle_dsse()
    reserialised = json.dumps(dsse_bundle()["dsseEnvelope"]).encode()
    expected = case.reject(envelope_sha256=hashlib.sha256(reserialised).hexdigest())
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(case.entry, root, expected)
    assert info.value.context["check"] == "body-envelope-hash"


def test_dsse_bundle_for_another_statement_fails_the_payload_hash(root: TrustedRoot) -> None:
    case = bundle_dsse()
    expected = case.reject(payload_sha256=hashlib.sha256(b"{}").hexdigest(), envelope_sha256=None)
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(case.entry, root, expected)
    assert info.value.context["check"] == "body-payload-hash"


# -- splicing genuine entries onto other signatures (cosign GHSA-ccxc / -8gw7 / -whqx) -------


@pytest.mark.parametrize(
    ("donor", "recipient"),
    [
        ("legacy-keyless", "legacy-key-rekor"),
        ("legacy-key-rekor", "legacy-keyless"),
        ("bundle-msgsig-key", "legacy-key-rekor"),
        ("bundle-dsse-oci-attestation", "bundle-msgsig-key"),
    ],
)
def test_a_genuine_entry_for_another_artifact_is_refused(
    root: TrustedRoot, donor: str, recipient: str
) -> None:
    genuine = CASES[donor]()
    target = CASES[recipient]()
    assert verify_log_entry(genuine.entry, root, genuine.expected).set_verified
    with pytest.raises(LogEntryMismatchError):
        verify_log_entry(genuine.entry, root, target.expected)


# -- tampering the real entries ---------------------------------------------------------------


def test_tampered_real_proofs_fail_with_specific_errors(root: TrustedRoot) -> None:
    case = bundle_msgsig_key()
    proof = case.entry.inclusion_proof
    assert proof is not None
    hashes = list(proof.hashes)
    hashes[3] = bytes(32)
    cases: list[tuple[Any, type[Exception]]] = [
        (attrs.evolve(proof, hashes=tuple(hashes)), InclusionProofError),
        (attrs.evolve(proof, tree_size=proof.tree_size - 1), CheckpointError),
        (attrs.evolve(proof, root_hash=bytes(32)), CheckpointError),
        (
            attrs.evolve(
                proof, checkpoint=(proof.checkpoint or "").replace("649584076", "649584077")
            ),
            CheckpointError,
        ),
    ]
    for changed, error in cases:
        entry = attrs.evolve(case.entry, signed_entry_timestamp=None, inclusion_proof=changed)
        with pytest.raises(error):
            verify_log_entry(entry, root, case.expected)


def test_rekor_key_retired_before_the_entry_rejects_it(tmp_path: Path) -> None:
    document = json.loads((VECTORS / "trust/trusted_root_pgi.json").read_text())
    document["tlogs"][0]["publicKey"]["validFor"]["end"] = "2022-12-31T23:59:59Z"
    path = tmp_path / "retired.json"
    path.write_text(json.dumps(document))
    root = TrustedRoot.from_file(path)
    assert verify_log_entry(legacy_keyless().entry, root, legacy_keyless().expected)  # Dec 2022
    case = legacy_key_rekor()  # Jan 2023
    with pytest.raises(UnknownLogError) as info:
        verify_log_entry(case.entry, root, case.expected)
    assert info.value.context["check"] == "log-key-validity"
