"""Cloud KMS signing and verification against a loopback KMS server with real keys.

The real ``google-cloud-kms`` client (sync and asyncio) talks gRPC to
:class:`tests.support.kms_server.FakeKMS` over an insecure loopback channel. Faults follow
the bad-input list (advisories 36-37): damaged checksums, answers for another key version,
algorithm mismatches, disabled versions, refusals and outages. Whatever fails, no signature
that does not verify is ever returned or stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from google.auth import credentials as ga_credentials
from google.auth.exceptions import RefreshError
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service import transports
from google.oauth2.credentials import Credentials as TokenCredentials
from tests.support.kms_server import FakeKMS, State
from tests.support.oci_content import image

from imagesig import Client, OCILayoutStore, SignatureFormat, TransparencyLogOptions
from imagesig.errors import (
    KeyFormatError,
    KMSError,
    KMSIntegrityError,
    KMSKeyNotFoundError,
    KMSKeyStateError,
    KMSPermissionError,
    KMSUnavailableError,
    SignerError,
    UnsupportedAlgorithmError,
)
from imagesig.reference import ImageReference
from imagesig.signers import (
    AsyncSigner,
    PublicKey,
    SignatureAlgorithm,
    Signer,
    async_signer_from_uri,
    async_verifier_from_uri,
    signer_from_uri,
    verifier_from_uri,
)
from imagesig.signers.gcpkms import (
    ENDPOINT_ENV_VAR,
    INTEGRITY_ATTEMPTS,
    SUPPORTED_KMS_ALGORITHMS,
    AsyncGcpKmsSigner,
    GcpKmsSigner,
    KeyReference,
    async_create_key,
    async_fetch_public_key,
    create_key,
    fetch_public_key,
    kms_algorithm,
)

KEY = "projects/p/locations/global/keyRings/ring/cryptoKeys/cosign"
FAST = {"attempts": 3, "backoff": 0.01, "timeout": 5.0}


@pytest.fixture
def kms() -> Iterator[FakeKMS]:
    with FakeKMS() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_ambient_google(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loopback endpoint must never consult Application Default Credentials: make any
    # attempt fail loudly instead of finding a developer's gcloud login.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
    monkeypatch.delenv(ENDPOINT_ENV_VAR, raising=False)


def signer(kms: FakeKMS, uri: str, **options: Any) -> GcpKmsSigner:
    return GcpKmsSigner(uri, endpoint=kms.endpoint, **{**FAST, **options})


def async_signer(kms: FakeKMS, uri: str, **options: Any) -> AsyncGcpKmsSigner:
    return AsyncGcpKmsSigner(uri, endpoint=kms.endpoint, **{**FAST, **options})


def sign_requests(kms: FakeKMS) -> list[Any]:
    return [call.request for call in kms.calls if call.method == "AsymmetricSign"]


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(SUPPORTED_KMS_ALGORITHMS))
def test_every_supported_algorithm_round_trips(kms: FakeKMS, algorithm: str) -> None:
    uri = kms.add_key(f"{KEY}-{algorithm.lower()}", algorithm)
    expected = SUPPORTED_KMS_ALGORITHMS[algorithm]
    short_form = uri.replace("/cryptoKeyVersions/", "/versions/")
    with signer(kms, short_form) as key:
        payload = b'{"critical":{"type":"cosign container image signature"}}'
        signature = key.sign(payload)
        assert key.algorithm is expected
        assert isinstance(key, Signer)
        public = key.public_key()
    assert public.algorithm is expected
    assert public.pem == kms.public_key_pem(uri)
    assert public.verify(signature, payload)
    assert not public.verify(signature, payload + b" ")
    assert public.verify_digest(signature, hashlib.new(expected.hash_name or "", payload).digest())
    # The verifier a policy builds from the same reference, with no signing rights needed.
    verifier = verifier_from_uri(short_form, endpoint=kms.endpoint)
    assert verifier.public_key() == public
    assert verifier.verify(signature, payload)
    # Only the digest travelled, with its checksum.
    (request,) = sign_requests(kms)
    assert request.data == b""
    digest_field = kms_v1.Digest.pb(request.digest).WhichOneof("digest")
    assert digest_field == expected.hash_name
    assert getattr(request.digest, digest_field) == hashlib.new(digest_field, payload).digest()
    assert "digest_crc32c" in request


def test_signatures_follow_cosigns_conventions(kms: FakeKMS) -> None:
    """What ``cosign verify --key cosign.pub`` does with a KMS signature: ECDSA P-256 in DER
    over the payload bytes with SHA-256; bundles name the key by the hint of its SPKI."""
    uri = kms.add_key(KEY)
    payload = (
        b'{"critical":{"identity":{"docker-reference":"registry.example.com/app"},"image":'
        b'{"docker-manifest-digest":"sha256:' + b"0" * 64 + b'"},"type":"cosign container '
        b'image signature"},"optional":null}'
    )
    with signer(kms, uri) as key:
        signature = key.sign(payload)
        public = key.public_key()
    decode_dss_signature(signature)  # DER, as the .sig annotation carries it (base64)
    exported = serialization.load_pem_public_key(public.pem)  # what `public-key` writes
    assert isinstance(exported, ec.EllipticCurvePublicKey)
    exported.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    assert PublicKey.from_pem(public.pem).verify(signature, payload)
    der = exported.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.cosign_hint == base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_rsa_pss_signatures_use_digest_length_salts(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "RSA_SIGN_PSS_2048_SHA256")
    with signer(kms, uri) as key:
        signature = key.sign(b"payload")
        raw = key.public_key().key
    assert isinstance(raw, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    raw.verify(signature, b"payload", pss, hashes.SHA256())
    with pytest.raises(InvalidSignature):  # an exported PEM assumes PKCS#1 v1.5, as cosign does
        raw.verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA256())


def test_one_asymmetric_sign_per_signature_after_the_first(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    with signer(kms, uri) as key:
        for number in range(20):
            key.sign(b"image %d" % number)
    assert kms.counts == {"GetCryptoKeyVersion": 1, "GetPublicKey": 1, "AsymmetricSign": 20}


async def test_async_signer_loads_once_under_concurrency(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "EC_SIGN_P384_SHA384")
    key = async_signer(kms, uri)
    messages = [b"image %d" % number for number in range(16)]
    signatures = await asyncio.gather(*(key.sign(message) for message in messages))
    public = await key.public_key()
    assert key.algorithm is SignatureAlgorithm.ECDSA_P384_SHA384
    assert isinstance(key, AsyncSigner)  # (on Python < 3.12 this reads .algorithm)
    assert all(public.verify(sig, msg) for sig, msg in zip(signatures, messages, strict=True))
    assert kms.counts == {"GetCryptoKeyVersion": 1, "GetPublicKey": 1, "AsymmetricSign": 16}
    await key.aclose()


async def test_async_references_resolve_to_the_async_client(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "RSA_SIGN_PKCS1_2048_SHA256")
    key = async_signer_from_uri(uri, endpoint=kms.endpoint)
    assert isinstance(key, AsyncGcpKmsSigner)
    signature = await key.sign(b"m")
    verifier = await async_verifier_from_uri(uri, endpoint=kms.endpoint)
    assert verifier.verify(signature, b"m")
    assert await async_fetch_public_key(uri, endpoint=kms.endpoint) == verifier.public_key()


def test_the_endpoint_comes_from_the_environment(
    kms: FakeKMS, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)
    monkeypatch.setenv(ENDPOINT_ENV_VAR, f"http://{kms.endpoint}")
    key = signer_from_uri(uri)
    assert isinstance(key, GcpKmsSigner)
    assert key.public_key().verify(key.sign(b"m"), b"m")
    assert kms.endpoint in repr(key)


def test_an_injected_client_is_used_as_is(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    channel = grpc.insecure_channel(kms.endpoint)
    client = kms_v1.KeyManagementServiceClient(
        transport=transports.KeyManagementServiceGrpcTransport(channel=channel)
    )
    with GcpKmsSigner(uri, client=client, endpoint="kms.invalid:1") as key:
        assert key.public_key().verify(key.sign(b"m"), b"m")
    client.get_public_key(name=uri.removeprefix("gcpkms://"))  # the signer left it open
    channel.close()


async def test_an_injected_async_client_is_used_as_is(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    channel = grpc.aio.insecure_channel(kms.endpoint)
    client = kms_v1.KeyManagementServiceAsyncClient(
        transport=transports.KeyManagementServiceGrpcAsyncIOTransport(channel=channel)
    )
    key = AsyncGcpKmsSigner(uri, client=client)
    assert (await key.public_key()).verify(await key.sign(b"m"), b"m")
    await channel.close()


# -- key references and versions -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/3",
        "gcpkms:projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
        "projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/3",
        "GCPKMS://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/3",
    ],
)
def test_key_references_accept_every_spelling(text: str) -> None:
    reference = KeyReference.parse(text)
    assert reference == KeyReference("p", "global", "r", "k", "3")
    assert reference.uri == (
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3"
    )
    assert reference.key_ring_name == "projects/p/locations/global/keyRings/r"


@pytest.mark.parametrize(
    "text",
    [
        "gcpkms://projects/p/locations/global/keyRings/r",
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/",
        "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/1/extra",
        "gcpkms://p/l/r/k",
        "awskms:///alias/x",
    ],
)
def test_malformed_key_references_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError, match="not a Cloud KMS key reference"):
        KeyReference.parse(text)
    if text.startswith("gcpkms"):
        with pytest.raises(KeyFormatError):
            signer_from_uri(text)


def test_without_a_version_the_highest_enabled_number_wins(kms: FakeKMS) -> None:
    kms.add_key(KEY, versions=11)
    kms.set_state(f"{KEY}/cryptoKeyVersions/11", State.DISABLED)
    kms.list_page_size = 3  # the client follows the pages
    with signer(kms, f"gcpkms://{KEY}") as key:
        key.sign(b"m")
        assert key.key_version == f"{KEY}/cryptoKeyVersions/10"  # 10 > 9, numerically
        assert key.name == f"gcpkms://{KEY}/cryptoKeyVersions/10"
    assert kms.counts["ListCryptoKeyVersions"] == 4
    assert kms.counts["GetCryptoKeyVersion"] == 0
    assert sign_requests(kms)[0].name == f"{KEY}/cryptoKeyVersions/10"


def test_a_key_without_enabled_versions_is_refused(kms: FakeKMS) -> None:
    kms.add_key(KEY, versions=2)
    for number in (1, 2):
        kms.set_state(f"{KEY}/cryptoKeyVersions/{number}", State.DISABLED)
    with pytest.raises(KMSKeyStateError, match="no enabled key version"):
        signer(kms, f"gcpkms://{KEY}").sign(b"m")
    assert kms.counts["AsymmetricSign"] == 0


# -- integrity (advisory 36) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("signature_crc32c", "does not match its signature_crc32c"),
        ("unverified_digest", "verified_digest_crc32c=false"),
        ("wrong_name", "the response is for"),
        ("bad_signature", "does not verify with the key version's public key"),
    ],
)
def test_damaged_sign_responses_are_retried_then_refused(
    kms: FakeKMS, fault: str, reason: str
) -> None:
    uri = kms.add_key(KEY)
    key = signer(kms, uri)
    kms.inject("AsymmetricSign", fault, times=INTEGRITY_ATTEMPTS - 1)
    signature = key.sign(b"payload")
    assert key.public_key().verify(signature, b"payload")
    assert kms.counts["AsymmetricSign"] == INTEGRITY_ATTEMPTS

    kms.reset_calls()
    kms.inject("AsymmetricSign", fault, times=None)
    with pytest.raises(KMSIntegrityError, match=reason) as caught:
        key.sign(b"payload")
    assert kms.counts["AsymmetricSign"] == INTEGRITY_ATTEMPTS
    assert caught.value.context["key"] == uri
    assert "no signature was produced" in (caught.value.hint or "")


def test_a_digest_damaged_on_the_way_is_resent(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.fail(
        "AsymmetricSign",
        grpc.StatusCode.INVALID_ARGUMENT,
        message="The checksum in field digest_crc32c did not match the data in field digest.",
    )
    with signer(kms, uri) as key:
        assert key.public_key().verify(key.sign(b"m"), b"m")
    assert kms.counts["AsymmetricSign"] == 2


async def test_async_signing_checks_integrity_too(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    key = async_signer(kms, uri)
    kms.inject("AsymmetricSign", "signature_crc32c", times=1)
    assert (await key.public_key()).verify(await key.sign(b"m"), b"m")
    kms.inject("AsymmetricSign", "wrong_name", times=None)
    with pytest.raises(KMSIntegrityError):
        await key.sign(b"m")


# -- refusing before signing (advisory 37) ----------------------------------------------------


def test_a_damaged_public_key_is_retried_then_refused(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.inject("GetPublicKey", "pem_crc32c", times=1)
    assert signer(kms, uri).public_key().pem == kms.public_key_pem(uri)
    kms.reset_calls()
    kms.inject("GetPublicKey", "pem_crc32c", times=None)
    with pytest.raises(KMSIntegrityError, match="pem_crc32c"):
        signer(kms, uri).sign(b"m")
    assert kms.counts["GetPublicKey"] == INTEGRITY_ATTEMPTS
    assert kms.counts["AsymmetricSign"] == 0
    kms.clear_faults()
    kms.inject("GetPublicKey", "wrong_name", times=None)
    with pytest.raises(KMSIntegrityError, match="the response is for"):
        fetch_public_key(uri, endpoint=kms.endpoint, **FAST)


def test_a_p384_key_is_not_asked_to_sign_a_sha256_digest(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "EC_SIGN_P384_SHA384")
    for wanted in (SignatureAlgorithm.ECDSA_P256_SHA256, "ecdsa-sha2-256-nistp256"):
        with pytest.raises(UnsupportedAlgorithmError, match="cannot sign ECDSA_P256_SHA256"):
            signer(kms, uri, algorithm=wanted).sign(b"m")
    assert kms.counts["AsymmetricSign"] == 0
    assert kms.counts["GetPublicKey"] == 0  # refused on the version's metadata alone
    matching = signer(kms, uri, algorithm=SignatureAlgorithm.ECDSA_P384_SHA384)
    assert matching.public_key().verify(matching.sign(b"m"), b"m")


def test_the_server_refuses_a_digest_of_the_wrong_hash_as_well(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "EC_SIGN_P384_SHA384")
    client = kms_v1.KeyManagementServiceClient(
        transport=transports.KeyManagementServiceGrpcTransport(
            channel=grpc.insecure_channel(kms.endpoint)
        )
    )
    digest = hashlib.sha256(b"m").digest()
    with pytest.raises(Exception, match="does not match the algorithm"):
        client.asymmetric_sign(
            name=uri.removeprefix("gcpkms://"), digest=kms_v1.Digest(sha256=digest)
        )


def test_metadata_that_lies_about_the_algorithm_is_caught_before_signing(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "EC_SIGN_P384_SHA384")
    kms.misreport_algorithm(uri, "EC_SIGN_P256_SHA256")
    with pytest.raises(KMSIntegrityError, match="not a EC_SIGN_P256_SHA256 key"):
        signer(kms, uri).sign(b"m")
    assert kms.counts["AsymmetricSign"] == 0


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (State.DISABLED, "is disabled"),
        (State.DESTROYED, "is destroyed"),
        (State.DESTROY_SCHEDULED, "scheduled for destruction"),
        (State.PENDING_GENERATION, "still being generated"),
    ],
)
def test_versions_that_are_not_enabled_are_refused_before_signing(
    kms: FakeKMS, state: int, words: str
) -> None:
    uri = kms.add_key(KEY)
    kms.set_state(uri, state)
    with pytest.raises(KMSKeyStateError, match=words) as caught:
        signer(kms, uri).sign(b"m")
    assert caught.value.context["state"] == State(state).name
    assert kms.counts == {"GetCryptoKeyVersion": 1}
    with pytest.raises(KMSKeyStateError):
        verifier_from_uri(uri, endpoint=kms.endpoint)


@pytest.mark.parametrize("algorithm", ["EC_SIGN_SECP256K1_SHA256", "EC_SIGN_ED25519"])
def test_algorithms_cosign_cannot_verify_are_refused(kms: FakeKMS, algorithm: str) -> None:
    uri = kms.add_key(KEY, algorithm)
    with pytest.raises(UnsupportedAlgorithmError, match="which cosign cannot verify"):
        signer(kms, uri).sign(b"m")
    with pytest.raises(UnsupportedAlgorithmError):
        verifier_from_uri(uri, endpoint=kms.endpoint)
    assert kms.counts["AsymmetricSign"] == 0


def test_a_version_disabled_after_loading_is_refused_by_the_service(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    key = signer(kms, uri)
    key.sign(b"m")
    kms.set_state(uri, State.DISABLED)
    with pytest.raises(KMSKeyStateError, match="FAILED_PRECONDITION"):
        key.sign(b"m")


# -- refusals and outages -----------------------------------------------------------------------


def test_permission_denied_names_the_signing_role(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.fail("AsymmetricSign", grpc.StatusCode.PERMISSION_DENIED, times=None)
    with pytest.raises(KMSPermissionError) as caught:
        signer(kms, uri).sign(b"m")
    error = caught.value
    assert "roles/cloudkms.signerVerifier" in str(error)
    assert "roles/cloudkms.signerVerifier" in (error.hint or "")
    assert error.context["key"] == uri
    assert error.context["status"] == "PERMISSION_DENIED"
    assert kms.counts["AsymmetricSign"] == 1  # not retried


def test_permission_denied_when_verifying_names_the_viewer_and_verifier_roles(
    kms: FakeKMS,
) -> None:
    uri = kms.add_key(KEY)
    kms.fail("GetPublicKey", grpc.StatusCode.PERMISSION_DENIED, times=None)
    with pytest.raises(KMSPermissionError, match=r"roles/cloudkms\.viewer and roles/cloudkms\."):
        verifier_from_uri(uri, endpoint=kms.endpoint)


def test_signing_works_without_permission_to_read_version_metadata(kms: FakeKMS) -> None:
    """roles/cloudkms.signerVerifier alone cannot GetCryptoKeyVersion: sign anyway."""
    uri = kms.add_key(KEY)
    kms.fail("GetCryptoKeyVersion", grpc.StatusCode.PERMISSION_DENIED, times=None)
    with signer(kms, uri) as key:
        assert key.public_key().verify(key.sign(b"m"), b"m")
    kms.set_state(uri, State.DISABLED)  # the service still refuses it at GetPublicKey
    with pytest.raises(KMSKeyStateError, match="not enabled"):
        signer(kms, uri).sign(b"m")


def test_a_missing_key_is_named(kms: FakeKMS) -> None:
    uri = f"gcpkms://{KEY}/cryptoKeyVersions/7"
    with pytest.raises(KMSKeyNotFoundError, match="not found") as caught:
        signer(kms, uri).sign(b"m")
    assert caught.value.context["key"] == uri


def test_unavailable_then_success_is_retried(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.fail("GetCryptoKeyVersion", grpc.StatusCode.UNAVAILABLE, times=1)
    kms.fail("AsymmetricSign", grpc.StatusCode.UNAVAILABLE, times=2)
    kms.fail("GetPublicKey", grpc.StatusCode.DEADLINE_EXCEEDED, times=1)
    with signer(kms, uri, attempts=3) as key:
        assert key.public_key().verify(key.sign(b"m"), b"m")
    assert kms.counts == {"GetCryptoKeyVersion": 2, "GetPublicKey": 2, "AsymmetricSign": 3}


def test_unavailable_forever_gives_up_after_the_allowed_attempts(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    key = signer(kms, uri, attempts=4, backoff=0.02)
    key.public_key()
    kms.fail("AsymmetricSign", grpc.StatusCode.UNAVAILABLE, times=None)
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="gave up after 4 attempts") as caught:
        key.sign(b"m")
    assert time.monotonic() - started < 2
    assert kms.counts["AsymmetricSign"] == 4
    assert isinstance(caught.value, KMSError)


async def test_async_unavailable_is_bounded_too(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.fail("GetCryptoKeyVersion", grpc.StatusCode.UNAVAILABLE, times=None)
    with pytest.raises(KMSUnavailableError):
        await async_signer(kms, uri).sign(b"m")
    assert kms.counts["GetCryptoKeyVersion"] == FAST["attempts"]


def test_a_dead_endpoint_is_reported_as_unavailable(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    address = kms.endpoint
    kms.stop()
    with pytest.raises(KMSUnavailableError):
        GcpKmsSigner(uri, endpoint=address, attempts=2, backoff=0.01, timeout=2).sign(b"m")


# -- endpoint and credentials --------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["http://kms.example.com:8080", "ftp://127.0.0.1:1", "127.0.0.1:1/path", ""]
)
def test_bad_endpoints_are_refused_up_front(endpoint: str) -> None:
    with pytest.raises(SignerError, match="endpoint"):
        GcpKmsSigner(f"gcpkms://{KEY}/versions/1", endpoint=endpoint or " ")


def test_a_tls_endpoint_uses_application_default_credentials() -> None:
    key = GcpKmsSigner(f"gcpkms://{KEY}/versions/1", endpoint="https://127.0.0.1:1")
    with pytest.raises(KMSPermissionError, match="no Google credentials found") as caught:
        key.sign(b"m")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in (caught.value.hint or "")


def test_bearer_tokens_are_sent_when_credentials_are_given(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token("token-1")
    with pytest.raises(KMSPermissionError, match="UNAUTHENTICATED"):
        signer(kms, uri).sign(b"m")
    with signer(kms, uri, credentials=TokenCredentials(token="token-1")) as key:
        key.sign(b"m")
    assert kms.calls[-1].metadata["authorization"] == "Bearer token-1"
    with pytest.raises(KMSPermissionError):
        signer(kms, uri, credentials=TokenCredentials(token="token-2")).sign(b"m")


class RefreshingCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    """Credentials that mint a token on refresh (as metadata-server credentials do)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        if self.fail:
            raise RefreshError("metadata server answered 403 for the service account")
        self.token = f"minted-{self.refreshes}"


