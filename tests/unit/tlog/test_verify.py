"""Offline log-entry verification: every proof, every tampered field, every storage format."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone

import attrs
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

import imagesig.tlog
from imagesig.errors import (
    CheckpointError,
    InclusionProofError,
    LogEntryMismatchError,
    MissingLogEntryError,
    SignedEntryTimestampError,
    SizeLimitExceededError,
    TransparencyLogError,
    UnknownLogError,
)
from imagesig.tlog.checkpoint import Checkpoint, sign_checkpoint
from imagesig.tlog.entries import (
    InclusionProof,
    LogEntry,
    dsse_body,
    hashedrekord_body,
)
from imagesig.tlog.merkle import MerkleTree
from imagesig.tlog.trust import (
    LogPrivateKey,
    TransparencyLogInstance,
    TrustedRoot,
    log_id_for_key,
)
from imagesig.tlog.verify import ExpectedEntry, verify_log_entries, verify_log_entry

NOW = 1_700_000_000


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: LogPrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


class Log:
    """A tiny Rekor v1 stand-in: real tree, real SETs, real signed checkpoints."""

    def __init__(self, key: LogPrivateKey | None = None, *, url: str = "https://log.test") -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.log_id = log_id_for_key(self.key.public_key())
        self.url = url
        self.tree = MerkleTree()
        for i in range(5):  # other people's entries
            self.tree.append(b"filler %d" % i)

    def instance(self, **changes: object) -> TransparencyLogInstance:
        log = TransparencyLogInstance(
            base_url=self.url,
            hash_algorithm="SHA2_256",
            public_key=self.key.public_key(),
            log_id=self.log_id,
        )
        return attrs.evolve(log, **changes)

    def root(self, **changes: object) -> TrustedRoot:
        return TrustedRoot(tlogs=(self.instance(**changes),))

    def add(self, body: bytes, *, when: int = NOW, shard_offset: int = 1000) -> LogEntry:
        index = self.tree.append(body)
        for i in range(3):  # entries logged after ours
            self.tree.append(b"later %d" % i)
        size = self.tree.size
        checkpoint = sign_checkpoint(
            Checkpoint(f"log.test - {len(self.url)}", size, self.tree.root_at(size)),
            self.key,
            name="log.test",
        )
        entry = LogEntry(
            body=body,
            integrated_time=when,
            log_id=self.log_id,
            log_index=shard_offset + index,  # sharded: global index != index in the tree
            inclusion_proof=InclusionProof(
                log_index=index,
                root_hash=self.tree.root_at(size),
                tree_size=size,
                hashes=tuple(self.tree.inclusion_proof(index, size)),
                checkpoint=checkpoint,
            ),
        )
        return attrs.evolve(entry, signed_entry_timestamp=sign(self.key, entry.set_payload()))


@attrs.frozen
class Artifact:
    signer: ec.EllipticCurvePrivateKey
    payload: bytes
    signature: bytes

    @classmethod
    def make(cls, payload: bytes = b'{"critical":{}}') -> Artifact:
        signer = ec.generate_private_key(ec.SECP256R1())
        return cls(signer, payload, signer.sign(payload, ec.ECDSA(hashes.SHA256())))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def body(self) -> bytes:
        return hashedrekord_body(
            signature=self.signature, public_key_pem=pem(self.signer), digest_hex=self.digest
        )

    def expected(self) -> ExpectedEntry:
        return ExpectedEntry.hashedrekord(
            signature=self.signature, public_key_pem=pem(self.signer), digest_hex=self.digest
        )


@pytest.fixture(scope="module")
def log() -> Log:
    return Log()


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    return Artifact.make()


@pytest.fixture(scope="module")
def entry(log: Log, artifact: Artifact) -> LogEntry:
    return log.add(artifact.body())


def check_of(info: pytest.ExceptionInfo[TransparencyLogError]) -> str:
    return str(info.value.context["check"])


def test_entry_with_set_and_inclusion_proof_verifies(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    result = verify_log_entry(entry, log.root(), artifact.expected(), require_inclusion_proof=True)
    assert result.log_index == entry.log_index
    assert result.integrated_time == NOW
    assert result.log_id == log.log_id
    assert result.log_base_url == "https://log.test"
    assert result.kind == "hashedrekord"
    assert result.set_verified
    assert result.inclusion_verified
    assert entry.inclusion_proof is not None
    assert result.checkpoint is not None
    assert result.checkpoint.tree_size == entry.inclusion_proof.tree_size


def test_set_alone_is_enough_unless_a_proof_is_required(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    only_set = attrs.evolve(entry, inclusion_proof=None)
    result = verify_log_entry(only_set, log.root(), artifact.expected())
    assert result.set_verified
    assert not result.inclusion_verified
    assert result.checkpoint is None
    with pytest.raises(MissingLogEntryError) as info:
        verify_log_entry(only_set, log.root(), artifact.expected(), require_inclusion_proof=True)
    assert check_of(info) == "inclusion-proof"


def test_inclusion_proof_alone_verifies_but_does_not_sign_the_time(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    only_proof = attrs.evolve(entry, signed_entry_timestamp=None)
    result = verify_log_entry(only_proof, log.root(), artifact.expected())
    assert result.inclusion_verified
    assert not result.set_verified


def test_an_entry_without_any_proof_is_refused(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    bare = attrs.evolve(entry, signed_entry_timestamp=None, inclusion_proof=None)
    with pytest.raises(MissingLogEntryError) as info:
        verify_log_entry(bare, log.root(), artifact.expected())
    assert check_of(info) == "log-proof"


def test_the_same_entry_verifies_from_every_storage_format(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    forms = [
        LogEntry.from_cosign_bundle_annotation(entry.to_cosign_bundle_annotation()),
        LogEntry.from_bundle_tlog_entry(entry.to_bundle_tlog_entry()),
        LogEntry.from_rekor_response(entry.to_rekor_response()),
    ]
    for form in forms:
        assert verify_log_entry(form, log.root(), artifact.expected()).log_index == entry.log_index


# -- tampering: every field names its own failure ------------------------------------------


def flip(data: bytes, position: int = -1) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 1
    return bytes(changed)


def with_proof(entry: LogEntry, **changes: object) -> LogEntry:
    assert entry.inclusion_proof is not None
    return attrs.evolve(entry, inclusion_proof=attrs.evolve(entry.inclusion_proof, **changes))


TAMPERING: dict[str, tuple[Callable[[LogEntry], LogEntry], type[Exception], str]] = {
    "body (recorded digest)": (
        lambda e: attrs.evolve(e, body=re.sub(rb'"value":"[0-9a-f]', b'"value":"g', e.body)),
        LogEntryMismatchError,
        "body-digest",
    ),
    "body re-serialised": (
        lambda e: attrs.evolve(e, body=json.dumps(json.loads(e.body)).encode()),
        SignedEntryTimestampError,
        "set",
    ),
    "integratedTime": (
        lambda e: attrs.evolve(e, integrated_time=e.integrated_time + 1),
        SignedEntryTimestampError,
        "set",
    ),
    "logIndex": (
        lambda e: attrs.evolve(e, log_index=e.log_index + 1),
        SignedEntryTimestampError,
        "set",
    ),
    "SET": (
        lambda e: attrs.evolve(e, signed_entry_timestamp=flip(e.signed_entry_timestamp or b"")),
        SignedEntryTimestampError,
        "set",
    ),
    "a proof hash": (
        lambda e: with_proof(
            e,
            hashes=(flip(e.inclusion_proof.hashes[0]), *e.inclusion_proof.hashes[1:]),  # type: ignore[union-attr]
        ),
        InclusionProofError,
        "inclusion-proof",
    ),
    "the proof index": (
        lambda e: with_proof(e, log_index=e.inclusion_proof.log_index + 1),  # type: ignore[union-attr]
        InclusionProofError,
        "inclusion-proof",
    ),
    "tree size": (
        lambda e: with_proof(e, tree_size=e.inclusion_proof.tree_size + 1),  # type: ignore[union-attr]
        CheckpointError,
        "checkpoint-tree-size",
    ),
    "root hash": (
        lambda e: with_proof(e, root_hash=flip(e.inclusion_proof.root_hash)),  # type: ignore[union-attr]
        CheckpointError,
        "checkpoint-root-hash",
    ),
    "checkpoint text": (
        lambda e: with_proof(
            e,
            checkpoint=e.inclusion_proof.checkpoint.replace("log.test - ", "log.test -- ", 1),  # type: ignore[union-attr]
        ),
        CheckpointError,
        "checkpoint-signature",
    ),
    "checkpoint format": (
        lambda e: with_proof(e, checkpoint="not a note"),
        CheckpointError,
        "checkpoint-format",
    ),
    "checkpoint missing": (
        lambda e: with_proof(e, checkpoint=None),
        CheckpointError,
        "checkpoint-missing",
    ),
    "log id": (
        lambda e: attrs.evolve(e, log_id=hashlib.sha256(b"another log").digest()),
        UnknownLogError,
        "log-id",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_raises_the_specific_error(
    log: Log, artifact: Artifact, entry: LogEntry, case: str
) -> None:
    tamper, error, check = TAMPERING[case]
    changed = tamper(entry)
    assert changed != entry
    with pytest.raises(error) as info:
        verify_log_entry(changed, log.root(), artifact.expected())
    assert info.value.context["check"] == check  # type: ignore[attr-defined]


def test_a_body_changed_to_another_digest_is_an_entry_mismatch(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    other = Artifact(artifact.signer, b"other payload", artifact.signature)
    changed = attrs.evolve(entry, body=other.body())
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(changed, log.root(), artifact.expected())
    assert check_of(info) == "body-digest"


def test_a_tampered_body_without_a_set_fails_the_inclusion_proof(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    changed = attrs.evolve(
        entry, body=json.dumps(json.loads(entry.body)).encode(), signed_entry_timestamp=None
    )
    with pytest.raises(InclusionProofError):
        verify_log_entry(changed, log.root(), artifact.expected())


def test_another_key_under_the_same_log_id_fails(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    impostor = log.root(public_key=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(SignedEntryTimestampError):
        verify_log_entry(entry, impostor, artifact.expected())
    with pytest.raises(CheckpointError) as info:
        verify_log_entry(
            attrs.evolve(entry, signed_entry_timestamp=None), impostor, artifact.expected()
        )
    assert check_of(info) == "checkpoint-signature"


def test_a_log_key_outside_its_validity_window_vouches_for_nothing(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    retired = log.root(valid_until=datetime.fromtimestamp(NOW - 1, timezone.utc))
    not_yet = log.root(valid_from=datetime.fromtimestamp(NOW + 1, timezone.utc))
    for root in (retired, not_yet):
        with pytest.raises(UnknownLogError) as info:
            verify_log_entry(entry, root, artifact.expected())
        assert check_of(info) == "log-key-validity"
    window = log.root(
        valid_from=datetime.fromtimestamp(NOW, timezone.utc),
        valid_until=datetime.fromtimestamp(NOW, timezone.utc),
    )
    assert verify_log_entry(entry, window, artifact.expected()).set_verified


# -- the entry must record this artifact, this signature, this key --------------------------


def test_an_entry_for_another_artifact_is_refused_despite_valid_proofs(
    log: Log, artifact: Artifact
) -> None:
    other = Artifact.make(b"another image's payload")
    genuine = log.add(other.body())
    assert verify_log_entry(genuine, log.root(), other.expected()).set_verified
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(genuine, log.root(), artifact.expected())
    assert check_of(info) == "body-digest"


def test_an_entry_with_another_signature_is_refused(log: Log, artifact: Artifact) -> None:
    resigned = artifact.signer.sign(artifact.payload, ec.ECDSA(hashes.SHA256()))
    entry = log.add(Artifact(artifact.signer, artifact.payload, resigned).body())
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(entry, log.root(), artifact.expected())
    assert check_of(info) == "body-signature"


def test_an_entry_with_another_key_is_refused(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    other_key = pem(ec.generate_private_key(ec.SECP256R1()))
    expected = ExpectedEntry.hashedrekord(
        signature=artifact.signature, public_key_pem=other_key, digest_hex=artifact.digest
    )
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(entry, log.root(), expected)
    assert check_of(info) == "body-public-key"


def test_a_re_encoded_pem_of_the_same_key_matches(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    lines = pem(artifact.signer).decode().splitlines()
    der = "".join(lines[1:-1])
    rewrapped = "\r\n".join([lines[0], der[:30], der[30:], lines[-1]]).encode()
    expected = ExpectedEntry.hashedrekord(
        signature=artifact.signature, public_key_pem=rewrapped, digest_hex=artifact.digest.upper()
    )
    assert verify_log_entry(entry, log.root(), expected).kind == "hashedrekord"


def test_another_digest_algorithm_is_a_mismatch(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    expected = ExpectedEntry.hashedrekord(
        signature=artifact.signature,
        public_key_pem=pem(artifact.signer),
        digest_hex=hashlib.sha512(artifact.payload).hexdigest(),
        algorithm="sha512",
    )
    with pytest.raises(LogEntryMismatchError, match="sha256"):
        verify_log_entry(entry, log.root(), expected)


def test_an_unusable_expected_key_is_reported() -> None:
    with pytest.raises(TransparencyLogError) as info:
        ExpectedEntry.hashedrekord(signature=b"s", public_key_pem=b"nope", digest_hex="00" * 32)
    assert check_of(info) == "expected-public-key"


def test_kind_and_version_must_agree_with_the_body(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(attrs.evolve(entry, kind="dsse"), log.root(), artifact.expected())
    assert check_of(info) == "kind-version"
    dsse_expected = ExpectedEntry.dsse(
        signature=artifact.signature, public_key_pem=pem(artifact.signer), payload=b"p"
    )
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(entry, log.root(), dsse_expected)
    assert check_of(info) == "body-kind"


def test_a_uuid_that_is_not_the_leaf_hash_is_refused(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    assert verify_log_entry(
        attrs.evolve(entry, uuid="ab" * 8 + entry.leaf_hash().hex()),
        log.root(),
        artifact.expected(),
    )
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(attrs.evolve(entry, uuid="00" * 32), log.root(), artifact.expected())
    assert check_of(info) == "uuid"


@pytest.mark.parametrize(
    "body",
    [
        b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}',
        b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":1}}}}',
        b'{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{}}',
    ],
)
def test_malformed_or_unsupported_bodies_fail_closed(
    log: Log, artifact: Artifact, body: bytes
) -> None:
    entry = log.add(body)
    with pytest.raises(TransparencyLogError):
        verify_log_entry(entry, log.root(), artifact.expected())


# -- DSSE ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsse_case(log: Log) -> tuple[Artifact, bytes, LogEntry]:
    payload = b'{"_type":"https://in-toto.io/Statement/v1"}'
    signer = ec.generate_private_key(ec.SECP256R1())
    pae = b"DSSEv1 28 application/vnd.in-toto+json %d %b" % (len(payload), payload)
    signature = signer.sign(pae, ec.ECDSA(hashes.SHA256()))
    envelope = json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
        },
        separators=(",", ":"),
    ).encode()
    body = dsse_body(envelope=envelope, payload=payload, signatures=[(signature, pem(signer))])
    return Artifact(signer, payload, signature), envelope, log.add(body)


def test_dsse_entry_verifies_with_and_without_the_envelope_bytes(
    log: Log, dsse_case: tuple[Artifact, bytes, LogEntry]
) -> None:
    artifact, envelope, entry = dsse_case
    for given in (envelope, None):
        expected = ExpectedEntry.dsse(
            signature=artifact.signature,
            public_key_pem=pem(artifact.signer),
            payload=artifact.payload,
            envelope=given,
        )
        assert verify_log_entry(entry, log.root(), expected).kind == "dsse"


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"payload": b"another statement"}, "body-payload-hash"),
        ({"envelope": b"re-serialised envelope"}, "body-envelope-hash"),
        ({"signature": b"another signature"}, "body-signature"),
        ({"key": True}, "body-public-key"),
    ],
)
def test_dsse_mismatches_are_named(
    log: Log, dsse_case: tuple[Artifact, bytes, LogEntry], change: dict[str, object], check: str
) -> None:
    artifact, envelope, entry = dsse_case
    key = (
        pem(ec.generate_private_key(ec.SECP256R1())) if change.get("key") else pem(artifact.signer)
    )
    expected = ExpectedEntry.dsse(
        signature=change.get("signature", artifact.signature),  # type: ignore[arg-type]
        public_key_pem=key,
        payload=change.get("payload", artifact.payload),  # type: ignore[arg-type]
        envelope=change.get("envelope", envelope),  # type: ignore[arg-type]
    )
    with pytest.raises(LogEntryMismatchError) as info:
        verify_log_entry(entry, log.root(), expected)
    assert check_of(info) == check


def test_dsse_signatures_recorded_in_url_safe_base64_match(log: Log) -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    signature = b"\xfb\xff" * 36
    text = base64.urlsafe_b64encode(signature).decode()
    body = dsse_body(envelope=b"{}", payload=b"p", signatures=[(text, pem(signer))])
    expected = ExpectedEntry.dsse(signature=signature, public_key_pem=pem(signer), payload=b"p")
    assert verify_log_entry(log.add(body), log.root(), expected).kind == "dsse"


# -- log key types, caps, several entries -------------------------------------------------------


@pytest.mark.parametrize(
    "make_key",
    [
        ed25519.Ed25519PrivateKey.generate,
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["ed25519", "rsa", "p384"],
)
def test_logs_with_ed25519_rsa_and_p384_keys_verify(
    artifact: Artifact, make_key: Callable[[], LogPrivateKey]
) -> None:
    log = Log(make_key())
    result = verify_log_entry(log.add(artifact.body()), log.root(), artifact.expected())
    assert result.set_verified
    assert result.inclusion_verified


def test_caps_trip_before_any_crypto(log: Log, artifact: Artifact, entry: LogEntry) -> None:
    # An unknown log would fail later: the cap must fire first.
    stranger = attrs.evolve(entry, log_id=bytes(32))
    with pytest.raises(SizeLimitExceededError):
        verify_log_entry(
            with_proof(stranger, hashes=(bytes(32),) * 65), log.root(), artifact.expected()
        )
    with pytest.raises(SizeLimitExceededError):
        verify_log_entry(
            attrs.evolve(stranger, body=b" " * (129 * 1024)), log.root(), artifact.expected()
        )
    with pytest.raises(SizeLimitExceededError):
        verify_log_entry(
            attrs.evolve(stranger, signed_entry_timestamp=bytes(5000)),
            log.root(),
            artifact.expected(),
        )
    with pytest.raises(SizeLimitExceededError):
        verify_log_entry(
            with_proof(stranger, checkpoint="x" * 20000), log.root(), artifact.expected()
        )


def test_threshold_counts_distinct_logs_not_entries(artifact: Artifact) -> None:
    first, second = Log(url="https://one.test"), Log(url="https://two.test")
    both = TrustedRoot(tlogs=(first.instance(), second.instance()))
    one_log_twice = [first.add(artifact.body()), first.add(artifact.body())]
    assert len(verify_log_entries(one_log_twice, both, artifact.expected())) == 2
    with pytest.raises(MissingLogEntryError) as info:
        verify_log_entries(one_log_twice, both, artifact.expected(), threshold=2)
    assert check_of(info) == "threshold"
    two_logs = [first.add(artifact.body()), second.add(artifact.body())]
    assert len(verify_log_entries(two_logs, both, artifact.expected(), threshold=2)) == 2


def test_entries_from_unknown_logs_are_skipped_unless_nothing_else_verifies(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    stranger = Log().add(artifact.body())
    assert len(verify_log_entries([stranger, entry], log.root(), artifact.expected())) == 1
    with pytest.raises(UnknownLogError):
        verify_log_entries([stranger], log.root(), artifact.expected())
    with pytest.raises(MissingLogEntryError):
        verify_log_entries([], log.root(), artifact.expected())


def test_any_failing_entry_of_a_known_log_fails_the_lot(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    bad = attrs.evolve(entry, integrated_time=NOW + 5, log_index=entry.log_index + 99)
    with pytest.raises(SignedEntryTimestampError):
        verify_log_entries([entry, bad], log.root(), artifact.expected())


def test_entry_lists_are_capped_and_deduplicated(
    log: Log, artifact: Artifact, entry: LogEntry
) -> None:
    with pytest.raises(SizeLimitExceededError):
        verify_log_entries([entry] * 33, log.root(), artifact.expected())
    with pytest.raises(TransparencyLogError) as info:
        verify_log_entries([entry, entry], log.root(), artifact.expected())
    assert check_of(info) == "duplicate-entry"


def test_expectations_must_name_what_to_compare() -> None:
    key = pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="digest"):
        ExpectedEntry(kind="hashedrekord", signature=b"s", public_key_pem=key)
    with pytest.raises(ValueError, match="payload hash"):
        ExpectedEntry(kind="dsse", signature=b"s", public_key_pem=key)
    with pytest.raises(ValueError, match="intoto"):
        ExpectedEntry(kind="intoto", signature=b"s", public_key_pem=key, digest_hex="00")


def test_package_loads_without_the_client_and_resolves_it_lazily() -> None:
    code = (
        "import sys, imagesig.tlog as t; assert 'imagesig.tlog.client' not in sys.modules; "
        "assert t.RekorClient.__name__ == 'RekorClient'; assert 'verify_log_entry' in dir(t)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute"):
        imagesig.tlog.NoSuchThing  # noqa: B018
