"""Key references on the command line: ``generate-key-pair --kms``, ``public-key --key URI``,
and ``sign``/``verify`` with a Cloud KMS key.

Cloud KMS is the local gRPC fake (``tests.support.kms_server``) reached by the real client
through ``IMAGESIG_GCPKMS_ENDPOINT``; no metadata server is configured, so the loopback
endpoint is called without credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from tests.cli.conftest import PASSWORD, CliRunner, Workspace

from imagesig.cli import EXIT_USAGE
from imagesig.signers import LocalSigner, PublicKey, SignerProvider, register_signer

kms_server = pytest.importorskip("tests.support.kms_server")

KEY_RING = "projects/p/locations/global/keyRings/release"
KEY = f"{KEY_RING}/cryptoKeys/cosign"


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    with kms_server.FakeKMS() as fake:
        monkeypatch.setenv("IMAGESIG_GCPKMS_ENDPOINT", fake.endpoint)
        yield fake


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- generate-key-pair --kms ----------------------------------------------------------------


def test_generate_key_pair_kms_creates_the_key_and_prints_its_public_key(
    cli: CliRunner, kms: Any, in_tmp: Path
) -> None:
    result = cli("generate-key-pair", "--kms", f"gcpkms://{KEY}")
    assert result.code == 0, result.err
    assert kms.has_key_ring(KEY_RING)
    assert kms.has_key(KEY)
    public = PublicKey.from_pem(result.out)  # standard output holds the PEM only
    assert public.algorithm.name == "ECDSA_P256_SHA256"
    assert public.pem == kms.public_key_pem(f"{KEY}/cryptoKeyVersions/1")
    assert f"gcpkms://{KEY}" in result.err
    assert list(in_tmp.iterdir()) == []  # no key files
    creates = [call for call in kms.calls if call.method.startswith("Create")]
    assert [call.method for call in creates] == ["CreateKeyRing", "CreateCryptoKey"]

    uri = f"gcpkms://{KEY}"
    again = cli("generate-key-pair", "--kms", uri, "--signing-algorithm", "EC_SIGN_P384_SHA384")
    assert again.code == 0, again.err
    assert again.out == result.out  # an existing key is kept as it is, as cosign does


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("EC_SIGN_P384_SHA384", "ECDSA_P384_SHA384"),
        ("rsa-pkcs1v15-3072-sha256", "RSA_PKCS1V15_SHA256"),
        ("rsa_sign_pss_2048_sha256", "RSA_PSS_SHA256"),
    ],
)
def test_generate_key_pair_kms_signing_algorithm(
    cli: CliRunner, kms: Any, in_tmp: Path, algorithm: str, expected: str
) -> None:
    uri = f"gcpkms://{KEY}"
    result = cli("generate-key-pair", "--kms", uri, "--signing-algorithm", algorithm, "-o", "json")
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == ["kms", "public_key", "pem", "algorithm", "key_id"]
    assert document["kms"] == uri
    assert document["public_key"] is None
    assert document["algorithm"] == expected
    assert PublicKey.from_pem(document["pem"]).key_id == document["key_id"]


def test_generate_key_pair_kms_writes_prefix_pub_only(
    cli: CliRunner, kms: Any, in_tmp: Path
) -> None:
    result = cli("generate-key-pair", "--kms", f"gcpkms://{KEY}", "--output-key-prefix", "release")
    assert result.code == 0, result.err
    assert "Public key written to release.pub" in result.out
    assert sorted(path.name for path in in_tmp.iterdir()) == ["release.pub"]
    assert (in_tmp / "release.pub").read_bytes() == kms.public_key_pem(f"{KEY}/cryptoKeyVersions/1")


def test_generate_key_pair_kms_never_overwrites_without_force(
    cli: CliRunner, kms: Any, in_tmp: Path
) -> None:
    (in_tmp / "cosign.pub").write_text("keep me")
    args = ("generate-key-pair", "--kms", f"gcpkms://{KEY}", "--output-key-prefix", "cosign")
    refused = cli(*args)
    assert refused.code == EXIT_USAGE
    assert "already exists" in refused.err
    assert "--force" in refused.err
    assert kms.calls == []  # refused before anything was created
    assert (in_tmp / "cosign.pub").read_text() == "keep me"

    forced = cli(*args, "--force")
    assert forced.code == 0, forced.err
    assert PublicKey.from_file(in_tmp / "cosign.pub").algorithm.name == "ECDSA_P256_SHA256"


def test_generate_key_pair_kms_permission_error_names_the_admin_role(
    cli: CliRunner, kms: Any, in_tmp: Path
) -> None:
    kms.fail("CreateKeyRing", grpc.StatusCode.PERMISSION_DENIED, times=None)
    result = cli("generate-key-pair", "--kms", f"gcpkms://{KEY}", "-o", "json")
    assert result.code == EXIT_USAGE
    assert "roles/cloudkms.admin" in result.err
    assert "Hint:" in result.err
    assert result.json()["error"]["type"] == "KMSPermissionError"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kms", f"gcpkms://{KEY}", "--signing-algorithm", "nonsense"], "nonsense"),
        (["--kms", f"gcpkms://{KEY}", "--signing-algorithm", "EC_SIGN_ED25519"], "ED25519"),
        (["--kms", "awskms:///alias/cosign"], "Cloud KMS only"),
        (["--kms", "gcpkms://projects/p/keyRings/r"], "not a Cloud KMS key reference"),
        (["--signing-algorithm", "EC_SIGN_P384_SHA384"], "--signing-algorithm applies"),
    ],
)
def test_generate_key_pair_kms_usage_errors(
    cli: CliRunner, kms: Any, in_tmp: Path, argv: list[str], message: str
) -> None:
    result = cli("generate-key-pair", *argv, env={"COSIGN_PASSWORD": PASSWORD})
    assert result.code == EXIT_USAGE
    assert message.lower() in result.err.lower()
    assert "Traceback" not in result.err
    assert kms.calls == []
    assert list(in_tmp.iterdir()) == []


# -- public-key --key REF -------------------------------------------------------------------


def test_public_key_of_a_kms_key(cli: CliRunner, kms: Any, tmp_path: Path) -> None:
    uri = kms.add_key(KEY, "EC_SIGN_P384_SHA384")
    result = cli("public-key", "--key", uri)
    assert result.code == 0, result.err
    assert result.out.encode() == kms.public_key_pem(uri)

    outfile = tmp_path / "kms.pub"
    short = uri.replace("/cryptoKeyVersions/", "/versions/")
    written = cli("public-key", "--key", short, "--outfile", str(outfile), "-o", "json")
    assert written.code == 0, written.err
    assert written.json()["algorithm"] == "ECDSA_P384_SHA384"
    assert outfile.read_bytes() == kms.public_key_pem(uri)
    # Reading a public key needs no signing: no AsymmetricSign, no password.
    assert kms.counts["AsymmetricSign"] == 0


def test_public_key_of_a_kms_key_refused_names_the_verify_roles(cli: CliRunner, kms: Any) -> None:
    uri = kms.add_key(KEY)
    kms.fail("GetPublicKey", grpc.StatusCode.PERMISSION_DENIED, times=None)
    result = cli("public-key", "--key", uri)
    assert result.code == EXIT_USAGE
    assert "roles/cloudkms.viewer and roles/cloudkms.verifier" in result.err
    assert result.out == ""


def test_public_key_of_an_environment_variable(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = LocalSigner.generate()
    monkeypatch.setenv("RELEASE_KEY", signer.private_pem(PASSWORD).decode())
    result = cli("public-key", "--key", "env://RELEASE_KEY", env={"COSIGN_PASSWORD": PASSWORD})
    assert result.code == 0, result.err
    assert result.out.encode() == signer.public_key().pem


def test_public_key_of_a_file_uri(cli: CliRunner, tmp_path: Path) -> None:
    signer = LocalSigner.generate()
    path = tmp_path / "plain.pem"
    path.write_bytes(signer.private_pem())
    result = cli("public-key", "--key", f"file://{path}")
    assert result.code == 0, result.err
    assert result.out.encode() == signer.public_key().pem


def test_public_key_of_a_plugin_key_uses_its_verifier(cli: CliRunner) -> None:
    signer = LocalSigner.generate()
    asked: list[str] = []

    def no_signer(reference: str, **options: Any) -> Any:
        raise AssertionError("the private key was asked for")

    def verifier(reference: str, **options: Any) -> Any:
        asked.append(reference)
        return signer.public_key()

    provider = SignerProvider(signer=no_signer, verifier=verifier)
    with register_signer("testvault", provider):
        result = cli("public-key", "--key", "testvault://transit/cosign")
    assert result.code == 0, result.err
    assert result.out.encode() == signer.public_key().pem
    assert asked == ["testvault://transit/cosign"]


def test_public_key_of_an_unknown_scheme_asks_for_a_plugin(cli: CliRunner) -> None:
    result = cli("public-key", "--key", "awskms:///alias/cosign")
    assert result.code == EXIT_USAGE
    assert "no provider installed for scheme 'awskms'" in result.err


# -- sign and verify with a KMS key -----------------------------------------------------------


def test_sign_and_verify_with_a_kms_key_ask_for_no_password(
    cli: CliRunner, kms: Any, workspace: Workspace
) -> None:
    uri = kms.add_key(KEY)
    common = [
        "--oci-layout",
        str(workspace.layout),
        "--rekor-url",
        workspace.rekor_url,
        "--trusted-root",
        str(workspace.trusted_root),
    ]
    # No COSIGN_PASSWORD and no terminal: a password prompt would fail the command.
    signed = cli("sign", "--key", uri, *common, workspace.image)
    assert signed.code == 0, signed.err
    assert kms.counts["AsymmetricSign"] == 1
    verified = cli("verify", "--key", uri, *common, "-o", "json", workspace.image)
    assert verified.code == 0, verified.err
    assert verified.json()["verified"] is True
    # The local key of the workspace did not sign it.
    other = cli("verify", "--key", str(workspace.public_key), *common, workspace.image)
    assert other.code == 1
