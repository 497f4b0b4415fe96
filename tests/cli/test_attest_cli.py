"""``imagesig attest``, ``verify-attestation`` and ``tree`` on an OCI layout with a local Rekor."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from tests.cli.conftest import PASSWORD, CliRunner, Workspace, run_module

from imagesig.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED

ENV: dict[str, str | None] = {"COSIGN_PASSWORD": PASSWORD}
PROVENANCE = {
    "buildDefinition": {"buildType": "https://ci.example.com/build/v1"},
    "runDetails": {"builder": {"id": "https://ci.example.com/builder"}},
}
ATTEST_KEYS = [
    "image",
    "digest",
    "format",
    "predicate_type",
    "attestation",
    "location",
    "log_entry",
]
VERIFY_KEYS = [
    "image",
    "digest",
    "predicate_type",
    "verified",
    "threshold",
    "verified_key_ids",
    "attestations",
    "warnings",
]


def tlog_args(workspace: Workspace) -> list[str]:
    return [
        "--oci-layout",
        str(workspace.layout),
        "--rekor-url",
        workspace.rekor_url,
        "--trusted-root",
        str(workspace.trusted_root),
    ]


def attest_args(workspace: Workspace, predicate: Path, *extra: str) -> list[str]:
    return [
        "attest",
        "--key",
        str(workspace.private_key),
        "--predicate",
        str(predicate),
        *tlog_args(workspace),
        *extra,
        workspace.image,
    ]


def verify_args(workspace: Workspace, *extra: str) -> list[str]:
    return [
        "verify-attestation",
        "--key",
        str(workspace.public_key),
        *tlog_args(workspace),
        *extra,
        workspace.image,
    ]


@pytest.fixture
def provenance(tmp_path: Path) -> Path:
    path = tmp_path / "provenance.json"
    path.write_text(json.dumps(PROVENANCE), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["bundle", "legacy"])
def test_attest_then_verify_attestation(
    cli: CliRunner, workspace: Workspace, provenance: Path, fmt: str
) -> None:
    attested = cli(
        *attest_args(workspace, provenance, "--type", "slsaprovenance1", "--format", fmt), env=ENV
    )
    assert attested.code == 0, attested.err
    assert f"Attested registry.example.com/team/app:1.4@{workspace.digest}" in attested.out
    assert "predicate type: https://slsa.dev/provenance/v1" in attested.out
    hex_digest = workspace.digest.removeprefix("sha256:")
    where = "referrer sha256:" if fmt == "bundle" else f"tag sha256-{hex_digest}.att"
    assert f"attestation: {fmt}, {where}" in attested.out
    assert "transparency log: entry 0" in attested.out

    verified = cli(*verify_args(workspace, "--type", "slsaprovenance1"))
    assert verified.code == 0, verified.err
    assert verified.out.startswith("Verified: ")
    assert "predicate type: https://slsa.dev/provenance/v1" in verified.out
    assert f"ok   {fmt:<6}  https://slsa.dev/provenance/v1" in verified.out
    assert "log index 0" in verified.out


def test_json_output_is_stable_and_carries_the_statement(
    cli: CliRunner, workspace: Workspace, provenance: Path
) -> None:
    attested = cli(
        *attest_args(workspace, provenance, "--type", "slsaprovenance1", "-o", "json"), env=ENV
    )
    assert attested.code == 0, attested.err
    data = attested.json()
    assert list(data) == ATTEST_KEYS
    assert data["predicate_type"] == "https://slsa.dev/provenance/v1"
    assert data["log_entry"]["log_index"] == 0

    verified = cli(*verify_args(workspace, "--type", "slsaprovenance1", "--output", "json"))
    assert verified.code == 0, verified.err
    result = verified.json()
    assert list(result) == VERIFY_KEYS
    (check,) = result["attestations"]
    assert check["status"] == "verified"
    assert check["statement"]["predicate"] == PROVENANCE
    assert check["statement"]["subject"][0]["digest"] == {
        "sha256": workspace.digest.removeprefix("sha256:")
    }


def test_type_x_when_only_type_y_exists_exits_1_and_says_so(
    cli: CliRunner, workspace: Workspace, provenance: Path
) -> None:
    """CVE-2022-35929: an empty filtered set is a failure."""
    assert cli(*attest_args(workspace, provenance, "--type", "slsaprovenance1"), env=ENV).code == 0
    result = cli(*verify_args(workspace, "--type", "spdxjson"))
    assert result.code == EXIT_VERIFICATION_FAILED
    assert result.out.startswith("NOT verified: ")
    assert "no attestation of type https://spdx.dev/Document found" in result.out
    assert "found only https://slsa.dev/provenance/v1" in result.out
    assert "type bundle" in result.out
    # cosign's default --type is custom: not what was attested either.
    assert cli(*verify_args(workspace)).code == EXIT_VERIFICATION_FAILED


def test_custom_is_the_default_type_and_wraps_any_text(
    cli: CliRunner, workspace: Workspace, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("reviewed by the release team\n", encoding="utf-8")
    assert cli(*attest_args(workspace, note, "-o", "json"), env=ENV).code == 0
    result = cli(*verify_args(workspace, "-o", "json"))
    assert result.code == 0, result.err
    (check,) = result.json()["attestations"]
    assert check["predicate_type"] == "https://cosign.sigstore.dev/attestation/v1"
    assert check["statement"]["predicate"]["Data"] == "reviewed by the release team\n"


def test_wrong_key_exits_1(
    cli: CliRunner, workspace: Workspace, provenance: Path, tmp_path: Path
) -> None:
    from imagesig.signers import LocalSigner  # noqa: PLC0415

    assert cli(*attest_args(workspace, provenance, "--type", "slsaprovenance1"), env=ENV).code == 0
    other = tmp_path / "other.pub"
    other.write_bytes(LocalSigner.generate().public_key().pem)
    args = verify_args(workspace, "--type", "slsaprovenance1")
    args[2] = str(other)
    result = cli(*args)
    assert result.code == EXIT_VERIFICATION_FAILED
    assert "the DSSE signature does not verify with the given key" in result.out


def test_log_is_required_unless_ignored(
    cli: CliRunner, workspace: Workspace, provenance: Path
) -> None:
    args = attest_args(workspace, provenance, "--type", "slsaprovenance1", "--tlog-upload=false")
    attested = cli(*args, env=ENV)
    assert attested.code == 0, attested.err
    assert "not uploaded (--tlog-upload=false)" in attested.out
    strict = cli(*verify_args(workspace, "--type", "slsaprovenance1"))
    assert strict.code == EXIT_VERIFICATION_FAILED
    assert "the bundle carries no transparency-log entry" in strict.out
    relaxed = cli(*verify_args(workspace, "--type", "slsaprovenance1", "--insecure-ignore-tlog"))
    assert relaxed.code == 0, relaxed.err
    assert "transparency log verification skipped" in relaxed.err


def test_usage_errors_exit_2(
    cli: CliRunner, workspace: Workspace, provenance: Path, tmp_path: Path
) -> None:
    bad_type = cli(*attest_args(workspace, provenance, "--type", "not a type"), env=ENV)
    assert bad_type.code == EXIT_USAGE
    assert "invalid predicate type 'not a type'" in bad_type.err
    missing = cli(*attest_args(workspace, tmp_path / "missing.json"), env=ENV)
    assert missing.code == EXIT_USAGE
    assert "cannot read the predicate file" in missing.err
    array = tmp_path / "array.json"
    array.write_text("[1]", encoding="utf-8")
    not_object = cli(*attest_args(workspace, array, "--type", "vuln"), env=ENV)
    assert not_object.code == EXIT_USAGE
    assert "must hold a JSON object, not an array" in not_object.err
    replace = cli(*attest_args(workspace, provenance, "--type", "vuln", "--replace"), env=ENV)
    assert replace.code == EXIT_USAGE
    assert "--replace applies to the legacy format only" in replace.err
    no_password = cli(*attest_args(workspace, provenance, "--type", "vuln"))
    assert no_password.code == EXIT_USAGE
    verify_bad_type = cli(*verify_args(workspace, "--type", "no such"))
    assert verify_bad_type.code == EXIT_USAGE
    json_error = cli(*verify_args(workspace, "--type", "no such", "-o", "json"))
    assert json_error.json()["error"]["type"] == "StatementError"


def test_predicate_from_standard_input(
    cli: CliRunner, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(PROVENANCE).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    args = attest_args(workspace, Path("-"), "--type", "slsaprovenance1", "--format", "legacy")
    assert cli(*args, env=ENV).code == 0
    assert cli(*verify_args(workspace, "--type", "slsaprovenance1")).code == 0


def test_replace_keeps_one_attestation_per_type(
    cli: CliRunner, workspace: Workspace, provenance: Path
) -> None:
    for _ in range(2):
        args = attest_args(
            workspace, provenance, "--type", "slsaprovenance1", "--new-bundle-format=false"
        )
        assert cli(*args, "--replace", env=ENV).code == 0
    result = cli(*verify_args(workspace, "--type", "slsaprovenance1", "-o", "json"))
    assert len(result.json()["attestations"]) == 1


def test_tree_lists_everything_by_kind_and_storage(
    cli: CliRunner, workspace: Workspace, provenance: Path
) -> None:
    assert cli(*workspace.sign_args(), env=ENV).code == 0
    assert cli(*workspace.sign_args("--format", "legacy"), env=ENV).code == 0
    assert cli(*attest_args(workspace, provenance, "--type", "slsaprovenance1"), env=ENV).code == 0
    args = attest_args(workspace, provenance, "--type", "slsaprovenance02", "--format", "legacy")
    assert cli(*args, env=ENV).code == 0

    tree = cli("tree", "--oci-layout", str(workspace.layout), workspace.image)
    assert tree.code == 0, tree.err
    hex_digest = workspace.digest.removeprefix("sha256:")
    lines = tree.out.splitlines()
    assert lines[0] == (
        f"Attachments of registry.example.com/team/app:1.4@{workspace.digest} (unverified)"
    )
    assert "signatures: 2" in lines
    assert "attestations: 2" in lines
    assert "SBOMs: none" in lines
    assert f"  in tag registry.example.com/team/app:sha256-{hex_digest}.sig:" in lines
    assert f"  in tag registry.example.com/team/app:sha256-{hex_digest}.att:" in lines
    assert any(line.endswith("https://slsa.dev/provenance/v0.2") for line in lines)
    assert any(line.endswith("https://sigstore.dev/cosign/sign/v1") for line in lines)

    data = cli("tree", "-o", "json", "--oci-layout", str(workspace.layout), workspace.image).json()
    assert list(data) == [
        "image",
        "digest",
        "signatures",
        "attestations",
        "sboms",
        "other",
        "warnings",
    ]
    assert [item["storage"] for item in data["signatures"]] == ["referrer", "tag"]
    assert {item["predicate_type"] for item in data["attestations"]} == {
        "https://slsa.dev/provenance/v1",
        "https://slsa.dev/provenance/v0.2",
    }


def test_help_lists_the_attestation_commands() -> None:
    result = run_module("--help")
    assert result.code == 0
    for command in ("attest", "verify-attestation", "tree"):
        assert command in result.out
    attest_help = run_module("attest", "--help")
    assert "--predicate FILE" in attest_help.out
    assert "slsaprovenance1" in attest_help.out
