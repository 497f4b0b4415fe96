"""Tests for :mod:`imagesig.signers.base`: algorithms, PublicKey, protocols, the async adapter."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from imagesig.errors import KeyFormatError, SignerError, UnsupportedAlgorithmError
from imagesig.signers import (
    AsyncSigner,
    LocalSigner,
    PublicKey,
    SignatureAlgorithm,
    Signer,
    Verifier,
    as_async_signer,
)

SignerFor = Callable[[SignatureAlgorithm], LocalSigner]
ALL_ALGORITHMS = list(SignatureAlgorithm)
ECDSA_ALGORITHMS = [a for a in SignatureAlgorithm if a.key_type == "ecdsa"]
DIGEST_ALGORITHMS = [a for a in SignatureAlgorithm if a.key_type != "ed25519"]

# RFC 8032 section 7.3, test vector "Ed25519ph" (message "abc").
RFC8032_PH_SECRET = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"
RFC8032_PH_PUBLIC = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
RFC8032_PH_SIGNATURE = (
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)


def _rsa_public(bits: int) -> rsa.RSAPublicKey:
    """An RSA public key of exactly ``bits`` bits without the cost of generating a key pair."""
    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(65537, modulus).public_key()


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- SignatureAlgorithm -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "key_type", "hash_name"),
    [
        (SignatureAlgorithm.ECDSA_P256_SHA256, "ecdsa", "sha256"),
        (SignatureAlgorithm.ECDSA_P384_SHA384, "ecdsa", "sha384"),
        (SignatureAlgorithm.ECDSA_P521_SHA512, "ecdsa", "sha512"),
        (SignatureAlgorithm.RSA_PKCS1V15_SHA256, "rsa", "sha256"),
        (SignatureAlgorithm.RSA_PKCS1V15_SHA512, "rsa", "sha512"),
        (SignatureAlgorithm.RSA_PSS_SHA256, "rsa", "sha256"),
        (SignatureAlgorithm.RSA_PSS_SHA512, "rsa", "sha512"),
        (SignatureAlgorithm.ED25519, "ed25519", None),
        (SignatureAlgorithm.ED25519_PH, "ed25519", "sha512"),
    ],
)
def test_algorithm_names_its_key_type_and_hash(
    algorithm: SignatureAlgorithm, key_type: str, hash_name: str | None
) -> None:
    assert algorithm.key_type == key_type
    assert algorithm.hash_name == hash_name
    hash_algorithm = algorithm.hash_algorithm
    if hash_name is None:
        assert hash_algorithm is None
    else:
        assert hash_algorithm is not None
        assert hash_algorithm.name == hash_name


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (ec.generate_private_key(ec.SECP256R1()).public_key(), "ECDSA_P256_SHA256"),
        (ec.generate_private_key(ec.SECP384R1()).public_key(), "ECDSA_P384_SHA384"),
        (ec.generate_private_key(ec.SECP521R1()).public_key(), "ECDSA_P521_SHA512"),
        (_rsa_public(2048), "RSA_PKCS1V15_SHA256"),
        (_rsa_public(3072), "RSA_PKCS1V15_SHA256"),
        (_rsa_public(4096), "RSA_PKCS1V15_SHA256"),
        (ed25519.Ed25519PrivateKey.generate().public_key(), "ED25519"),
    ],
    ids=["p256", "p384", "p521", "rsa2048", "rsa3072", "rsa4096", "ed25519"],
)
def test_default_for_follows_cosign_defaults(key: object, expected: str) -> None:
    assert SignatureAlgorithm.default_for(key) is SignatureAlgorithm[expected]  # type: ignore[arg-type]
    assert PublicKey(key).algorithm is SignatureAlgorithm[expected]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        _rsa_public(1024),
        _rsa_public(2047),
        _rsa_public(2560),
        _rsa_public(4097),
        _rsa_public(8192),
        ec.generate_private_key(ec.SECP256K1()).public_key(),
        ec.generate_private_key(ec.SECP224R1()).public_key(),
        ed448.Ed448PrivateKey.generate().public_key(),
        x25519.X25519PrivateKey.generate().public_key(),
    ],
    ids=[
        "rsa1024",
        "rsa2047",
        "rsa2560",
        "rsa4097",
        "rsa8192",
        "secp256k1",
        "p224",
        "ed448",
        "x25519",
    ],
)
def test_unsupported_keys_are_refused(key: object) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        SignatureAlgorithm.default_for(key)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedAlgorithmError):
        PublicKey(key)  # type: ignore[arg-type]
    assert not any(algorithm.fits(key) for algorithm in SignatureAlgorithm)  # type: ignore[arg-type]


def test_unsupported_algorithm_error_is_a_signer_error() -> None:
    with pytest.raises(SignerError, match="8192 bits"):
        PublicKey(_rsa_public(8192))


def test_fits_matches_key_type_and_curve() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert SignatureAlgorithm.ECDSA_P256_SHA256.fits(p256)
    assert not SignatureAlgorithm.ECDSA_P384_SHA384.fits(p256)
    assert not SignatureAlgorithm.RSA_PSS_SHA256.fits(p256)
    rsa_key = _rsa_public(3072)
    assert all(
        algorithm.fits(rsa_key) == (algorithm.key_type == "rsa") for algorithm in SignatureAlgorithm
    )
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert SignatureAlgorithm.ED25519.fits(PublicKey(ed_key))
    assert SignatureAlgorithm.ED25519_PH.fits(ed_key)


@pytest.mark.parametrize(
    ("flag", "expected", "size"),
    [
        ("ecdsa-sha2-256-nistp256", SignatureAlgorithm.ECDSA_P256_SHA256, None),
        ("ecdsa-sha2-384-nistp384", SignatureAlgorithm.ECDSA_P384_SHA384, None),
        ("ecdsa-sha2-512-nistp521", SignatureAlgorithm.ECDSA_P521_SHA512, None),
        ("rsa-sign-pkcs1-2048-sha256", SignatureAlgorithm.RSA_PKCS1V15_SHA256, 2048),
        ("rsa-sign-pkcs1-4096-sha512", SignatureAlgorithm.RSA_PKCS1V15_SHA512, 4096),
        ("rsa-sign-pss-3072-sha256", SignatureAlgorithm.RSA_PSS_SHA256, 3072),
        ("rsa-sign-pss-sha512", SignatureAlgorithm.RSA_PSS_SHA512, None),
        ("ed25519", SignatureAlgorithm.ED25519, None),
        ("ED25519-PH", SignatureAlgorithm.ED25519_PH, None),
    ],
)
def test_from_flag_reads_sigstore_algorithm_names(
    flag: str, expected: SignatureAlgorithm, size: int | None
) -> None:
    assert SignatureAlgorithm.from_flag(flag) == (expected, size)


@pytest.mark.parametrize(
    "flag", ["rsa-sign-pkcs1-1024-sha256", "ecdsa-sha2-256-nistp384", "dsa", ""]
)
def test_from_flag_refuses_unknown_names_and_sizes(flag: str) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        SignatureAlgorithm.from_flag(flag)


# --- PublicKey: encodings -----------------------------------------------------------------


def test_pem_is_spki_in_64_columns_as_cosign_writes_it() -> None:
    key = PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
    lines = key.pem.decode("ascii").split("\n")
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-2:] == ["-----END PUBLIC KEY-----", ""]
    body = lines[1:-2]
    assert all(len(line) == 64 for line in body[:-1])
    assert 0 < len(body[-1]) <= 64
    assert base64.b64decode("".join(body)) == key.der


def test_key_id_and_cosign_hint_hash_the_der_spki() -> None:
    key = PublicKey(ed25519.Ed25519PrivateKey.generate().public_key())
    digest = hashlib.sha256(key.der).digest()
    assert key.key_id == digest.hex()
    assert key.cosign_hint == base64.standard_b64encode(digest).decode("ascii")


def test_from_pem_from_der_and_from_file_give_equal_keys(tmp_path: Path) -> None:
    key = PublicKey(ec.generate_private_key(ec.SECP384R1()).public_key())
    path = tmp_path / "cosign.pub"
    path.write_bytes(key.pem)
    assert PublicKey.from_pem(key.pem) == key
    assert PublicKey.from_pem(key.pem.decode("ascii")) == key
    assert PublicKey.from_der(key.der) == key
    assert PublicKey.from_file(path) == key
    assert PublicKey.from_file(str(path)).algorithm is SignatureAlgorithm.ECDSA_P384_SHA384


def test_from_pem_reads_the_first_block_and_ignores_surrounding_text() -> None:
    first = PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
    second = PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
    text = b"comment line\n" + first.pem + b"trailer\n" + second.pem
    assert PublicKey.from_pem(text) == first


def test_from_pem_accepts_pkcs1_rsa_public_keys() -> None:
    raw = rsa.generate_private_key(65537, 2048).public_key()
    pkcs1 = raw.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert pkcs1.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    assert PublicKey.from_pem(pkcs1) == PublicKey(raw)


def test_from_pem_refuses_a_certificate_with_a_hint() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    with pytest.raises(KeyFormatError, match="CERTIFICATE") as info:
        PublicKey.from_pem(cert.public_bytes(serialization.Encoding.PEM), source="cert.pem")
    assert info.value.hint is not None
    assert "cert.pem" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PRIVATE KEY-----\n",
    ],
    ids=["empty", "text", "bad-base64", "not-spki", "mismatched-end"],
)
def test_from_pem_refuses_malformed_input(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        PublicKey.from_pem(data)


def test_from_file_wraps_os_errors(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match=re.escape("missing.pub")):
        PublicKey.from_file(tmp_path / "missing.pub")


def test_equality_and_hash_follow_the_der_not_the_algorithm() -> None:
    raw = rsa.generate_private_key(65537, 2048).public_key()
    pkcs1 = PublicKey(raw)
    pss = PublicKey(raw, SignatureAlgorithm.RSA_PSS_SHA256)
    assert pkcs1 == pss
    assert hash(pkcs1) == hash(pss)
    assert len({pkcs1, pss}) == 1
    assert pkcs1 != PublicKey(rsa.generate_private_key(65537, 2048).public_key())
    assert pkcs1 != "not a key"


def test_algorithm_that_does_not_fit_the_key_is_refused() -> None:
    raw = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(UnsupportedAlgorithmError, match="ECDSA_P384_SHA384"):
        PublicKey(raw, SignatureAlgorithm.ECDSA_P384_SHA384)
    with pytest.raises(UnsupportedAlgorithmError):
        PublicKey.from_pem(PublicKey(raw).pem, algorithm=SignatureAlgorithm.ED25519)


def test_repr_is_short() -> None:
    key = PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
    text = repr(key)
    assert text.startswith("PublicKey(ECDSA_P256_SHA256")
    assert "BEGIN" not in text
    assert len(text) < 80


# --- PublicKey: verification --------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS, ids=lambda a: a.name)
def test_every_algorithm_round_trips(algorithm: SignatureAlgorithm, signer_for: SignerFor) -> None:
    signer = signer_for(algorithm)
    message = b"payload bytes"
    signature = signer.sign(message)
    public = signer.public_key()
    assert public.algorithm is algorithm
    assert public.verify(signature, message)
    assert public.verify(signature, message, algorithm=algorithm)
    # a fresh key from the PEM, told the algorithm, verifies too
    assert PublicKey.from_pem(public.pem, algorithm=algorithm).verify(signature, message)


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS, ids=lambda a: a.name)
def test_tampered_message_or_signature_fails_without_raising(
    algorithm: SignatureAlgorithm, signer_for: SignerFor
) -> None:
    signer = signer_for(algorithm)
    message = b"payload bytes"
    signature = signer.sign(message)
    public = signer.public_key()
    assert not public.verify(signature, _flip(message))
    assert not public.verify(signature, message + b"\n")
    assert not public.verify(_flip(signature, len(signature) // 2), message)
    assert not public.verify(_flip(signature, len(signature) - 1), message)
    assert not public.verify(signature[:-1], message)
    assert not public.verify(signature + b"\x00", message)
    assert not public.verify(b"", message)
    assert not public.verify(b"\x30\x00", message)
    assert not public.verify(secrets.token_bytes(len(signature)), message)


def test_other_key_does_not_verify(signer_for: SignerFor) -> None:
    signature = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256).sign(b"m")
    other = PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert not other.verify(signature, b"m")


@pytest.mark.parametrize("algorithm", ECDSA_ALGORITHMS, ids=lambda a: a.name)
def test_ecdsa_signs_der_and_verify_accepts_p1363(
    algorithm: SignatureAlgorithm, signer_for: SignerFor
) -> None:
    signer = signer_for(algorithm)
    public = signer.public_key()
    assert isinstance(public.key, ec.EllipticCurvePublicKey)
    size = (public.key.curve.key_size + 7) // 8
    signature = signer.sign(b"message")
    r, s = decode_dss_signature(signature)  # DER, or this raises
    p1363 = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert public.verify(p1363, b"message")
    assert not public.verify(p1363, b"other message")
    assert not public.verify(p1363[:-1], b"message")
    assert not public.verify(p1363 + b"\x00\x00", b"message")


def test_pss_and_pkcs1_signatures_are_not_interchangeable(signer_for: SignerFor) -> None:
    pss = signer_for(SignatureAlgorithm.RSA_PSS_SHA256)
    signature = pss.sign(b"m")
    public = pss.public_key()
    assert public.verify(signature, b"m")
    assert not public.verify(signature, b"m", algorithm=SignatureAlgorithm.RSA_PKCS1V15_SHA256)
    assert not public.verify(signature, b"m", algorithm=SignatureAlgorithm.RSA_PSS_SHA512)


def test_pss_verification_accepts_any_salt_length(signer_for: SignerFor) -> None:
    signer = signer_for(SignatureAlgorithm.RSA_PSS_SHA256)
    public = signer.public_key()
    private = serialization.load_pem_private_key(signer.private_pem(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    # what GCP KMS produces: salt length = digest length
    kms_style = private.sign(
        b"m",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert public.verify(kms_style, b"m")


def test_ed25519_pure_and_prehash_are_not_interchangeable(signer_for: SignerFor) -> None:
    pure = signer_for(SignatureAlgorithm.ED25519)
    pure_signature = pure.sign(b"m")
    public = pure.public_key()
    assert public.verify(pure_signature, b"m")
    assert not public.verify(pure_signature, b"m", algorithm=SignatureAlgorithm.ED25519_PH)
    ph = signer_for(SignatureAlgorithm.ED25519_PH)
    ph_signature = ph.sign(b"m")
    assert ph.public_key().verify(ph_signature, b"m")
    assert not ph.public_key().verify(ph_signature, b"m", algorithm=SignatureAlgorithm.ED25519)


def test_ed25519ph_matches_rfc8032_test_vector() -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_PH_SECRET))
    public = PublicKey(
        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(RFC8032_PH_PUBLIC)),
        SignatureAlgorithm.ED25519_PH,
    )
    signature = bytes.fromhex(RFC8032_PH_SIGNATURE)
    assert public.verify(signature, b"abc")
    assert not public.verify(signature, b"abd")
    assert LocalSigner(private, SignatureAlgorithm.ED25519_PH).sign(b"abc") == signature


def test_verify_refuses_an_algorithm_for_another_key_type(signer_for: SignerFor) -> None:
    public = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256).public_key()
    with pytest.raises(UnsupportedAlgorithmError):
        public.verify(b"sig", b"m", algorithm=SignatureAlgorithm.RSA_PKCS1V15_SHA256)
    with pytest.raises(UnsupportedAlgorithmError):
        public.verify(b"sig", b"m", algorithm=SignatureAlgorithm.ECDSA_P521_SHA512)


@pytest.mark.parametrize("algorithm", DIGEST_ALGORITHMS, ids=lambda a: a.name)
def test_verify_digest_checks_prehashed_signatures(
    algorithm: SignatureAlgorithm, signer_for: SignerFor
) -> None:
    signer = signer_for(algorithm)
    public = signer.public_key()
    assert algorithm.hash_name is not None
    message = b"the payload"
    digest = hashlib.new(algorithm.hash_name, message).digest()
    signature = signer.sign(message)
    assert public.verify_digest(signature, digest)
    assert public.verify_digest(signature, digest, algorithm)
    assert not public.verify_digest(signature, _flip(digest))
    assert not public.verify_digest(_flip(signature, 10), digest)
    assert not public.verify_digest(signature, digest[:-1])
    assert not public.verify_digest(signature, hashlib.sha1(message).digest())


@pytest.mark.parametrize(
    "algorithm", [SignatureAlgorithm.ED25519, SignatureAlgorithm.ED25519_PH], ids=lambda a: a.name
)
def test_verify_digest_refuses_ed25519(
    algorithm: SignatureAlgorithm, signer_for: SignerFor
) -> None:
    public = signer_for(algorithm).public_key()
    with pytest.raises(UnsupportedAlgorithmError, match="verify"):
        public.verify_digest(b"\x00" * 64, hashlib.sha512(b"m").digest())


# --- protocols and the async adapter -----------------------------------------------------


def test_local_signer_and_public_key_satisfy_the_protocols(signer_for: SignerFor) -> None:
    signer = signer_for(SignatureAlgorithm.ECDSA_P256_SHA256)
    assert isinstance(signer, Signer)
    public = signer.public_key()
    assert isinstance(public, Verifier)
    assert public.public_key() is public


@pytest.mark.parametrize("offload", [True, False])
async def test_as_async_signer_adapts_a_sync_signer(offload: bool, signer_for: SignerFor) -> None:
    signer = signer_for(SignatureAlgorithm.ECDSA_P384_SHA384)
    adapted = as_async_signer(signer, offload=offload)
    assert isinstance(adapted, AsyncSigner)
    assert adapted.name == signer.name
    assert adapted.algorithm is SignatureAlgorithm.ECDSA_P384_SHA384
    public = await adapted.public_key()
    assert public == signer.public_key()
    signature = await adapted.sign(b"async payload")
    assert public.verify(signature, b"async payload")
    assert "as_async_signer" in repr(adapted)


async def test_as_async_signer_returns_an_async_signer_unchanged(signer_for: SignerFor) -> None:
    adapted = as_async_signer(signer_for(SignatureAlgorithm.ECDSA_P256_SHA256))
    assert as_async_signer(adapted) is adapted
