"""Google providers and access tokens, through the real google-auth, against a metadata fake.

google-auth reads ``GCE_METADATA_HOST`` once, at import; in this process it is already
imported, so :func:`point_google_auth_at` also patches its copy for the duration of one test
(each xdist worker is its own process). One test runs a fresh interpreter with the variable
set before anything is imported, as a real GKE pod would.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.compute_engine import _metadata
from tests.conftest import REPO_ROOT
from tests.support.metadata_server import MetadataServer, point_google_auth_at

from imagesig.credentials import (
    GoogleAccessTokenSource,
    GoogleImpersonationProvider,
    GoogleMetadataProvider,
    ProviderStatus,
    detect_credential,
    detection_report,
    google_default_credentials,
    reset_providers,
)
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)

IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"
ACCESS_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MetadataServer]:
    reset_providers()
    with MetadataServer() as server:
        point_google_auth_at(server, monkeypatch, tmp_path)
        yield server
    reset_providers()


def _secrets(server: MetadataServer) -> list[str]:
    return [server.access_token]


def test_identity_token_from_the_metadata_server(metadata: MetadataServer) -> None:
    provider = GoogleMetadataProvider()
    detection = provider.detect()
    assert detection.applicable
    assert f"GCE_METADATA_HOST={metadata.host}" in detection.reason
    token = provider.fetch_token("sigstore", timeout=10)
    assert token.provider == "google-workload-identity"
    assert token.audience == ("sigstore",)
    assert token.claims["email"] == metadata.service_account_email
    assert token.claims["google"]["compute_engine"]["project_id"] == "test-project"
    [request] = metadata.requests_to("/identity")
    assert request.flavor
    assert request.query == {"audience": ["sigstore"], "format": ["full"]}


def test_detect_credential_on_gke(metadata: MetadataServer) -> None:
    token = detect_credential("sigstore")
    assert token is not None
    assert token.provider == "google-workload-identity"
    report = detection_report("sigstore")
    used = report.used
    assert used is not None
    assert used.provider == "google-workload-identity"
    assert used.to_dict()["identity"]["subject"] == "112233445566778899001"


def test_slow_start_is_retried(metadata: MetadataServer) -> None:
    metadata.unavailable_for = 1  # a pod's metadata server that is still starting
    token = GoogleMetadataProvider().fetch_token("sigstore", timeout=10)
    assert token.audience == ("sigstore",)
    assert any(r.status == 503 for r in metadata.requests)


def test_a_metadata_server_that_never_comes_up_is_bounded(metadata: MetadataServer) -> None:
    metadata.unavailable_for = 1000
    started = time.monotonic()
    with pytest.raises(CredentialProviderError, match=r"within 0.5 s") as caught:
        GoogleMetadataProvider().fetch_token("sigstore", timeout=0.5)
    # google-auth's backoff sleep (about 1 s) may overrun the deadline once, not more.
    assert time.monotonic() - started < 3
    assert "few seconds" in (caught.value.hint or "")


def test_404_means_no_identity_endpoint(metadata: MetadataServer) -> None:
    metadata.identity_status = 404
    with pytest.raises(CredentialProviderError) as caught:
        GoogleMetadataProvider().fetch_token("sigstore", timeout=10)
    assert "HTTP 404" in str(caught.value)
    assert metadata.service_account_email in str(caught.value)
    assert "iam.gke.io/gcp-service-account" in (caught.value.hint or "")


def test_403_is_a_permission_error(metadata: MetadataServer) -> None:
    metadata.identity_status = 403
    with pytest.raises(CredentialPermissionError) as caught:
        GoogleMetadataProvider().fetch_token("sigstore", timeout=10)
    assert "HTTP 403" in str(caught.value)
    assert caught.value.context["service_account"] == metadata.service_account_email
    assert "roles/iam.workloadIdentityUser" in (caught.value.hint or "")


def test_wrong_audience_is_refused(metadata: MetadataServer) -> None:
    metadata.identity_audience = "https://elsewhere.example"
    with pytest.raises(InvalidIdentityTokenError, match=r"elsewhere\.example"):
        GoogleMetadataProvider().fetch_token("sigstore", timeout=10)


def test_expired_token_is_refused(metadata: MetadataServer) -> None:
    metadata.identity_lifetime = -60
    with pytest.raises(InvalidIdentityTokenError, match="expired"):
        GoogleMetadataProvider().fetch_token("sigstore", timeout=10)


def test_garbage_instead_of_a_jwt_is_refused(metadata: MetadataServer) -> None:
    metadata.identity_body = "<html>captive portal</html>"
    with pytest.raises(InvalidIdentityTokenError, match="not a JWT"):
        GoogleMetadataProvider().fetch_token("sigstore", timeout=10)


def test_a_host_changed_after_google_auth_was_imported_is_reported(
    metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", "metadata.google.internal")
    provider = GoogleMetadataProvider()
    assert "still uses 'metadata.google.internal'" in provider.detect().reason
    with pytest.raises(CredentialProviderError, match="imported before GCE_METADATA_HOST"):
        provider.fetch_token("sigstore", timeout=10)
    assert metadata.requests == []


def test_dmi_product_name_enables_the_provider(tmp_path: Path) -> None:
    product = tmp_path / "product_name"
    product.write_text("Google Compute Engine\n")
    assert GoogleMetadataProvider(environ={}, product_name_file=str(product)).detect()
    product.write_text("Standard PC (Q35 + ICH9, 2009)\n")
    detection = GoogleMetadataProvider(environ={}, product_name_file=str(product)).detect()
    assert not detection
    assert "Standard PC" in detection.reason
    off = GoogleMetadataProvider(environ={"NO_GCE_CHECK": "true", "GCE_METADATA_HOST": "x"})
    assert not off.detect()


def test_impersonation_uses_iam_with_the_metadata_access_token(
    metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "cosign-signer@test-project.iam.gserviceaccount.com"
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_NAME", target)
    token = detect_credential("sigstore")
    assert token is not None
    assert token.provider == "google-impersonate"
    assert token.claims["email"] == target
    [iam] = [r for r in metadata.requests if r.path.endswith(":generateIdToken")]
    assert iam.authorized
    assert target in iam.path
    statuses = {row.provider: row.status for row in detection_report().rows}
    assert statuses["google-impersonate"] is ProviderStatus.USED
    assert statuses["google-workload-identity"] is ProviderStatus.AVAILABLE


def test_impersonation_refused_by_iam(
    metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_NAME", "other@test-project.iam.gserviceaccount.com")
    metadata.iam_status = 403
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialPermissionError) as caught:
        GoogleImpersonationProvider().fetch_token("sigstore", timeout=10)
    assert "serviceAccountOpenIdTokenCreator" in (caught.value.hint or "")
    for text in (caught.value.diagnostics(), caplog.text):
        assert metadata.access_token not in text


def test_access_token_for_kms(metadata: MetadataServer) -> None:
    credentials, project = google_default_credentials()
    assert credentials.token == metadata.access_token
    assert project == "test-project"
    [request] = metadata.requests_to("/token")
    assert request.query["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_refused_access_token_names_the_metadata_server_quickly(
    metadata: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    metadata.token_status = 403
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(CredentialPermissionError) as caught:
        google_default_credentials()
    assert time.monotonic() - started < 5
    assert metadata.host in str(caught.value)
    assert "HTTP 403" in str(caught.value)


def test_no_google_credentials_anywhere_is_known_without_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    assert GoogleAccessTokenSource().token() is None
    with pytest.raises(CredentialNotFoundError):
        google_default_credentials()


def test_a_broken_credentials_file_is_an_error_not_anonymous(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(CredentialProviderError, match="no usable Google"):
        GoogleAccessTokenSource().token()


def test_access_tokens_are_cached_until_they_expire(metadata: MetadataServer) -> None:
    source = GoogleAccessTokenSource()
    assert source.token() == metadata.access_token
    assert source.token() == metadata.access_token
    assert len(metadata.requests_to("/token")) == 1


_CHILD = """
import json, sys
import imagesig.credentials as credentials
assert "google.auth" not in sys.modules, "importing imagesig.credentials imported google-auth"
token = credentials.detect_credential("sigstore")
print(json.dumps({"token": token.to_dict(), "report": credentials.detection_report().to_dict()}))
"""


def test_gce_metadata_host_set_before_import_in_a_fresh_process(tmp_path: Path) -> None:
    with MetadataServer() as server:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GCE_", "GOOGLE_", "ACTIONS_", "SPIFFE_", "SIGSTORE_"))
            and key not in ("NO_GCE_CHECK", "GITHUB_ACTIONS", "CLOUDSDK_CONFIG")
        }
        env.update(server.environment(tmp_path))
        completed = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_CHILD)],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["token"]["provider"] == "google-workload-identity"
    assert data["token"]["audience"] == ["sigstore"]
    assert data["report"]["provider"] == "google-workload-identity"
    assert server.access_token not in completed.stdout + completed.stderr


def test_impersonation_without_any_google_credentials_is_a_provider_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_NAME", "x@p.iam.gserviceaccount.com")
    with pytest.raises(CredentialProviderError, match="cannot impersonate") as caught:
        GoogleImpersonationProvider().fetch_token("sigstore", timeout=5)
    assert "application-default login" in (caught.value.hint or "")
