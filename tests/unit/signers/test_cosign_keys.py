"""Tests for :mod:`imagesig.signers.cosign_keys`: cosign's encrypted key files.

The reference implementation below (``_reference_seal`` / ``_reference_open``) is written
from the format description with ``hashlib.scrypt`` and PyNaCl directly, so the module is
checked against something that shares none of its code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from nacl.secret import SecretBox

from imagesig.errors import (
    InvalidPasswordError,
    KeyFileExistsError,
    KeyFormatError,
    PasswordRequiredError,
    SignerError,
    UnsupportedAlgorithmError,
)
from imagesig.signers import (
    ACCEPTED_SCRYPT_PARAMETERS,
    COSIGN_PRIVATE_KEY_LABEL,
    PASSWORD_ENV_VAR,
    SIGSTORE_PRIVATE_KEY_LABEL,
    LocalSigner,
    PublicKey,
    SignatureAlgorithm,
    cosign_keys,
    decrypt_private_key,
    encrypt_private_key,
    is_cosign_private_key,
    write_key_pair,
)

SignerFor = Callable[[SignatureAlgorithm], LocalSigner]
PASSWORD = "s3cret pass"


@pytest.fixture(autouse=True)
def _no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# --- an independent implementation of the format -----------------------------------------


def _pkcs8(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _scrypt(password: bytes, salt: bytes, n: int, r: int = 8, p: int = 1) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)


def _pem_body(pem: bytes) -> tuple[str, bytes]:
    lines = pem.decode("ascii").splitlines()
    assert lines[0].startswith("-----BEGIN ")
    label = lines[0][len("-----BEGIN ") : -len("-----")]
    assert lines[-1] == f"-----END {label}-----"
    return label, base64.b64decode("".join(lines[1:-1]))


def _reference_open(pem: bytes, password: bytes) -> bytes:
    _, body = _pem_body(pem)
    envelope = json.loads(body)
    params = envelope["kdf"]["params"]
    key = _scrypt(password, base64.b64decode(envelope["kdf"]["salt"]), params["N"])
    return SecretBox(key).decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["cipher"]["nonce"])
    )


def _envelope(
    plaintext: bytes, password: bytes, n: int = 65536, r: int = 8, p: int = 1
) -> dict[str, Any]:
    salt = secrets.token_bytes(32)
    nonce = secrets.token_bytes(24)
    box = SecretBox(_scrypt(password, salt, n, r, p))
    return {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(box.encrypt(plaintext, nonce).ciphertext),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _to_pem(envelope: dict[str, Any] | bytes, label: str = SIGSTORE_PRIVATE_KEY_LABEL) -> bytes:
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    text = base64.b64encode(body).decode("ascii")
    lines = "".join(text[i : i + 64] + "\n" for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}-----END {label}-----\n".encode("ascii")


# --- writing ------------------------------------------------------------------------------

# Tests where the scrypt cost does not matter use the cheapest accepted one.
CHEAP_N = 32768


@pytest.fixture(scope="module")
def written_pem(ec_key: ec.EllipticCurvePrivateKey) -> bytes:
    """``ec_key`` encrypted with the defaults (N = 65536), once per module: scrypt is slow."""
    return encrypt_private_key(ec_key, PASSWORD)


def test_written_key_has_exactly_the_go_envelope_shape(
    ec_key: ec.EllipticCurvePrivateKey, written_pem: bytes
) -> None:
    pem = written_pem
    label, body = _pem_body(pem)
    assert label == SIGSTORE_PRIVATE_KEY_LABEL
    # 64-column lines like Go's pem.EncodeToMemory, final newline
    lines = pem.decode("ascii").split("\n")
    assert lines[-1] == ""
    assert all(len(line) == 64 for line in lines[1:-3])
    # compact JSON in Go's struct order
    envelope = json.loads(body)
    assert body == json.dumps(envelope, separators=(",", ":")).encode()
    assert list(envelope) == ["kdf", "cipher", "ciphertext"]
    assert list(envelope["kdf"]) == ["name", "params", "salt"]
    assert list(envelope["kdf"]["params"]) == ["N", "r", "p"]
    assert list(envelope["cipher"]) == ["name", "nonce"]
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert envelope["cipher"]["name"] == "nacl/secretbox"
    salt = base64.b64decode(envelope["kdf"]["salt"], validate=True)
    nonce = base64.b64decode(envelope["cipher"]["nonce"], validate=True)
    ciphertext = base64.b64decode(envelope["ciphertext"], validate=True)
    assert len(salt) == 32
    assert len(nonce) == 24
    assert len(ciphertext) == len(_pkcs8(ec_key)) + 16


def test_written_key_decrypts_with_an_independent_implementation(
    ec_key: ec.EllipticCurvePrivateKey, written_pem: bytes
) -> None:
    plaintext = _reference_open(written_pem, PASSWORD.encode())
    assert plaintext == _pkcs8(ec_key)
    assert plaintext[:4] == bytes.fromhex("30818702")  # PKCS#8, 138 bytes, as Go writes P-256


def test_salt_and_nonce_are_fresh_each_time(ec_key: ec.EllipticCurvePrivateKey) -> None:
    first = json.loads(_pem_body(encrypt_private_key(ec_key, PASSWORD, scrypt_n=CHEAP_N))[1])
    second = json.loads(_pem_body(encrypt_private_key(ec_key, PASSWORD, scrypt_n=CHEAP_N))[1])
    assert first["kdf"]["salt"] != second["kdf"]["salt"]
    assert first["cipher"]["nonce"] != second["cipher"]["nonce"]


def test_legacy_label_and_other_accepted_costs_can_be_written(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    pem = encrypt_private_key(ec_key, b"", label=COSIGN_PRIVATE_KEY_LABEL, scrypt_n=32768)
    label, body = _pem_body(pem)
    assert label == COSIGN_PRIVATE_KEY_LABEL
    assert json.loads(body)["kdf"]["params"]["N"] == 32768
    assert _reference_open(pem, b"") == _pkcs8(ec_key)


def test_writing_refuses_costs_and_labels_cosign_does_not_read(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="16384"):
        encrypt_private_key(ec_key, PASSWORD, scrypt_n=16384)
    with pytest.raises(KeyFormatError):
        encrypt_private_key(ec_key, PASSWORD, label="PRIVATE KEY")


def test_writing_refuses_unsupported_keys() -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        encrypt_private_key(ec.generate_private_key(ec.SECP256K1()), PASSWORD)


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "label"),
    [(params, SIGSTORE_PRIVATE_KEY_LABEL) for params in sorted(ACCEPTED_SCRYPT_PARAMETERS)]
    + [((CHEAP_N, 8, 1), COSIGN_PRIVATE_KEY_LABEL)],
)
def test_reads_keys_sealed_by_the_independent_implementation(
    ec_key: ec.EllipticCurvePrivateKey, params: tuple[int, int, int], label: str
) -> None:
    pem = _to_pem(_envelope(_pkcs8(ec_key), PASSWORD.encode(), *params), label)
    key = decrypt_private_key(pem, PASSWORD)
    assert PublicKey(key.public_key()) == PublicKey(ec_key.public_key())


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP521R1()),
        rsa.generate_private_key(65537, 2048),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["p384", "p521", "rsa2048", "ed25519"],
)
def test_every_key_type_round_trips(key: Any) -> None:
    pem = encrypt_private_key(key, PASSWORD, scrypt_n=CHEAP_N)
    assert _reference_open(pem, PASSWORD.encode()) == _pkcs8(key)
    loaded = decrypt_private_key(pem, PASSWORD.encode())
    assert PublicKey(loaded.public_key()) == PublicKey(key.public_key())


def test_wrong_password_names_the_source_and_hides_the_password(written_pem: bytes) -> None:
    with pytest.raises(InvalidPasswordError, match=re.escape("release.key")) as info:
        decrypt_private_key(written_pem, "guess-1234", source="release.key")
    assert "guess-1234" not in info.value.diagnostics()
    assert PASSWORD not in info.value.diagnostics()
    assert info.value.__cause__ is None


def test_altered_ciphertext_fails_authentication(ec_key: ec.EllipticCurvePrivateKey) -> None:
    envelope = _envelope(_pkcs8(ec_key), PASSWORD.encode(), n=CHEAP_N)
    ciphertext = bytearray(base64.b64decode(envelope["ciphertext"]))
    ciphertext[20] ^= 0x01
    envelope["ciphertext"] = _b64(bytes(ciphertext))
    with pytest.raises(InvalidPasswordError):
        decrypt_private_key(_to_pem(envelope), PASSWORD)


@pytest.mark.parametrize(
    "params",
    [
        {"N": 2**30, "r": 8, "p": 1},
        {"N": 2**20, "r": 8, "p": 1},
        {"N": 16384, "r": 8, "p": 1},
        {"N": 65536, "r": 16, "p": 1},
        {"N": 65536, "r": 8, "p": 2},
        {"N": "65536", "r": 8, "p": 1},
        {"N": 65536.0, "r": 8, "p": 1},
        {"N": 65536, "r": True, "p": 1},
        {"N": 65536, "r": 8},
    ],
    ids=["2^30", "2^20", "2^14", "r16", "p2", "N-string", "N-float", "r-bool", "no-p"],
)
def test_scrypt_parameters_cosign_refuses_are_refused_before_deriving(
    params: dict[str, Any], ec_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelope = _envelope(_pkcs8(ec_key), PASSWORD.encode(), n=32768)
    envelope["kdf"]["params"] = params
    derived: list[int] = []

    def derive(*args: object) -> bytes:
        derived.append(1)
        return b"\x00" * 32

    monkeypatch.setattr(cosign_keys, "_derive", derive)
    started = time.monotonic()
    with pytest.raises(KeyFormatError, match="scrypt parameters"):
        decrypt_private_key(_to_pem(envelope), PASSWORD)
    assert time.monotonic() - started < 3.0
    assert derived == []


def test_hostile_cost_fails_fast_without_patching(ec_key: ec.EllipticCurvePrivateKey) -> None:
    envelope = _envelope(_pkcs8(ec_key), PASSWORD.encode(), n=32768)
    envelope["kdf"]["params"]["N"] = 2**30
    started = time.monotonic()
    with pytest.raises(KeyFormatError):
        decrypt_private_key(_to_pem(envelope), PASSWORD)
    assert time.monotonic() - started < 3.0


def test_sec1_plaintext_is_refused_like_cosign_does(ec_key: ec.EllipticCurvePrivateKey) -> None:
    sec1 = ec_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pem = _to_pem(_envelope(sec1, PASSWORD.encode(), n=32768), COSIGN_PRIVATE_KEY_LABEL)
    with pytest.raises(KeyFormatError, match="SEC1") as info:
        decrypt_private_key(pem, PASSWORD, source="ec.key")
    assert "PKCS#8" in str(info.value)
    assert info.value.hint is not None
    with pytest.raises(KeyFormatError, match="SEC1"):
        LocalSigner.from_pem(pem, PASSWORD)


def test_pkcs1_plaintext_is_refused() -> None:
    key = rsa.generate_private_key(65537, 2048)
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFormatError, match="PKCS#1"):
        decrypt_private_key(_to_pem(_envelope(pkcs1, b"", n=32768)), b"")


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], object]]]:
    return [
        ("kdf-name", lambda e: e["kdf"].__setitem__("name", "pbkdf2")),
        ("cipher-name", lambda e: e["cipher"].__setitem__("name", "aes-gcm")),
        ("no-kdf", lambda e: e.pop("kdf")),
        ("no-cipher", lambda e: e.pop("cipher")),
        ("kdf-list", lambda e: e.__setitem__("kdf", [])),
        ("salt-not-base64", lambda e: e["kdf"].__setitem__("salt", "***")),
        ("salt-number", lambda e: e["kdf"].__setitem__("salt", 5)),
        ("short-nonce", lambda e: e["cipher"].__setitem__("nonce", _b64(b"\x00" * 23))),
        ("no-ciphertext", lambda e: e.pop("ciphertext")),
        ("short-ciphertext", lambda e: e.__setitem__("ciphertext", _b64(b"\x00" * 15))),
        ("urlsafe-ciphertext", lambda e: e.__setitem__("ciphertext", "-_-_")),
    ]


@pytest.mark.parametrize(
    "mutate", [m for _, m in _mutations()], ids=[name for name, _ in _mutations()]
)
def test_malformed_envelopes_raise_key_format_error(
    mutate: Callable[[dict[str, Any]], object], ec_key: ec.EllipticCurvePrivateKey
) -> None:
    envelope = _envelope(_pkcs8(ec_key), b"", n=32768)
    mutate(envelope)
    with pytest.raises(KeyFormatError):
        decrypt_private_key(_to_pem(envelope), b"")


@pytest.mark.parametrize("body", [b"not json", b"[]", b"\xff\xfe", b"null"])
def test_non_json_bodies_raise_key_format_error(body: bytes) -> None:
    with pytest.raises(KeyFormatError):
        decrypt_private_key(_to_pem(body), b"")


def test_other_labels_are_not_cosign_keys(ec_key: ec.EllipticCurvePrivateKey) -> None:
    plain = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFormatError, match="PRIVATE KEY"):
        decrypt_private_key(plain, b"")
    assert not is_cosign_private_key(plain)
    assert not is_cosign_private_key(b"nothing here")
    assert is_cosign_private_key(encrypt_private_key(ec_key, b"", scrypt_n=CHEAP_N))
    legacy = encrypt_private_key(ec_key, b"", label=COSIGN_PRIVATE_KEY_LABEL, scrypt_n=CHEAP_N)
    assert is_cosign_private_key(legacy)


# --- write_key_pair -----------------------------------------------------------------------


def test_write_key_pair_writes_cosign_files_with_cosign_modes(
    tmp_path: Path, signer_for: SignerFor
) -> None:
    signer = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256)
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    write_key_pair(private, public, signer, PASSWORD)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(public.stat().st_mode) == 0o644 & ~umask
    assert public.read_bytes() == signer.public_key().pem
    assert PublicKey.from_file(public) == signer.public_key()
    pem = private.read_bytes()
    assert _pem_body(pem)[0] == SIGSTORE_PRIVATE_KEY_LABEL
    assert _reference_open(pem, PASSWORD.encode()) == _pkcs8(
        serialization.load_pem_private_key(signer.private_pem(), None)
    )
    assert LocalSigner.from_file(private, PASSWORD).public_key() == signer.public_key()


@pytest.mark.parametrize("existing", ["cosign.key", "cosign.pub"])
def test_write_key_pair_refuses_to_overwrite(
    existing: str, tmp_path: Path, signer_for: SignerFor
) -> None:
    (tmp_path / existing).write_bytes(b"keep me")
    with pytest.raises(KeyFileExistsError, match=existing):
        write_key_pair(
            tmp_path / "cosign.key",
            tmp_path / "cosign.pub",
            signer_for(SignatureAlgorithm.ED25519),
            PASSWORD,
        )
    assert (tmp_path / existing).read_bytes() == b"keep me"


def test_write_key_pair_overwrites_on_request_and_tightens_the_mode(
    tmp_path: Path, signer_for: SignerFor
) -> None:
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    private.write_bytes(b"old")
    private.chmod(0o644)
    public.write_bytes(b"old")
    signer = signer_for(SignatureAlgorithm.ED25519)
    write_key_pair(private, public, signer, PASSWORD, overwrite=True)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert LocalSigner.from_file(private, PASSWORD).public_key() == signer.public_key()
    assert public.read_bytes() == signer.public_key().pem


def test_write_key_pair_takes_the_password_from_the_environment(
    tmp_path: Path, signer_for: SignerFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256)
    with pytest.raises(PasswordRequiredError):
        write_key_pair(tmp_path / "a.key", tmp_path / "a.pub", signer, None)
    assert not (tmp_path / "a.key").exists()
    monkeypatch.setenv(PASSWORD_ENV_VAR, "")
    write_key_pair(tmp_path / "a.key", tmp_path / "a.pub", signer, None)
    assert _reference_open((tmp_path / "a.key").read_bytes(), b"")


def test_write_key_pair_reports_unwritable_paths(tmp_path: Path, signer_for: SignerFor) -> None:
    with pytest.raises(SignerError, match="cannot write"):
        write_key_pair(
            tmp_path / "missing-dir" / "cosign.key",
            tmp_path / "cosign.pub",
            signer_for(SignatureAlgorithm.ECDSA_P256_SHA256),
            PASSWORD,
        )
