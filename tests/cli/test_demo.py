"""``imagesig demo``: the whole story, end to end, in a temporary directory."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.cli.conftest import CliRunner, run_module

from imagesig.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED
from imagesig.signers import LocalSigner, PublicKey

STEPS = ["build", "keys", "sign", "sign", "verify", "tamper", "verify"]


def test_demo_tells_the_story_and_leaves_files_to_try(cli: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = cli("demo", str(directory))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"imagesig demo in {directory}"
    assert "a local Rekor transparency log running in this process" in result.out
    assert "not the public Sigstore log" in result.out
    assert "PASS: 2 of 2 signature(s) verify" in result.out
    assert "FAIL (as it should): 0 of 2 signature(s) verify" in result.out
    assert len(result.out.splitlines()) < 30, "the demo should stay short"

    signer = LocalSigner.from_file(directory / "cosign.key", "imagesig-demo")
    assert PublicKey.from_file(directory / "cosign.pub") == signer.public_key()

    commands = [line.strip() for line in lines if line.strip().startswith("imagesig verify")]
    assert len(commands) == 2
    pinned, tagged = (shlex.split(command)[1:] for command in commands)
    assert cli(*pinned).code == 0
    assert cli(*tagged).code == EXIT_VERIFICATION_FAILED


def test_demo_json_lists_the_steps(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("demo", "--output", "json", str(tmp_path / "demo"))
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == ["directory", "transparency_log", "steps", "ok", "commands"]
    assert [step["step"] for step in document["steps"]] == STEPS
    assert document["ok"] is True
    assert document["transparency_log"]["local"] is True
    verifications = [step for step in document["steps"] if step["step"] == "verify"]
    assert [step["verified"] for step in verifications] == [True, False]


def test_demo_without_a_directory_cleans_up(cli: CliRunner) -> None:
    result = cli("demo")
    assert result.code == 0, result.err
    directory = Path(result.out.splitlines()[0].removeprefix("imagesig demo in "))
    assert not directory.exists()
    assert "imagesig demo DIR" in result.out


def test_demo_refuses_a_directory_with_files(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "cosign.key").write_text("precious", encoding="utf-8")
    result = cli("demo", str(tmp_path))
    assert result.code == EXIT_USAGE
    assert "not an empty directory" in result.err
    assert (tmp_path / "cosign.key").read_text(encoding="utf-8") == "precious"


def test_demo_as_a_subprocess(tmp_path: Path) -> None:
    result = run_module("demo", str(tmp_path / "demo"))
    assert result.code == 0, result.err
    assert "FAIL (as it should)" in result.out
