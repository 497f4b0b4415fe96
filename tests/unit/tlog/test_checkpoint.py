"""Signed checkpoints as Rekor v1 writes them: parsing, key hints, signatures, strictness."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from imagesig.errors import CheckpointError, SizeLimitExceededError
from imagesig.tlog.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    MAX_NOTE_SIGNATURES,
    Checkpoint,
    NoteSignature,
    parse_signed_note,
    sign_checkpoint,
    verify_checkpoint,
)
from imagesig.tlog.trust import LogPrivateKey, load_log_public_key, log_id_for_key

ROOT = hashlib.sha256(b"root").digest()
CHECKPOINT = Checkpoint(origin="rekor.example.test - 42", tree_size=7, root_hash=ROOT)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def signed(key: LogPrivateKey, checkpoint: Checkpoint = CHECKPOINT) -> str:
    return sign_checkpoint(checkpoint, key, name="rekor.example.test")


def vector_checkpoint(vectors: Path) -> tuple[str, bytes]:
    bundle = json.loads((vectors / "cosign/bundle-msgsig-key/bundle.sigstore.json").read_text())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    return entry["inclusionProof"]["checkpoint"]["envelope"], base64.b64decode(
        entry["inclusionProof"]["rootHash"]
    )


def test_rekor_production_checkpoint_verifies_with_the_rekor_key(shared_vectors: Path) -> None:
    text, root_hash = vector_checkpoint(shared_vectors)
    key = load_log_public_key((shared_vectors / "cosign/trust/rekor-production.pub").read_bytes())
    log_id = log_id_for_key(key)
    assert log_id.hex() == "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"

    checkpoint = verify_checkpoint(text, key, log_id=log_id, name="rekor.sigstore.dev")

    assert checkpoint.origin == "rekor.sigstore.dev - 1193050959916656506"
    assert checkpoint.tree_size == 649584076
    assert checkpoint.root_hash == root_hash
    assert checkpoint.other == ()
    _, signatures = parse_signed_note(text)
    # Rekor v1's key hint: the first four bytes of SHA-256(DER SPKI), i.e. of the log id.
    assert [(s.name, s.key_hint) for s in signatures] == [("rekor.sigstore.dev", log_id[:4])]
    assert text.startswith(checkpoint.to_note_body() + "\n\u2014 ")


def test_rekor_production_checkpoint_fails_with_another_key(shared_vectors: Path) -> None:
    text, _ = vector_checkpoint(shared_vectors)
    production = load_log_public_key(
        (shared_vectors / "cosign/trust/rekor-production.pub").read_bytes()
    )
    other = load_log_public_key(
        (shared_vectors / "cosign/legacy-key-rekor/cosign2.pub").read_bytes()
    )
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(text, other, log_id=log_id_for_key(other))
    assert info.value.context["check"] == "checkpoint-key-hint"
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(text, other, log_id=log_id_for_key(production))
    assert info.value.context["check"] == "checkpoint-signature"


def test_note_body_is_origin_size_root_and_extra_lines() -> None:
    checkpoint = Checkpoint("origin", 12, ROOT, ("Timestamp: 1679349379012118479",))
    assert checkpoint.to_note_body() == (
        f"origin\n12\n{base64.b64encode(ROOT).decode()}\nTimestamp: 1679349379012118479\n"
    )


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate,
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p256", "p384", "ed25519", "rsa"],
)
def test_sign_then_verify_round_trips_for_every_log_key_type(make_key: object) -> None:
    key = make_key()  # type: ignore[operator]
    checkpoint = Checkpoint("log - 1", 99, ROOT, ("Timestamp: 5",))
    text = sign_checkpoint(checkpoint, key, name="log")
    log_id = log_id_for_key(key.public_key())
    assert verify_checkpoint(text, key.public_key(), log_id=log_id) == checkpoint
    assert parse_signed_note(text)[0] == checkpoint


def test_changed_note_body_fails_the_signature(key: ec.EllipticCurvePrivateKey) -> None:
    text = signed(key).replace("\n7\n", "\n8\n", 1)
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(text, key.public_key(), log_id=log_id_for_key(key.public_key()))
    assert info.value.context["check"] == "checkpoint-signature"


def test_changed_signature_fails(key: ec.EllipticCurvePrivateKey) -> None:
    body, _, line = signed(key).rpartition("\n\u2014 ")
    name, encoded = line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    text = f"{body}\n\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(text, key.public_key(), log_id=log_id_for_key(key.public_key()))


def test_witness_cosignatures_with_other_hints_are_ignored(key: ec.EllipticCurvePrivateKey) -> None:
    witness = NoteSignature("witness.example", b"\x01\x02\x03\x04", b"\x00" * 64)
    text = sign_checkpoint(CHECKPOINT, key, name="rekor.example.test", cosignatures=[witness])
    assert len(parse_signed_note(text)[1]) == 2
    log_id = log_id_for_key(key.public_key())
    assert verify_checkpoint(text, key.public_key(), log_id=log_id) == CHECKPOINT


def test_name_filter_selects_the_signer(key: ec.EllipticCurvePrivateKey) -> None:
    log_id = log_id_for_key(key.public_key())
    text = signed(key)
    assert verify_checkpoint(text, key.public_key(), log_id=log_id, name="rekor.example.test")
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(text, key.public_key(), log_id=log_id, name="other.example")
    assert info.value.context["check"] == "checkpoint-key-hint"


def test_explicit_log_id_sets_the_key_hint(key: ec.EllipticCurvePrivateKey) -> None:
    text = sign_checkpoint(CHECKPOINT, key, name="n", log_id=b"\xaa\xbb\xcc\xdd" + bytes(28))
    assert parse_signed_note(text)[1][0].key_hint == b"\xaa\xbb\xcc\xdd"


VALID_ROOT = base64.b64encode(ROOT).decode()
SIG = "\u2014 name " + base64.b64encode(b"hint" + b"sig").decode() + "\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"origin\n1\n{VALID_ROOT}\n" + SIG, "no blank line"),
        (f"origin\n1\n{VALID_ROOT}\n\n", "non-empty"),
        (f"origin\n1\n{VALID_ROOT}\n\n" + SIG.rstrip("\n"), "end with a newline"),
        (f"origin\n1\n{VALID_ROOT}\n\n- name abc=\n", "em dash"),
        (f"origin\n1\n{VALID_ROOT}\n\n\u2014 name\n", "<name>"),
        (
            f"origin\n1\n{VALID_ROOT}\n\n\u2014 na me "
            + base64.b64encode(b"x" * 9).decode()
            + "\n",
            "<name>",
        ),
        (
            f"origin\n1\n{VALID_ROOT}\n\n\u2014 name " + base64.b64encode(b"abcd").decode() + "\n",
            "too short",
        ),
        (f"origin\n1\n{VALID_ROOT}\n\n\u2014 name !!!!\n", "base64"),
        (f"\n1\n{VALID_ROOT}\n\n" + SIG, "blank line|origin"),
        (f"origin\n{VALID_ROOT}\n\n" + SIG, "needs an origin"),
        (f"origin\n01\n{VALID_ROOT}\n\n" + SIG, "canonical decimal"),
        (f"origin\n-1\n{VALID_ROOT}\n\n" + SIG, "canonical decimal"),
        (f"origin\n{2**64}\n{VALID_ROOT}\n\n" + SIG, "canonical decimal"),
        (f"origin\n1\n{VALID_ROOT.rstrip('=')}\n\n" + SIG, "base64"),
        (f"origin\n1\n{base64.b64encode(b'short').decode()}\n\n" + SIG, "not 32"),
        (f"origin\n1\n{VALID_ROOT}\n\n" + SIG + "\n", "em dash"),
    ],
)
def test_malformed_notes_are_refused(text: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason) as info:
        parse_signed_note(text)
    assert info.value.context["check"] == "checkpoint-format"


def test_extra_body_lines_are_kept_in_order() -> None:
    text = f"origin\n3\n{VALID_ROOT}\nfirst\nsecond\n\n" + SIG
    checkpoint, signatures = parse_signed_note(text)
    assert checkpoint.other == ("first", "second")
    assert signatures == (NoteSignature("name", b"hint", b"sig"),)


def test_oversized_notes_and_signature_floods_trip_caps_before_crypto() -> None:
    with pytest.raises(SizeLimitExceededError):
        parse_signed_note("x" * (MAX_CHECKPOINT_BYTES + 1))
    flood = f"origin\n1\n{VALID_ROOT}\n\n" + SIG * (MAX_NOTE_SIGNATURES + 1)
    with pytest.raises(SizeLimitExceededError):
        parse_signed_note(flood)


def test_non_text_input_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError):
        parse_signed_note(b"bytes")  # type: ignore[arg-type]


def test_checkpoint_fields_are_validated() -> None:
    with pytest.raises(ValueError, match="origin"):
        Checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(ValueError, match="tree_size"):
        Checkpoint("origin", -1, ROOT)
    with pytest.raises(ValueError, match="extra checkpoint lines"):
        Checkpoint("origin", 1, ROOT, ("",))


def test_signer_names_with_white_space_are_refused(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="signer name"):
        sign_checkpoint(CHECKPOINT, key, name="two words")


def test_pem_loaded_key_verifies_signed_notes(key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = load_log_public_key(pem)
    assert verify_checkpoint(signed(key), public, log_id=log_id_for_key(public)) == CHECKPOINT
