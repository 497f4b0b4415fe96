"""``imagesig sign``, ``verify`` and ``triangulate`` on an OCI layout with a local Rekor."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.conftest import PASSWORD, CliRunner, Workspace, build_image, run_module

from imagesig.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED
from imagesig.signers import LocalSigner, write_key_pair

ENV: dict[str, str | None] = {"COSIGN_PASSWORD": PASSWORD}
VERIFY_KEYS = ["image", "digest", "verified", "signatures", "warnings"]
CHECK_KEYS = ["format", "ok", "reason", "key_id", "location", "log_index", "integrated_time"]
SIGN_KEYS = ["image", "digest", "format", "signature", "location", "log_entry"]


def test_sign_then_verify_in_the_bundle_format(cli: CliRunner, workspace: Workspace) -> None:
    signed = cli(*workspace.sign_args(), env=ENV)
    assert signed.code == 0, signed.err
    assert f"Signed registry.example.com/team/app:1.4@{workspace.digest}" in signed.out
    assert "bundle, referrer sha256:" in signed.out
    assert "transparency log: entry 0" in signed.out

    verified = cli(*workspace.verify_args())
    assert verified.code == 0, verified.err
    assert verified.out.startswith("Verified: ")
    assert workspace.digest in verified.out
    assert "ok   bundle" in verified.out
    assert "log index 0" in verified.out


def test_sign_in_the_legacy_format_and_find_it_with_triangulate(
    cli: CliRunner, workspace: Workspace
) -> None:
    signed = cli(*workspace.sign_args("--format", "legacy"), env=ENV)
    assert signed.code == 0, signed.err
    hex_digest = workspace.digest.removeprefix("sha256:")
    assert f"legacy, tag sha256-{hex_digest}.sig" in signed.out

    where = cli("triangulate", "--oci-layout", str(workspace.layout), workspace.image)
    assert where.code == 0, where.err
    assert where.out.strip() == f"registry.example.com/team/app:sha256-{hex_digest}.sig"

    verified = cli(*workspace.verify_args())
    assert verified.code == 0, verified.err
    assert "ok   legacy" in verified.out


def test_cosign_new_bundle_format_false_means_legacy(cli: CliRunner, workspace: Workspace) -> None:
    signed = cli(*workspace.sign_args("--new-bundle-format=false", "-o", "json"), env=ENV)
    assert signed.code == 0, signed.err
    assert signed.json()["format"] == "legacy"


def test_format_and_new_bundle_format_must_agree(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.sign_args("--format", "bundle", "--new-bundle-format=false"), env=ENV)
    assert result.code == EXIT_USAGE
    assert "contradicts" in result.err


def test_sign_json_has_stable_keys(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.sign_args("--output", "json"), env=ENV)
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == SIGN_KEYS
    assert document["digest"] == workspace.digest
    assert document["image"] == f"{workspace.image}@{workspace.digest}"
    assert list(document["signature"]) == ["media_type", "digest", "size"]
    assert list(document["log_entry"]) == ["log_index", "integrated_time", "log_id", "uuid"]


def test_verify_json_has_stable_keys(cli: CliRunner, workspace: Workspace) -> None:
    assert cli(*workspace.sign_args(), env=ENV).code == 0
    result = cli(*workspace.verify_args("--output", "json"))
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == VERIFY_KEYS
    assert document["verified"] is True
    assert document["digest"] == workspace.digest
    assert [list(check) for check in document["signatures"]] == [CHECK_KEYS]


def test_verify_with_another_key_fails_with_exit_1(
    cli: CliRunner, workspace: Workspace, tmp_path: Path
) -> None:
    assert cli(*workspace.sign_args(), env=ENV).code == 0
    other_private, other_public = tmp_path / "other.key", tmp_path / "other.pub"
    write_key_pair(other_private, other_public, LocalSigner.generate(), PASSWORD)
    result = cli(*workspace.verify_args(key=other_public))
    assert result.code == EXIT_VERIFICATION_FAILED
    assert result.out.startswith("NOT verified: ")
    assert "FAIL bundle" in result.out
    as_json = cli(*workspace.verify_args("-o", "json", key=other_public))
    assert as_json.code == EXIT_VERIFICATION_FAILED
    assert as_json.json()["verified"] is False


def test_verify_an_unsigned_image_fails_with_exit_1(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.verify_args())
    assert result.code == EXIT_VERIFICATION_FAILED
    assert "no signatures found" in result.out


def test_signature_without_log_entry_needs_insecure_ignore_tlog(
    cli: CliRunner, workspace: Workspace
) -> None:
    signed = cli(*workspace.sign_args("--tlog-upload=false"), env=ENV)
    assert signed.code == 0, signed.err
    assert "not uploaded" in signed.out

    strict = cli(*workspace.verify_args())
    assert strict.code == EXIT_VERIFICATION_FAILED

    relaxed = cli(*workspace.verify_args("--insecure-ignore-tlog"))
    assert relaxed.code == 0, relaxed.err
    assert "warning:" in relaxed.err


def test_verify_offline_uses_the_proofs_attached_to_the_signature(
    cli: CliRunner, workspace: Workspace
) -> None:
    assert cli(*workspace.sign_args(), env=ENV).code == 0
    offline = [
        "verify",
        "--key",
        str(workspace.public_key),
        "--oci-layout",
        str(workspace.layout),
        "--trusted-root",
        str(workspace.trusted_root),
        "--offline",
        workspace.image,
    ]
    result = cli(*offline)
    assert result.code == 0, result.err


def test_annotations_are_signed_and_required(cli: CliRunner, workspace: Workspace) -> None:
    assert cli(*workspace.sign_args("-a", "env=prod", "-a", "team=core"), env=ENV).code == 0
    assert cli(*workspace.verify_args("-a", "env=prod")).code == 0
    assert cli(*workspace.verify_args("-a", "env=prod,team=core")).code == 0
    mismatch = cli(*workspace.verify_args("-a", "env=dev"))
    assert mismatch.code == EXIT_VERIFICATION_FAILED


def test_verify_pinned_digest_ignores_where_the_tag_points_now(
    cli: CliRunner, workspace: Workspace
) -> None:
    assert cli(*workspace.sign_args(), env=ENV).code == 0
    build_image(workspace.layout, workspace.image, b"something else\n")
    assert cli(*workspace.verify_args()).code == EXIT_VERIFICATION_FAILED
    pinned = f"registry.example.com/team/app@{workspace.digest}"
    assert cli(*workspace.verify_args(image=pinned)).code == 0


@pytest.mark.parametrize("command", ["sign", "verify"])
def test_missing_image_is_an_input_error(
    cli: CliRunner, workspace: Workspace, command: str
) -> None:
    image = "registry.example.com/team/app:missing"
    argv = (
        [*workspace.sign_args()[:-1], image]
        if command == "sign"
        else workspace.verify_args(image=image)
    )
    result = cli(*argv, env=ENV)
    assert result.code == EXIT_USAGE
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err


def test_sign_with_a_wrong_password_writes_nothing(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.sign_args(), env={"COSIGN_PASSWORD": "wrong-password-123"})
    assert result.code == EXIT_USAGE
    assert "wrong password" in result.err
    assert "wrong-password-123" not in result.err
    where = cli(
        "triangulate", "--oci-layout", str(workspace.layout), "--format", "bundle", workspace.image
    )
    assert where.code == 0
    assert cli(*workspace.verify_args()).code == EXIT_VERIFICATION_FAILED


def test_sign_without_a_password_fails_before_any_write(
    cli: CliRunner, workspace: Workspace
) -> None:
    result = cli(*workspace.sign_args())
    assert result.code == EXIT_USAGE
    assert "COSIGN_PASSWORD" in result.err


def test_verify_with_a_missing_key_file_is_an_input_error(
    cli: CliRunner, workspace: Workspace, tmp_path: Path
) -> None:
    result = cli(*workspace.verify_args(key=tmp_path / "absent.pub"))
    assert result.code == EXIT_USAGE
    assert "absent.pub" in result.err


def test_verify_with_a_private_key_is_an_input_error(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.verify_args(key=workspace.private_key))
    assert result.code == EXIT_USAGE
    assert "not a public key" in result.err


def test_malformed_trusted_root_is_an_input_error(
    cli: CliRunner, workspace: Workspace, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-root.json"
    bad.write_text("{not json", encoding="utf-8")
    argv = workspace.verify_args()
    argv[argv.index("--trusted-root") + 1] = str(bad)
    result = cli(*argv)
    assert result.code == EXIT_USAGE
    assert "bad-root.json" in result.err


def test_bad_annotation_is_a_usage_error(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(*workspace.verify_args("-a", "novalue"))
    assert result.code == EXIT_USAGE
    assert "KEY=VALUE" in result.err


def test_triangulate_json(cli: CliRunner, workspace: Workspace) -> None:
    result = cli(
        "triangulate", "--oci-layout", str(workspace.layout), "-o", "json", workspace.image
    )
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == ["image", "type", "format", "reference"]
    assert document["reference"].endswith(".sig")


def test_sign_and_verify_as_subprocesses(workspace: Workspace) -> None:
    signed = run_module(*workspace.sign_args("-o", "json"), env={"COSIGN_PASSWORD": PASSWORD})
    assert signed.code == 0, signed.err
    assert signed.json()["digest"] == workspace.digest
    verified = run_module(*workspace.verify_args("-o", "json"))
    assert verified.code == 0, verified.err
    assert verified.json()["verified"] is True
    unsigned = build_image(workspace.layout, "registry.example.com/team/other:1", b"other\n")
    failed = run_module(*workspace.verify_args(image=f"registry.example.com/team/other@{unsigned}"))
    assert failed.code == EXIT_VERIFICATION_FAILED
    assert "Traceback" not in failed.err


def test_subprocess_errors_have_no_traceback(workspace: Workspace, tmp_path: Path) -> None:
    result = run_module(*workspace.verify_args(key=tmp_path / "absent.pub"))
    assert result.code == EXIT_USAGE
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err
