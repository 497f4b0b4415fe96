"""GKE Workload Identity with Cloud KMS, end to end through the ``imagesig`` command.

What a pod sees is reproduced with local fakes speaking the real protocols: a metadata server
(``tests.support.metadata_server``) that hands out the service account's access token, and a
Cloud KMS gRPC server (``tests.support.kms_server``) that answers only callers presenting that
token. The command runs as a subprocess whose environment holds nothing but what stands in for
GKE — ``GCE_METADATA_HOST``/``GCE_METADATA_IP`` and ``IMAGESIG_GCPKMS_ENDPOINT`` — and an
empty home directory: no key file, no password, no credentials file, no gcloud or docker
configuration. (A subprocess also gives google-auth a fresh import, so the metadata host it
reads at import time is the fake's.) Images live in the real ``registry`` fixture and
signatures are logged in an in-process :class:`~imagesig.testing.RekorServer`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tests.support.metadata_server import AMBIENT_VARIABLES, MetadataServer
from tests.support.oci_content import image, repository_name
from tests.support.registry_server import RunningRegistry

from imagesig import Client
from imagesig.oci.credentials import StaticKeychain
from imagesig.reference import ImageReference
from imagesig.signers import PublicKey
from imagesig.testing import RekorServer

kms_server = pytest.importorskip("tests.support.kms_server")

PROJECT = "test-project"
KEY_RING = f"projects/{PROJECT}/locations/global/keyRings/test"
KEY = f"{KEY_RING}/cryptoKeys/cosign"
# The seed's spelling: cosign's short ".../versions/N" form.
KEY_URI = f"gcpkms://{KEY}/versions/1"
#: Variables of the parent process that must not reach the child (credentials, settings).
_DROPPED_PREFIXES = ("IMAGESIG_", "COSIGN_", "SIGSTORE_", "DOCKER_", "GOOGLE_", "CLOUDSDK_")
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="module")
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        yield server


@pytest.fixture
def kms(metadata: MetadataServer) -> Iterator[object]:
    with kms_server.FakeKMS() as fake:
        fake.require_bearer_token(metadata.access_token)
        yield fake


@pytest.fixture
def pod(tmp_path: Path, metadata: MetadataServer, kms: object, rekor: RekorServer) -> Pod:
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "trusted_root.json"
    root.write_text(rekor.trusted_root().to_json(), encoding="utf-8")
    return Pod(home, metadata, kms.endpoint, rekor.url, root)  # type: ignore[attr-defined]


class Pod:
    """Runs ``python -m imagesig`` with only GKE's stand-ins in its environment."""

    def __init__(
        self,
        home: Path,
        metadata: MetadataServer,
        kms_endpoint: str,
        rekor_url: str,
        trusted_root: Path,
    ) -> None:
        self.home = home
        self.metadata = metadata
        self.log_flags = ["--rekor-url", rekor_url, "--trusted-root", str(trusted_root)]
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in AMBIENT_VARIABLES
            and name.upper() not in _PROXY_VARIABLES
            and not name.startswith(_DROPPED_PREFIXES)
        }
        environment.update(metadata.environment(home))
        environment["IMAGESIG_GCPKMS_ENDPOINT"] = kms_endpoint
        self.environment = environment

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "imagesig", *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=self.environment,
            cwd=self.home,
            timeout=120,
            check=False,
        )
        # Whatever happens, the access token is never printed.
        assert self.metadata.access_token not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result


def _push(registry: RunningRegistry, name: str) -> str:
    reference = f"{registry.host}/{name}:1"
    parsed = ImageReference.parse(reference)
    content = image(reference)
    with Client(keychain=StaticKeychain(), trust_env=False) as client:
        for blob in content.blobs:
            client.push_blob(parsed.repository, blob)
        client.push_manifest(parsed.repository, content.manifest, tag=parsed.tag)
    return reference


def _bearer_tokens(kms: object) -> set[str]:
    return {call.metadata.get("authorization", "") for call in kms.calls}  # type: ignore[attr-defined]


@pytest.mark.parametrize("signature_format", ["bundle", "legacy"])
def test_sign_and_verify_with_nothing_configured(
    registry: RunningRegistry, pod: Pod, kms: object, signature_format: str
) -> None:
    kms.add_key(KEY)  # type: ignore[attr-defined]
    reference = _push(registry, repository_name(f"wi-{signature_format}"))

    signed = pod.run(
        "sign", "--key", KEY_URI, "--format", signature_format, *pod.log_flags, reference
    )
    assert signed.returncode == 0, signed.stderr
    assert "transparency log: entry" in signed.stdout

    verified = pod.run("verify", "--key", KEY_URI, *pod.log_flags, "-o", "json", reference)
    assert verified.returncode == 0, verified.stderr
    document = json.loads(verified.stdout)
    assert document["verified"] is True
    assert [check["format"] for check in document["signatures"]] == [signature_format]

    # Every KMS call carried the metadata server's token, fetched by each process.
    counts = kms.counts  # type: ignore[attr-defined]
    assert counts["AsymmetricSign"] == 1
    assert counts["GetPublicKey"] == 2  # the signer's, then the verifier's
    assert _bearer_tokens(kms) == {f"Bearer {pod.metadata.access_token}"}
    assert len(pod.metadata.requests_to("/token")) >= 2
    # Nothing was written to the pod's home directory: no key, no credentials, no cache.
    assert list(pod.home.iterdir()) == []


