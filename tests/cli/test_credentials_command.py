"""``imagesig credentials``: the detection report, one provider, and never the token unasked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import CliRunner, run_module
from tests.support.metadata_server import (
    AMBIENT_VARIABLES,
    MetadataServer,
    clear_ambient_environment,
)
from tests.support.token_server import TokenSigner

from imagesig.cli import EXIT_USAGE
from imagesig.credentials import reset_providers

PROVIDERS = [
    "github-actions",
    "envvar",
    "filesystem",
    "google-impersonate",
    "google-workload-identity",
    "spiffe",
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    clear_ambient_environment(monkeypatch, home)
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # this machine might be a Google VM
    reset_providers()
    yield
    reset_providers()


@pytest.fixture(scope="module")
def token_signer() -> TokenSigner:
    return TokenSigner()


def make_token(signer: TokenSigner, aud: str = "sigstore") -> str:
    now = int(time.time())
    claims = {
        "iss": "https://issuer.example",
        "sub": "repo:team/app:ref:refs/heads/main",
        "aud": aud,
        "iat": now,
        "exp": now + 300,
    }
    return signer.sign(claims)


@pytest.fixture
def token(token_signer: TokenSigner, monkeypatch: pytest.MonkeyPatch) -> str:
    raw = make_token(token_signer)
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", raw)
    return raw


def test_the_report_names_the_provider_used_and_never_the_token(cli: CliRunner, token: str) -> None:
    result = cli("credentials")
    assert result.code == 0, result.err
    assert token not in result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == "ambient credentials for audience 'sigstore':"
    rows = {line.split()[0]: line.split()[1] for line in lines[1:] if line.startswith("  ")}
    assert rows["envvar"] == "used"
    assert rows["github-actions"] == "skipped"
    assert "subject 'repo:team/app:ref:refs/heads/main'" in result.out


def test_json_report(cli: CliRunner, token: str) -> None:
    result = cli("credentials", "-o", "json")
    assert result.code == 0, result.err
    assert token not in result.out
    document = result.json()
    assert list(document) == ["audience", "provider", "identity", "providers"]
    assert document["provider"] == "envvar"
    assert document["identity"]["issuer"] == "https://issuer.example"
    assert [row["provider"] for row in document["providers"]] == PROVIDERS
    assert "token" not in document


def test_show_token_puts_only_the_token_on_standard_output(cli: CliRunner, token: str) -> None:
    result = cli("credentials", "--show-token")
    assert result.code == 0, result.err
    assert result.out == token + "\n"
    assert "envvar" in result.err
    assert token not in result.err


def test_show_token_in_json(cli: CliRunner, token: str) -> None:
    result = cli("credentials", "--show-token", "--output", "json")
    assert result.code == 0, result.err
    document = result.json()
    assert document["token"] == token
    assert document["provider"] == "envvar"


def test_another_audience_is_reported_as_a_failure(cli: CliRunner, token: str) -> None:
    result = cli("credentials", "--audience", "other", "--show-token")
    assert result.code == EXIT_USAGE
    assert token not in result.out + result.err
    assert "failed" in result.out
    assert "'sigstore', not 'other'" in result.out
    assert "error: no ambient identity token for audience 'other'" in result.err


def test_nothing_here_exits_2_with_every_provider_skipped(cli: CliRunner) -> None:
    result = cli("credentials", "-o", "json")
    assert result.code == EXIT_USAGE
    document = result.json()  # the report, not an error document
    assert document["provider"] is None
    assert {row["status"] for row in document["providers"]} == {"skipped"}
    assert "no ambient identity token" in result.err


def test_one_provider(cli: CliRunner, token: str) -> None:
    result = cli("credentials", "--oidc-provider", "envvar")
    assert result.code == 0, result.err
    assert result.out.startswith("envvar: identity token for audience 'sigstore'")
    assert "issuer   https://issuer.example" in result.out
    assert token not in result.out

    shown = cli("credentials", "--oidc-provider", "envvar", "--show-token", "-o", "json")
    assert shown.code == 0, shown.err
    document = shown.json()
    assert list(document) == ["audience", "provider", "identity", "token"]
    assert document["token"] == token


def test_one_provider_that_does_not_apply_is_an_error_with_a_hint(cli: CliRunner) -> None:
    result = cli("credentials", "--oidc-provider", "github-actions", "-o", "json")
    assert result.code == EXIT_USAGE
    assert "Traceback" not in result.err
    error = result.json()["error"]
    assert error["type"].startswith("Credential")
    assert "ACTIONS_ID_TOKEN_REQUEST" in error["message"] + (error["hint"] or "")


def test_an_unknown_provider_lists_the_known_ones(cli: CliRunner) -> None:
    result = cli("credentials", "--oidc-provider", "nope")
    assert result.code == EXIT_USAGE
    assert "no credential provider named 'nope'" in result.err
    for name in PROVIDERS:
        assert name in result.err


def test_a_broken_token_is_reported_without_its_text(cli: CliRunner) -> None:
    garbage = "eyJub3QiOiJhIHRva2VuIn0.c2VjcmV0LXZhbHVl"  # two parts: not a JWT
    result = cli("credentials", "--oidc-provider", "envvar", env={"SIGSTORE_ID_TOKEN": garbage})
    assert result.code == EXIT_USAGE
    assert "not a JWT" in result.err
    assert garbage not in result.err
    assert "c2VjcmV0LXZhbHVl" not in result.err


def test_timeout_must_be_positive(cli: CliRunner) -> None:
    result = cli("credentials", "--timeout", "0")
    assert result.code == EXIT_USAGE
    assert "--timeout" in result.err


def test_help(cli: CliRunner) -> None:
    result = cli("credentials", "--help")
    assert result.code == 0
    for flag in ("--audience", "--show-token", "--oidc-provider", "--output"):
        assert flag in result.out
    assert "credentials" in cli("--help").out


def test_the_metadata_server_in_a_fresh_process(tmp_path: Path) -> None:
    """google-workload-identity through the real google-auth, pointed at the fake at import."""
    home = tmp_path / "pod-home"
    home.mkdir()
    with MetadataServer() as metadata:
        environment: dict[str, str] = dict.fromkeys(AMBIENT_VARIABLES, "")
        environment.update(metadata.environment(home))
        result = run_module(
            "credentials", "--audience", "https://fulcio.example", "-o", "json", env=environment
        )
        assert result.code == 0, result.err
        document = json.loads(result.out)
        assert document["provider"] == "google-workload-identity"
        assert document["identity"]["audience"] == ["https://fulcio.example"]
        assert document["identity"]["issuer"] == "https://accounts.google.com"
        assert len(metadata.requests_to("/identity")) == 1
        assert metadata.access_token not in result.out + result.err
