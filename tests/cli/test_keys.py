"""``imagesig generate-key-pair`` and ``imagesig public-key``."""

from __future__ import annotations

import getpass
import stat
import sys
from pathlib import Path

import pytest
from tests.cli.conftest import PASSWORD, CliRunner, run_module

from imagesig.cli import EXIT_USAGE
from imagesig.signers import LocalSigner, PublicKey, write_key_pair


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fake_terminal(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """Make stdin look like a terminal and answer getpass prompts in order; return prompts."""
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def test_generate_key_pair_writes_files_that_load_with_local_signer(
    cli: CliRunner, in_tmp: Path
) -> None:
    result = cli("generate-key-pair", env={"COSIGN_PASSWORD": PASSWORD})
    assert result.code == 0, result.err
    assert "cosign.key" in result.out
    assert "cosign.pub" in result.out
    signer = LocalSigner.from_file(in_tmp / "cosign.key", PASSWORD)
    assert PublicKey.from_file(in_tmp / "cosign.pub") == signer.public_key()
    assert stat.S_IMODE((in_tmp / "cosign.key").stat().st_mode) == 0o600
    assert PASSWORD not in result.out + result.err


def test_generate_key_pair_accepts_an_empty_password_like_cosign(
    cli: CliRunner, in_tmp: Path
) -> None:
    assert cli("generate-key-pair", env={"COSIGN_PASSWORD": ""}).code == 0
    LocalSigner.from_file(in_tmp / "cosign.key", "")


def test_generate_key_pair_prefix_and_json(cli: CliRunner, in_tmp: Path) -> None:
    result = cli(
        "generate-key-pair",
        "--output-key-prefix",
        "release",
        "--output",
        "json",
        env={"COSIGN_PASSWORD": PASSWORD},
    )
    assert result.code == 0
    document = result.json()
    assert list(document) == ["private_key", "public_key", "algorithm", "key_id"]
    assert document["private_key"] == str(in_tmp / "release.key")
    assert document["public_key"] == str(in_tmp / "release.pub")
    assert document["algorithm"] == "ECDSA_P256_SHA256"
    assert document["key_id"] == PublicKey.from_file(in_tmp / "release.pub").key_id


def test_generate_key_pair_prompts_twice_on_a_terminal(
    cli: CliRunner, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = _fake_terminal(monkeypatch, [PASSWORD, PASSWORD])
    assert cli("generate-key-pair").code == 0
    assert len(prompts) == 2
    assert "again" in prompts[1]
    LocalSigner.from_file(in_tmp / "cosign.key", PASSWORD)


def test_generate_key_pair_refuses_mismatched_passwords(
    cli: CliRunner, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_terminal(monkeypatch, [PASSWORD, "something else"])
    result = cli("generate-key-pair")
    assert result.code == EXIT_USAGE
    assert "do not match" in result.err
    assert not (in_tmp / "cosign.key").exists()
    assert PASSWORD not in result.err


def test_generate_key_pair_without_password_or_terminal_fails_clearly(
    cli: CliRunner, in_tmp: Path
) -> None:
    result = cli("generate-key-pair")
    assert result.code == EXIT_USAGE
    assert "COSIGN_PASSWORD" in result.err
    assert "Traceback" not in result.err
    assert not (in_tmp / "cosign.key").exists()


def test_generate_key_pair_never_overwrites_without_force(cli: CliRunner, in_tmp: Path) -> None:
    env: dict[str, str | None] = {"COSIGN_PASSWORD": PASSWORD}
    assert cli("generate-key-pair", env=env).code == 0
    before = (in_tmp / "cosign.key").read_bytes()
    result = cli("generate-key-pair", env=env)
    assert result.code == EXIT_USAGE
    assert "already exists" in result.err
    assert "--force" in result.err
    assert (in_tmp / "cosign.key").read_bytes() == before
    assert cli("generate-key-pair", "--force", env=env).code == 0
    assert (in_tmp / "cosign.key").read_bytes() != before


def test_generate_key_pair_as_a_subprocess(tmp_path: Path) -> None:
    result = run_module("generate-key-pair", env={"COSIGN_PASSWORD": PASSWORD}, cwd=tmp_path)
    assert result.code == 0, result.err
    LocalSigner.from_file(tmp_path / "cosign.key", PASSWORD)


def test_generate_key_pair_subprocess_without_password_exits_2(tmp_path: Path) -> None:
    result = run_module("generate-key-pair", cwd=tmp_path)
    assert result.code == EXIT_USAGE
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path, LocalSigner]:
    signer = LocalSigner.generate()
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    write_key_pair(private, public, signer, PASSWORD)
    return private, public, signer


def test_public_key_prints_the_pem(
    cli: CliRunner, key_files: tuple[Path, Path, LocalSigner]
) -> None:
    private, public, _signer = key_files
    result = cli("public-key", "--key", str(private), env={"COSIGN_PASSWORD": PASSWORD})
    assert result.code == 0, result.err
    assert result.out == public.read_text()


def test_public_key_json_and_outfile(
    cli: CliRunner, key_files: tuple[Path, Path, LocalSigner], tmp_path: Path
) -> None:
    private, public, signer = key_files
    outfile = tmp_path / "out.pub"
    result = cli(
        "public-key",
        "--key",
        str(private),
        "--outfile",
        str(outfile),
        "-o",
        "json",
        env={"COSIGN_PASSWORD": PASSWORD},
    )
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == ["pem", "algorithm", "key_id", "outfile"]
    assert document["key_id"] == signer.public_key().key_id
    assert outfile.read_bytes() == public.read_bytes()


def test_public_key_prompts_once_on_a_terminal(
    cli: CliRunner, key_files: tuple[Path, Path, LocalSigner], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = _fake_terminal(monkeypatch, [PASSWORD])
    assert cli("public-key", "--key", str(key_files[0])).code == 0
    assert len(prompts) == 1


def test_public_key_of_an_unencrypted_key_needs_no_password(cli: CliRunner, tmp_path: Path) -> None:
    signer = LocalSigner.generate()
    path = tmp_path / "plain.pem"
    path.write_bytes(signer.private_pem())
    result = cli("public-key", "--key", str(path))
    assert result.code == 0
    assert result.out.encode() == signer.public_key().pem


def test_wrong_password_is_an_input_error_that_never_shows_the_password(
    cli: CliRunner, key_files: tuple[Path, Path, LocalSigner]
) -> None:
    wrong = "not-the-password-42"
    result = cli("public-key", "--key", str(key_files[0]), env={"COSIGN_PASSWORD": wrong})
    assert result.code == EXIT_USAGE
    assert "wrong password" in result.err
    assert wrong not in result.err
    assert PASSWORD not in result.err
    assert "Traceback" not in result.err


def test_missing_key_file_is_an_input_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("public-key", "--key", str(tmp_path / "nope.key"))
    assert result.code == EXIT_USAGE
    assert "nope.key" in result.err


def test_public_key_of_a_public_key_explains_itself(
    cli: CliRunner, key_files: tuple[Path, Path, LocalSigner]
) -> None:
    result = cli("public-key", "--key", str(key_files[1]))
    assert result.code == EXIT_USAGE
    assert "not a private key" in result.err
