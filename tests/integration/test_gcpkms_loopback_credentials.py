"""Which credentials a plaintext loopback Cloud KMS endpoint is sent when none are given.

The rule (see :mod:`imagesig.signers.gcpkms`): the metadata server's token when
``GCE_METADATA_HOST`` names one (and ``NO_GCE_CHECK`` is not ``true``), nothing otherwise —
never a credentials file's or gcloud's token. The metadata fake is reached by the real
google-auth and the KMS fake by the real google-cloud-kms client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.metadata_server import (
    MetadataServer,
    clear_ambient_environment,
    point_google_auth_at,
)

from imagesig.errors import KMSPermissionError
from imagesig.signers.gcpkms import (
    ENDPOINT_ENV_VAR,
    AsyncGcpKmsSigner,
    GcpKmsSigner,
    create_key,
    fetch_public_key,
)
from imagesig.signers.uri import signer_from_uri, verifier_from_uri

kms_server = pytest.importorskip("tests.support.kms_server")

KEY = "projects/test-project/locations/global/keyRings/test/cryptoKeys/cosign"
FAST = {"attempts": 2, "backoff": 0.01, "timeout": 5.0}


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv(ENDPOINT_ENV_VAR, raising=False)
    with kms_server.FakeKMS() as fake:
        yield fake


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        point_google_auth_at(server, monkeypatch, tmp_path)
        yield server


def _no_adc(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Application Default Credentials were consulted")

    monkeypatch.setattr("google.auth.default", refuse)


def _authorizations(kms: Any) -> set[str | None]:
    return {call.metadata.get("authorization") for call in kms.calls}


def test_the_metadata_servers_token_is_sent_with_nothing_else_configured(
    kms: Any, metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token(metadata.access_token)
    _no_adc(monkeypatch)  # the metadata server is asked directly, not through ADC's search
    with GcpKmsSigner(uri, endpoint=kms.endpoint, **FAST) as key:
        signature = key.sign(b"payload")
        key.sign(b"another payload")
        assert key.public_key().verify(signature, b"payload")
    assert _authorizations(kms) == {f"Bearer {metadata.access_token}"}
    assert len(metadata.requests_to("/token")) == 1  # refreshed once, then reused
    assert all(request.flavor for request in metadata.requests)


def test_references_and_the_endpoint_variable_get_it_too(
    kms: Any, metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token(metadata.access_token)
    monkeypatch.setenv(ENDPOINT_ENV_VAR, kms.endpoint)
    signer = signer_from_uri(uri)
    assert signer.public_key() == verifier_from_uri(uri).public_key()
    assert fetch_public_key(uri) == signer.public_key()
    created = create_key(f"gcpkms://{KEY}-new", "EC_SIGN_P384_SHA384")
    assert created.algorithm.name == "ECDSA_P384_SHA384"


async def test_the_async_signer_sends_it(kms: Any, metadata: MetadataServer) -> None:
    uri = kms.add_key(KEY)
    kms.require_bearer_token(metadata.access_token)
    key = AsyncGcpKmsSigner(uri, endpoint=kms.endpoint, **FAST)
    try:
        signature = await key.sign(b"payload")
        assert (await key.public_key()).verify(signature, b"payload")
    finally:
        await key.aclose()
    assert _authorizations(kms) == {f"Bearer {metadata.access_token}"}


def test_a_refused_token_is_reported_before_kms_is_called(
    kms: Any, metadata: MetadataServer
) -> None:
    uri = kms.add_key(KEY)
    metadata.token_status = 403
    with pytest.raises(KMSPermissionError, match="could not obtain an access token") as caught:
        GcpKmsSigner(uri, endpoint=kms.endpoint, **FAST).sign(b"m")
    assert "roles/iam.workloadIdentityUser" in (caught.value.hint or "")
    assert metadata.access_token not in caught.value.diagnostics()
    assert kms.calls == []


def test_no_gce_check_turns_it_off(
    kms: Any, metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with GcpKmsSigner(uri, endpoint=kms.endpoint, **FAST) as key:
        key.sign(b"m")
    assert _authorizations(kms) == {None}
    assert metadata.requests == []


def test_anonymous_means_nothing_even_with_a_metadata_server(
    kms: Any, metadata: MetadataServer
) -> None:
    uri = kms.add_key(KEY)
    with GcpKmsSigner(uri, endpoint=kms.endpoint, credentials="anonymous", **FAST) as key:
        key.sign(b"m")
    assert _authorizations(kms) == {None}
    assert metadata.requests == []


def test_the_setting_is_read_when_the_signer_is_made(
    kms: Any, metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = kms.add_key(KEY)
    key = GcpKmsSigner(uri, endpoint=kms.endpoint, **FAST)
    monkeypatch.delenv("GCE_METADATA_HOST")
    with key:
        key.sign(b"m")
    assert _authorizations(kms) == {f"Bearer {metadata.access_token}"}


@pytest.mark.parametrize("source", ["credentials file", "gcloud login"])
def test_a_developers_own_credentials_never_reach_a_loopback_endpoint(
    kms: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> None:
    clear_ambient_environment(monkeypatch, tmp_path)
    adc = {
        "type": "authorized_user",
        "client_id": "id.apps.googleusercontent.com",
        "client_secret": "not-a-secret",
        "refresh_token": "not-a-token",
    }
    if source == "credentials file":
        path = tmp_path / "key.json"
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    else:
        path = tmp_path / "application_default_credentials.json"
    path.write_text(json.dumps(adc), encoding="utf-8")
    _no_adc(monkeypatch)
    uri = kms.add_key(KEY)
    with GcpKmsSigner(uri, endpoint=kms.endpoint, **FAST) as key:
        key.sign(b"m")
    assert _authorizations(kms) == {None}
