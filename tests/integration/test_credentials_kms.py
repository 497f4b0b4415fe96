"""Workload Identity for Cloud KMS, at the library level: metadata token in, KMS call accepted.

The metadata fake issues an access token through the real google-auth; the local KMS fake
(``tests.support.kms_server``) is told to accept only that bearer token. This pins the pieces
the ``imagesig sign/verify --key gcpkms://`` story is built from: credentials found with
nothing configured, refreshed before the first call, and a refused refresh reported as a
permission error naming the metadata server before KMS is ever called.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcTransport,
)
from tests.support.metadata_server import MetadataServer, point_google_auth_at

from imagesig.credentials import google_default_credentials
from imagesig.errors import CredentialPermissionError

kms_server = pytest.importorskip("tests.support.kms_server")

KEY = "projects/test-project/locations/global/keyRings/test/cryptoKeys/cosign"


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        point_google_auth_at(server, monkeypatch, tmp_path)
        yield server


@pytest.fixture
def kms(metadata: MetadataServer) -> Iterator[object]:
    with kms_server.FakeKMS() as fake:
        fake.add_key(KEY)
        fake.require_bearer_token(metadata.access_token)
        yield fake


def _client(endpoint: str) -> object:
    channel = grpc.insecure_channel(endpoint)
    return kms_v1.KeyManagementServiceClient(
        transport=KeyManagementServiceGrpcTransport(channel=channel)
    )


def test_kms_accepts_the_metadata_servers_token(metadata: MetadataServer, kms: object) -> None:
    credentials, _ = google_default_credentials()
    client = _client(kms.endpoint)  # type: ignore[attr-defined]
    key = client.get_public_key(  # type: ignore[attr-defined]
        name=f"{KEY}/cryptoKeyVersions/1",
        metadata=[("authorization", f"Bearer {credentials.token}")],
        timeout=5,
    )
    assert key.pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert credentials.service_account_email == metadata.service_account_email


def test_kms_refuses_another_token(kms: object) -> None:
    client = _client(kms.endpoint)  # type: ignore[attr-defined]
    with pytest.raises(exceptions.Unauthenticated):
        client.get_public_key(  # type: ignore[attr-defined]
            name=f"{KEY}/cryptoKeyVersions/1",
            metadata=[("authorization", "Bearer ya29.someone-else")],
            timeout=5,
        )


def test_a_refused_token_is_reported_before_kms_is_called(
    metadata: MetadataServer, kms: object
) -> None:
    metadata.token_status = 403
    with pytest.raises(CredentialPermissionError) as caught:
        google_default_credentials()
    message = str(caught.value)
    assert metadata.host in message
    assert metadata.service_account_email in message
    assert "HTTP 403" in message
    assert not kms.calls  # type: ignore[attr-defined]
