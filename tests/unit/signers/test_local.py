"""Tests for :mod:`imagesig.signers.local`: LocalSigner loading, passwords and signing."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from imagesig.errors import (
    InvalidPasswordError,
    KeyFormatError,
    PasswordRequiredError,
    SignerError,
    SizeLimitExceededError,
    UnsupportedAlgorithmError,
)
from imagesig.signers import (
    DEFAULT_RSA_KEY_SIZE,
    PASSWORD_ENV_VAR,
    LocalSigner,
    PublicKey,
    SignatureAlgorithm,
    encrypt_private_key,
    resolve_password,
)
from imagesig.signers._pem import MAX_KEY_FILE_BYTES

SignerFor = Callable[[SignatureAlgorithm], LocalSigner]
PASSWORD = "correct horse battery staple"
Enc = serialization.Encoding
Fmt = serialization.PrivateFormat


@pytest.fixture(autouse=True)
def _no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def _pem(key: object, fmt: serialization.PrivateFormat, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(Enc.PEM, fmt, encryption)  # type: ignore[attr-defined,no-any-return]


# --- generate -----------------------------------------------------------------------------


def test_generate_defaults_to_cosigns_p256() -> None:
    signer = LocalSigner.generate()
    assert signer.algorithm is SignatureAlgorithm.ECDSA_P256_SHA256
    key = signer.public_key().key
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"


def test_generate_rsa_uses_the_default_size_and_honours_rsa_key_size() -> None:
    assert DEFAULT_RSA_KEY_SIZE == 3072
    signer = LocalSigner.generate(SignatureAlgorithm.RSA_PSS_SHA512, rsa_key_size=2048)
    key = signer.public_key().key
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    assert signer.algorithm is SignatureAlgorithm.RSA_PSS_SHA512


@pytest.mark.parametrize("size", [1024, 2047, 2560, 4097, 8192, 16384])
def test_generate_refuses_rsa_sizes_cosign_refuses(size: int) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match=str(size)):
        LocalSigner.generate(SignatureAlgorithm.RSA_PKCS1V15_SHA256, rsa_key_size=size)


def test_generate_refuses_rsa_key_size_for_other_algorithms() -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        LocalSigner.generate(SignatureAlgorithm.ED25519, rsa_key_size=2048)


# --- loading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        (Fmt.PKCS8, b"-----BEGIN PRIVATE KEY-----"),
        (Fmt.TraditionalOpenSSL, b"-----BEGIN EC PRIVATE KEY-----"),
    ],
    ids=["pkcs8", "sec1"],
)
def test_from_pem_reads_unencrypted_ec_keys(
    ec_key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat, label: bytes
) -> None:
    pem = _pem(ec_key, fmt)
    assert pem.startswith(label)
    signer = LocalSigner.from_pem(pem)
    assert signer.public_key() == PublicKey(ec_key.public_key())


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        (Fmt.PKCS8, b"-----BEGIN PRIVATE KEY-----"),
        (Fmt.TraditionalOpenSSL, b"-----BEGIN RSA PRIVATE KEY-----"),
    ],
    ids=["pkcs8", "pkcs1"],
)
def test_from_pem_reads_unencrypted_rsa_keys(
    rsa_key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, label: bytes
) -> None:
    pem = _pem(rsa_key, fmt)
    assert pem.startswith(label)
    signer = LocalSigner.from_pem(pem.decode("ascii"))
    assert signer.public_key() == PublicKey(rsa_key.public_key())
    assert signer.algorithm is SignatureAlgorithm.RSA_PKCS1V15_SHA256


def test_from_pem_reads_ed25519_pkcs8() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    signer = LocalSigner.from_pem(_pem(key, Fmt.PKCS8))
    assert signer.algorithm is SignatureAlgorithm.ED25519
    assert signer.public_key().verify(signer.sign(b"m"), b"m")


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [(Fmt.PKCS8, b"ENCRYPTED PRIVATE KEY"), (Fmt.TraditionalOpenSSL, b"Proc-Type: 4,ENCRYPTED")],
    ids=["pkcs8", "openssl-legacy"],
)
def test_from_pem_reads_password_protected_keys(
    ec_key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat, marker: bytes
) -> None:
    pem = _pem(ec_key, fmt, PASSWORD)
    assert marker in pem
    for password in (PASSWORD, PASSWORD.encode(), lambda: PASSWORD, PASSWORD.encode):
        signer = LocalSigner.from_pem(pem, password)
        assert signer.public_key() == PublicKey(ec_key.public_key())


@pytest.mark.parametrize("fmt", [Fmt.PKCS8, Fmt.TraditionalOpenSSL], ids=["pkcs8", "legacy"])
def test_wrong_password_names_the_file_and_hides_the_password(
    ec_key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat, tmp_path: Path
) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(_pem(ec_key, fmt, PASSWORD))
    wrong = "hunter2-wrong-password"
    with pytest.raises(InvalidPasswordError) as info:
        LocalSigner.from_file(path, password=wrong)
    error = info.value
    assert isinstance(error, SignerError)
    assert str(path) in str(error)
    assert wrong not in error.diagnostics()
    assert PASSWORD not in error.diagnostics()
    assert error.context["key"] == str(path)


def test_cosign_key_files_load_through_from_pem_and_from_file(tmp_path: Path) -> None:
    original = LocalSigner.generate(SignatureAlgorithm.ECDSA_P384_SHA384)
    pem = original.to_cosign_key(PASSWORD)
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    path = tmp_path / "cosign.key"
    path.write_bytes(pem)
    loaded = LocalSigner.from_file(path, password=PASSWORD)
    assert loaded.public_key() == original.public_key()
    assert loaded.algorithm is SignatureAlgorithm.ECDSA_P384_SHA384
    assert loaded.name == str(path)
    assert LocalSigner.from_pem(pem.decode("ascii"), PASSWORD.encode()).public_key() == (
        original.public_key()
    )


@pytest.fixture(scope="module")
def cosign_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "cosign.key"
    path.write_bytes(
        encrypt_private_key(ec.generate_private_key(ec.SECP256R1()), PASSWORD, scrypt_n=32768)
    )
    return path


def test_cosign_key_with_wrong_password_raises_invalid_password(cosign_key_file: Path) -> None:
    with pytest.raises(InvalidPasswordError, match=re.escape("cosign.key")) as info:
        LocalSigner.from_file(cosign_key_file, password="not-it")
    assert "not-it" not in info.value.diagnostics()


# --- password sources ---------------------------------------------------------------------


def test_cosign_password_environment_variable_is_honoured(
    cosign_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV_VAR, PASSWORD)
    assert LocalSigner.from_file(cosign_key_file).algorithm is SignatureAlgorithm.ECDSA_P256_SHA256


def test_empty_cosign_password_means_the_empty_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "empty.key"
    path.write_bytes(
        encrypt_private_key(ec.generate_private_key(ec.SECP256R1()), "", scrypt_n=32768)
    )
    monkeypatch.setenv(PASSWORD_ENV_VAR, "")
    LocalSigner.from_file(path)
    monkeypatch.setenv(PASSWORD_ENV_VAR, "x")
    with pytest.raises(InvalidPasswordError):
        LocalSigner.from_file(path)


def test_an_argument_wins_over_the_environment(
    cosign_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV_VAR, "wrong")
    LocalSigner.from_file(cosign_key_file, password=PASSWORD)
    LocalSigner.from_file(cosign_key_file, password=lambda: PASSWORD)


def test_the_callback_is_called_once_and_only_for_encrypted_keys(
    cosign_key_file: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    calls: list[str] = []

    def ask() -> str:
        calls.append("asked")
        return PASSWORD

    LocalSigner.from_pem(_pem(ec_key, Fmt.PKCS8), ask)
    assert calls == []
    LocalSigner.from_file(cosign_key_file, ask)
    assert calls == ["asked"]


def test_a_callback_returning_something_else_is_an_error(cosign_key_file: Path) -> None:
    with pytest.raises(SignerError, match="callback"):
        LocalSigner.from_file(cosign_key_file, lambda: 1234)  # type: ignore[arg-type,return-value]


def test_no_password_anywhere_raises_password_required(cosign_key_file: Path) -> None:
    with pytest.raises(PasswordRequiredError, match=re.escape("cosign.key")) as info:
        LocalSigner.from_file(cosign_key_file)
    assert info.value.hint is not None
    assert PASSWORD_ENV_VAR in info.value.hint


def test_unencrypted_keys_need_no_password(ec_key: ec.EllipticCurvePrivateKey) -> None:
    LocalSigner.from_pem(_pem(ec_key, Fmt.TraditionalOpenSSL))


def test_resolve_password_encodes_text_as_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_password("pässword") == "pässword".encode()
    assert resolve_password(b"\xff") == b"\xff"
    monkeypatch.setenv(PASSWORD_ENV_VAR, "from-env")
    assert resolve_password(None) == b"from-env"


# --- malformed and unsupported ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"just text",
        b"-----BEGIN PRIVATE KEY-----\n%%%\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    ],
    ids=["empty", "text", "bad-base64", "bad-der", "certificate", "openssh"],
)
def test_malformed_input_raises_key_format_error(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        LocalSigner.from_pem(data)


def test_a_public_key_file_is_refused_with_a_hint(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(KeyFormatError, match=re.escape("cosign.pub")) as info:
        LocalSigner.from_pem(PublicKey(ec_key.public_key()).pem, source="cosign.pub")
    assert info.value.hint is not None
    assert "public key" in info.value.hint


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(65537, 1024),
        ec.generate_private_key(ec.SECP256K1()),
        ed448.Ed448PrivateKey.generate(),
    ],
    ids=["rsa1024", "secp256k1", "ed448"],
)
def test_unsupported_keys_raise_unsupported_algorithm(key: object) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        LocalSigner.from_pem(_pem(key, Fmt.PKCS8), source="odd.key")
    with pytest.raises(UnsupportedAlgorithmError):
        LocalSigner(key)  # type: ignore[arg-type]


def test_algorithm_override_is_validated_and_used(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = LocalSigner.from_pem(
        _pem(rsa_key, Fmt.PKCS8), algorithm=SignatureAlgorithm.RSA_PSS_SHA256
    )
    assert signer.algorithm is SignatureAlgorithm.RSA_PSS_SHA256
    public = signer.public_key()
    assert public.algorithm is SignatureAlgorithm.RSA_PSS_SHA256
    signature = signer.sign(b"m")
    assert public.verify(signature, b"m")
    assert not PublicKey(rsa_key.public_key()).verify(signature, b"m")  # PKCS#1 v1.5 default
    with pytest.raises(UnsupportedAlgorithmError):
        LocalSigner(rsa_key, SignatureAlgorithm.ECDSA_P256_SHA256)


def test_missing_file_is_a_signer_error(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match=re.escape("nope.key")):
        LocalSigner.from_file(tmp_path / "nope.key")


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.key"
    with open(path, "wb") as handle:
        handle.truncate(MAX_KEY_FILE_BYTES + 10)
    with pytest.raises(SizeLimitExceededError):
        LocalSigner.from_file(path)


# --- signing and export -------------------------------------------------------------------


def test_ecdsa_signatures_are_der(signer_for: SignerFor) -> None:
    signature = signer_for(SignatureAlgorithm.ECDSA_P521_SHA512).sign(b"m")
    decode_dss_signature(signature)


def test_private_pem_round_trips_with_and_without_password(
    signer_for: SignerFor,
) -> None:
    signer = signer_for(SignatureAlgorithm.ED25519)
    plain = signer.private_pem()
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert LocalSigner.from_pem(plain).public_key() == signer.public_key()
    encrypted = signer.private_pem(PASSWORD)
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert LocalSigner.from_pem(encrypted, PASSWORD).public_key() == signer.public_key()
    with pytest.raises(SignerError, match="empty password"):
        signer.private_pem("")


def test_repr_and_name_show_no_secret(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = _pem(ec_key, Fmt.PKCS8, PASSWORD)
    signer = LocalSigner.from_pem(pem, PASSWORD, source="cosign.key")
    scalar = ec_key.private_numbers().private_value
    secrets_ = [
        PASSWORD,
        format(scalar, "x"),
        str(scalar),
        pem.decode("ascii").splitlines()[1][:20],
        signer.private_pem().decode("ascii").splitlines()[1][:20],
    ]
    for text in (repr(signer), str(signer), signer.name):
        for secret in secrets_:
            assert secret not in text
    assert repr(signer).startswith("LocalSigner(ECDSA_P256_SHA256, name='cosign.key'")
    assert not hasattr(signer, "__dict__")


def test_generated_signers_are_named_by_key_id() -> None:
    signer = LocalSigner.generate(SignatureAlgorithm.ED25519)
    assert signer.public_key().key_id[:16] in signer.name
    assert "ed25519" in signer.name
