"""cosign-made key files and signatures from ``shared/vectors/cosign`` (see its README).

The two encrypted keys were written by cosign itself (one by ``cosign generate-key-pair``
with an empty password, one with the legacy label, password ``123`` and N = 32768); they
must decrypt to exactly the documented public keys. Real cosign signatures check
:meth:`PublicKey.verify` against keys cosign wrote.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from nacl.secret import SecretBox
from tests.conftest import shared_dir

from imagesig.errors import InvalidPasswordError
from imagesig.signers import (
    COSIGN_PRIVATE_KEY_LABEL,
    PASSWORD_ENV_VAR,
    SIGSTORE_PRIVATE_KEY_LABEL,
    LocalSigner,
    PublicKey,
    SignatureAlgorithm,
    decrypt_private_key,
    is_cosign_private_key,
)

KEYS = shared_dir() / "vectors" / "cosign" / "encrypted-keys"

# (file, label, password, scrypt N, base64 DER SPKI, cosign hint) from the vectors README
KEY_VECTORS = [
    (
        "cosign_generated_encrypted_empty_private.key",
        SIGSTORE_PRIVATE_KEY_LABEL,
        "",
        65536,
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmsWpZNuu+SUX70n3lVK4JLsaoV7T+rhea2rQUu29EQiatoLB06Q"
        "dsmSd+GsQGlQzfcDtsKPzb+B2zLggrWZjg==",
        "DYzWeU3vXF47QvN79u4puyUs4ml3HPPAeF2S/Ke+WG8=",
    ),
    (
        "ecdsa_encrypted_private.key",
        COSIGN_PRIVATE_KEY_LABEL,
        "123",
        32768,
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI3sxu+p/GFrJyfgmSWr4qMzwbnd/pRAShSG6tHcrlhBSoRCAiVYO"
        "oQR7514Uz6ft2tQlnoJLHmHcFqqy0/ERJA==",
        "ACCIY9l4UibfmtaM6yrVtD8fXd1oYUfyURbuCIcm620=",
    ),
]
IDS = ["generated-empty-password", "legacy-label-password-123"]


@pytest.fixture(autouse=True)
def _vectors_present(shared_vectors: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV_VAR, raising=False)


@pytest.mark.parametrize(("name", "label", "password", "n", "spki", "hint"), KEY_VECTORS, ids=IDS)
def test_vector_key_decrypts_to_the_documented_public_key(
    name: str, label: str, password: str, n: int, spki: str, hint: str
) -> None:
    path = KEYS / name
    text = path.read_text("ascii")
    assert text.startswith(f"-----BEGIN {label}-----")
    assert is_cosign_private_key(text)
    signer = LocalSigner.from_file(path, password=password)
    public = signer.public_key()
    assert public.der == base64.b64decode(spki)
    assert public.cosign_hint == hint
    assert public.key_id == hashlib.sha256(base64.b64decode(spki)).hexdigest()
    assert signer.algorithm is SignatureAlgorithm.ECDSA_P256_SHA256
    assert signer.name == str(path)
    expected = PublicKey.from_der(base64.b64decode(spki))
    assert expected.verify(signer.sign(b"interop"), b"interop")


@pytest.mark.parametrize(("name", "label", "password", "n", "spki", "hint"), KEY_VECTORS, ids=IDS)
def test_vector_key_envelope_is_what_we_write_back(
    name: str, label: str, password: str, n: int, spki: str, hint: str
) -> None:
    """The Go envelope re-serialises to the same bytes, and its plaintext is the PKCS#8 we
    would write for the same key."""
    path = KEYS / name
    lines = path.read_text("ascii").strip().splitlines()
    body = base64.b64decode("".join(lines[1:-1]))
    envelope = json.loads(body)
    assert envelope["kdf"]["params"] == {"N": n, "r": 8, "p": 1}
    assert json.dumps(envelope, separators=(",", ":")).encode() == body
    key = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(envelope["kdf"]["salt"]),
        n=n,
        r=8,
        p=1,
        dklen=32,
        maxmem=128 * 1024 * 1024,
    )
    plaintext = SecretBox(key).decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["cipher"]["nonce"])
    )
    assert len(plaintext) == 138
    signer = LocalSigner.from_file(path, password=password.encode())
    reloaded = serialization.load_pem_private_key(signer.private_pem(), password=None)
    assert (
        reloaded.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        == plaintext
    )


@pytest.mark.parametrize(("name", "label", "password", "n", "spki", "hint"), KEY_VECTORS, ids=IDS)
def test_vector_key_with_a_wrong_password_names_the_file(
    name: str, label: str, password: str, n: int, spki: str, hint: str
) -> None:
    wrong = password + "-not"
    with pytest.raises(InvalidPasswordError, match=re.escape(name)) as info:
        LocalSigner.from_file(KEYS / name, password=wrong)
    assert wrong not in info.value.diagnostics()


def test_cosign_password_environment_variable_opens_the_generated_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV_VAR, "123")
    key = decrypt_private_key(
        (KEYS / "ecdsa_encrypted_private.key").read_bytes(), "123", source="ecdsa"
    )
    signer = LocalSigner.from_file(KEYS / "ecdsa_encrypted_private.key")
    assert PublicKey(key.public_key()) == signer.public_key()


def test_bundle_key_hint_matches_cosigns_rule() -> None:
    vectors = shared_dir() / "vectors" / "cosign" / "bundle-msgsig-key"
    key = PublicKey.from_file(vectors / "key.pub")
    bundle = json.loads((vectors / "bundle.sigstore.json").read_text())
    assert key.cosign_hint == bundle["verificationMaterial"]["publicKey"]["hint"]
    signature = base64.b64decode(bundle["messageSignature"]["signature"])
    artifact = (vectors / "a.txt").read_bytes()
    assert key.verify(signature, artifact)
    assert key.verify_digest(signature, hashlib.sha256(artifact).digest())
    assert not key.verify(signature, artifact + b"x")


def test_rekor_key_id_is_the_documented_log_id() -> None:
    key = PublicKey.from_file(
        shared_dir() / "vectors" / "cosign" / "trust" / "rekor-production.pub"
    )
    assert key.key_id == "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"


def test_legacy_signature_verifies_with_the_cosign_public_key() -> None:
    vectors = shared_dir() / "vectors" / "cosign" / "legacy-key-rekor"
    raw = (vectors / "signature-1.containers-image").read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert raw.startswith(prefix)
    wrapper = json.loads(raw[len(prefix) :])
    payload = base64.b64decode(wrapper["payload"])
    signature = base64.b64decode(wrapper["annotations"]["dev.cosignproject.cosign/signature"])
    key = PublicKey.from_file(vectors / "cosign2.pub")
    assert key.verify(signature, payload)
    assert not key.verify(signature, payload[:-1])
    other = PublicKey.from_file(
        shared_dir() / "vectors" / "cosign" / "bundle-msgsig-key" / "key.pub"
    )
    assert not other.verify(signature, payload)