def test_the_seed_story_creates_the_key_then_signs_and_verifies(
    registry: RunningRegistry, pod: Pod, kms: object, tmp_path: Path
) -> None:
    reference = _push(registry, repository_name("wi-seed"))
    crypto_key = f"gcpkms://{KEY}"

    created = pod.run("generate-key-pair", "--kms", crypto_key)
    assert created.returncode == 0, created.stderr
    assert kms.has_key(KEY)  # type: ignore[attr-defined]
    assert kms.has_key_ring(KEY_RING)  # type: ignore[attr-defined]
    public = PublicKey.from_pem(created.stdout)
    assert public.algorithm.name == "ECDSA_P256_SHA256"

    shown = pod.run("public-key", "--key", KEY_URI)
    assert shown.returncode == 0, shown.stderr
    assert PublicKey.from_pem(shown.stdout) == public

    signed = pod.run("sign", "--key", KEY_URI, *pod.log_flags, reference)
    assert signed.returncode == 0, signed.stderr
    verified = pod.run("verify", "--key", KEY_URI, *pod.log_flags, reference)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("Verified")

    # The exported PEM verifies too, as a Kyverno policy or cosign with cosign.pub would.
    exported = tmp_path / "cosign.pub"
    exported.write_text(created.stdout, encoding="ascii")
    offline = pod.run("verify", "--key", str(exported), *pod.log_flags, reference)
    assert offline.returncode == 0, offline.stderr


def test_signing_refused_by_kms_names_the_role(
    registry: RunningRegistry, pod: Pod, kms: object
) -> None:
    kms.add_key(KEY)  # type: ignore[attr-defined]
    kms.fail(  # type: ignore[attr-defined]
        "AsymmetricSign",
        grpc.StatusCode.PERMISSION_DENIED,
        times=None,
        message="Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource",
    )
    reference = _push(registry, repository_name("wi-denied-sign"))

    signed = pod.run("sign", "--key", KEY_URI, *pod.log_flags, reference)
    assert signed.returncode == 2
    assert "PERMISSION_DENIED" in signed.stderr
    assert "roles/cloudkms.signerVerifier" in signed.stderr
    assert KEY in signed.stderr
    assert signed.stdout == ""

    # Nothing was attached: the image verifies as unsigned (exit 1), not as broken.
    kms.clear_faults()  # type: ignore[attr-defined]
    verified = pod.run("verify", "--key", KEY_URI, *pod.log_flags, reference)
    assert verified.returncode == 1, verified.stderr


def test_verification_refused_by_kms_names_the_roles(
    registry: RunningRegistry, pod: Pod, kms: object
) -> None:
    kms.add_key(KEY)  # type: ignore[attr-defined]
    reference = _push(registry, repository_name("wi-denied-verify"))
    assert pod.run("sign", "--key", KEY_URI, *pod.log_flags, reference).returncode == 0
    kms.fail("GetPublicKey", grpc.StatusCode.PERMISSION_DENIED, times=None)  # type: ignore[attr-defined]

    verified = pod.run("verify", "--key", KEY_URI, *pod.log_flags, "-o", "json", reference)
    assert verified.returncode == 2
    assert "roles/cloudkms.viewer and roles/cloudkms.verifier" in verified.stderr
    error = json.loads(verified.stdout)["error"]
    assert error["type"] == "KMSPermissionError"
    assert error["exit_code"] == 2
    assert "roles/cloudkms.viewer" in error["hint"]


def test_a_token_refused_by_the_metadata_server_is_a_permission_error(
    registry: RunningRegistry, pod: Pod, kms: object
) -> None:
    kms.add_key(KEY)  # type: ignore[attr-defined]
    pod.metadata.token_status = 403
    reference = _push(registry, repository_name("wi-no-token"))

    signed = pod.run("sign", "--key", KEY_URI, *pod.log_flags, reference)
    assert signed.returncode == 2
    assert "could not obtain an access token" in signed.stderr
    assert "_Response object" not in signed.stderr.split("Caused by:")[0]
    assert "Status: 403" in signed.stderr
    assert "roles/iam.workloadIdentityUser" in signed.stderr
    assert kms.calls == []  # type: ignore[attr-defined]


def test_a_token_kms_does_not_accept_is_a_permission_error(
    registry: RunningRegistry, pod: Pod, kms: object
) -> None:
    kms.add_key(KEY)  # type: ignore[attr-defined]
    kms.require_bearer_token("ya29.another-account")  # type: ignore[attr-defined]
    reference = _push(registry, repository_name("wi-wrong-token"))

    signed = pod.run("sign", "--key", KEY_URI, *pod.log_flags, reference)
    assert signed.returncode == 2
    assert "UNAUTHENTICATED" in signed.stderr
    assert "credentials were not accepted" in signed.stderr
    assert kms.counts["AsymmetricSign"] == 0  # type: ignore[attr-defined]