def test_credentials_are_refreshed_before_the_first_call(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token(lambda token: token.startswith("minted-"))
    credentials = RefreshingCredentials()
    with signer(kms, uri, credentials=credentials) as key:
        key.sign(b"a")
        key.sign(b"b")
    assert credentials.refreshes == 1


async def test_async_signing_sends_bearer_tokens(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token(lambda token: token.startswith("minted-"))
    credentials = RefreshingCredentials()
    key = async_signer(kms, uri, credentials=credentials)
    await asyncio.gather(*(key.sign(b"%d" % n) for n in range(4)))
    assert credentials.refreshes == 1


def test_a_refused_token_is_a_permission_error_not_an_outage(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY)
    started = time.monotonic()
    with pytest.raises(KMSPermissionError, match="could not obtain an access token") as caught:
        signer(kms, uri, credentials=RefreshingCredentials(fail=True), attempts=5).sign(b"m")
    assert time.monotonic() - started < 3
    assert isinstance(caught.value.__cause__, RefreshError)
    assert kms.calls == []


def test_loopback_endpoints_never_look_for_default_credentials(
    kms: FakeKMS, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)

    def no_adc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Application Default Credentials were consulted")

    monkeypatch.setattr("google.auth.default", no_adc)
    with signer(kms, uri) as key:
        key.sign(b"m")
    assert "authorization" not in kms.calls[-1].metadata


def test_default_credentials_can_be_asked_for_on_a_loopback_endpoint(
    kms: FakeKMS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an end-to-end test with a fake metadata server does (Workload Identity)."""
    uri = kms.add_key(KEY)
    kms.require_bearer_token("from-adc")
    scopes_seen: list[Any] = []

    def adc(scopes: Any = None, **kwargs: Any) -> tuple[Any, str]:
        scopes_seen.append(scopes)
        return TokenCredentials(token="from-adc"), "project"

    monkeypatch.setattr("google.auth.default", adc)
    with signer(kms, uri, credentials="default") as key:
        key.sign(b"m")
    assert scopes_seen == [["https://www.googleapis.com/auth/cloud-platform"]]


def test_anonymous_credentials_skip_the_default_lookup_over_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_adc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Application Default Credentials were consulted")

    monkeypatch.setattr("google.auth.default", no_adc)
    key = GcpKmsSigner(
        f"gcpkms://{KEY}/versions/1",
        endpoint="https://127.0.0.1:1",
        credentials="anonymous",
        attempts=1,
        timeout=2,
    )
    with pytest.raises(KMSUnavailableError):
        key.sign(b"m")
    with pytest.raises(ValueError, match="credentials must be"):
        GcpKmsSigner(f"gcpkms://{KEY}/versions/1", credentials="adc")  # type: ignore[arg-type]


# -- the async signer's algorithm ----------------------------------------------------------------


async def test_async_algorithm_is_known_once_read_or_given(kms: FakeKMS) -> None:
    uri = kms.add_key(KEY, "RSA_SIGN_PKCS1_4096_SHA512")
    key = async_signer(kms, uri)
    with pytest.raises(SignerError, match="await public_key"):
        _ = key.algorithm
    await key.public_key()
    assert key.algorithm is SignatureAlgorithm.RSA_PKCS1V15_SHA512
    given = async_signer(kms, uri, algorithm=SignatureAlgorithm.RSA_PKCS1V15_SHA512)
    assert given.algorithm is SignatureAlgorithm.RSA_PKCS1V15_SHA512


# -- creating keys --------------------------------------------------------------------------------


def test_create_key_makes_the_ring_and_key_when_missing(kms: FakeKMS) -> None:
    uri = f"gcpkms://{KEY}"
    public = create_key(uri, endpoint=kms.endpoint)
    assert kms.has_key_ring(KEY.rsplit("/cryptoKeys/", 1)[0])
    assert kms.has_key(KEY)
    assert public.algorithm is SignatureAlgorithm.ECDSA_P256_SHA256  # the default
    assert public.pem == kms.public_key_pem(f"{KEY}/cryptoKeyVersions/1")
    creates = {name: kms.counts[name] for name in ("CreateKeyRing", "CreateCryptoKey")}
    assert creates == {"CreateKeyRing": 1, "CreateCryptoKey": 1}
    # A second run finds everything in place and returns the same key.
    kms.reset_calls()
    assert create_key(uri, "RSA_SIGN_PSS_2048_SHA256", endpoint=kms.endpoint) == public
    assert "CreateKeyRing" not in kms.counts
    assert "CreateCryptoKey" not in kms.counts
    # ... and the key signs.
    with signer(kms, f"{uri}/versions/1") as key:
        assert public.verify(key.sign(b"m"), b"m")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("rsa-sign-pss-2048-sha256", SignatureAlgorithm.RSA_PSS_SHA256),
        ("ecdsa-p384-sha384", SignatureAlgorithm.ECDSA_P384_SHA384),
        (SignatureAlgorithm.RSA_PKCS1V15_SHA256, SignatureAlgorithm.RSA_PKCS1V15_SHA256),
    ],
)
def test_create_key_takes_any_spelling_of_the_algorithm(
    kms: FakeKMS, algorithm: Any, expected: SignatureAlgorithm
) -> None:
    public = create_key(f"gcpkms://{KEY}", algorithm, endpoint=kms.endpoint, rsa_key_size=None)
    assert public.algorithm is expected


async def test_async_create_key_also_tolerates_an_existing_ring(kms: FakeKMS) -> None:
    kms.add_key(f"{KEY.rsplit('/cryptoKeys/', 1)[0]}/cryptoKeys/other")
    public = await async_create_key(f"gcpkms://{KEY}", endpoint=kms.endpoint)
    assert kms.counts["CreateKeyRing"] == 0
    assert public.pem == kms.public_key_pem(f"{KEY}/cryptoKeyVersions/1")


def test_create_key_names_the_admin_role_when_refused(kms: FakeKMS) -> None:
    kms.fail("CreateKeyRing", grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(KMSPermissionError, match=r"roles/cloudkms\.admin"):
        create_key(f"gcpkms://{KEY}", endpoint=kms.endpoint)


def test_create_key_survives_a_concurrent_creator(kms: FakeKMS) -> None:
    kms.fail("CreateKeyRing", grpc.StatusCode.ALREADY_EXISTS)
    kms.add_key(f"{KEY.rsplit('/cryptoKeys/', 1)[0]}/cryptoKeys/other")  # the ring exists now
    kms.fail("GetKeyRing", grpc.StatusCode.NOT_FOUND)  # ... but we looked before it did
    assert create_key(f"gcpkms://{KEY}", endpoint=kms.endpoint).pem


def test_create_key_refuses_a_key_for_another_purpose(kms: FakeKMS) -> None:
    kms.add_key(KEY, purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT)
    with pytest.raises(KMSKeyStateError, match="not ASYMMETRIC_SIGN"):
        create_key(f"gcpkms://{KEY}", endpoint=kms.endpoint)


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("EC_SIGN_P256_SHA256", None, "EC_SIGN_P256_SHA256"),
        ("ec_sign_p384_sha384", None, "EC_SIGN_P384_SHA384"),
        ("ecdsa-sha2-256-nistp256", None, "EC_SIGN_P256_SHA256"),
        ("rsa-pkcs1v15-4096-sha512", None, "RSA_SIGN_PKCS1_4096_SHA512"),
        ("rsa-sign-pkcs1-2048-sha256", None, "RSA_SIGN_PKCS1_2048_SHA256"),
        ("rsa-sign-pss-sha256", None, "RSA_SIGN_PSS_3072_SHA256"),
        ("rsa-sign-pss-sha512", None, "RSA_SIGN_PSS_4096_SHA512"),
        (SignatureAlgorithm.RSA_PKCS1V15_SHA256, 4096, "RSA_SIGN_PKCS1_4096_SHA256"),
    ],
)
def test_kms_algorithm_names(value: Any, size: int | None, expected: str) -> None:
    assert kms_algorithm(value, rsa_key_size=size) == expected


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("ed25519", None),
        ("ecdsa-sha2-512-nistp521", None),
        ("rsa-sign-pkcs1-2048-sha512", None),
        ("ecdsa-sha2-256-nistp256", 2048),
        ("EC_SIGN_SECP256K1_SHA256", None),
        ("no-such-algorithm", None),
    ],
)
def test_kms_algorithm_refuses_what_cosign_and_kms_do_not_share(
    value: str, size: int | None
) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        kms_algorithm(value, rsa_key_size=size)


# -- end to end: nothing invalid is ever stored --------------------------------------------------


def test_signing_images_with_kms_never_stores_a_bad_signature(kms: FakeKMS, tmp_path: Path) -> None:
    uri = kms.add_key(KEY)
    reference = ImageReference.parse("registry.example.com/team/app:1.0")
    content = image("kms")
    tlog = TransparencyLogOptions(upload=False, ignore=True)
    with Client(store=OCILayoutStore(tmp_path), tlog=tlog) as client:
        for blob in content.blobs:
            client.push_blob(reference.repository, blob)
        client.push_manifest(reference.repository, content.manifest, tag=reference.tag)
        key = signer(kms, uri)
        for fault in ("signature_crc32c", "bad_signature", "wrong_name"):
            kms.inject("AsymmetricSign", fault, times=None)
            for fmt in SignatureFormat:
                with pytest.raises(KMSIntegrityError):
                    client.sign_image(reference, key, format=fmt)
            kms.clear_faults()
        assert client.list_signatures(reference) == []
        for fmt in SignatureFormat:
            client.sign_image(reference, key, format=fmt)
        public = fetch_public_key(uri, endpoint=kms.endpoint)
        result = client.verify_image(reference, [public])
    assert result.verified
    assert len(result.signatures) == 2
