"""The ``filesystem`` and ``envvar`` providers: token files and SIGSTORE_ID_TOKEN."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from imagesig.credentials import (
    EnvironmentTokenProvider,
    FileTokenProvider,
    ProviderStatus,
    detect_credential,
    detection_report,
    register_provider,
)
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)


def _write(path: Path, text: str, *, bump: int = 0) -> None:
    path.write_text(text)
    if bump:
        # Make the rewrite visible even on filesystems with coarse timestamps.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_missing_file_does_not_apply(tmp_path: Path) -> None:
    provider = FileTokenProvider(tmp_path / "oidc-token")
    detection = provider.detect()
    assert not detection
    assert "does not exist" in detection.reason
    with pytest.raises(CredentialNotFoundError):
        provider.fetch_token("sigstore", timeout=1)


def test_token_file_is_read_and_checked(tmp_path: Path, make_token: Callable[..., str]) -> None:
    path = tmp_path / "oidc-token"
    raw = make_token(sub="system:serviceaccount:ci:builder")
    _write(path, raw + "\n")
    provider = FileTokenProvider(path)
    assert provider.detect()
    token = provider.fetch_token("sigstore", timeout=1)
    assert token.raw == raw
    assert token.provider == "filesystem"
    assert token.subject == "system:serviceaccount:ci:builder"


def test_empty_token_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "oidc-token"
    _write(path, "\n")
    with pytest.raises(InvalidIdentityTokenError) as caught:
        FileTokenProvider(path).fetch_token("sigstore", timeout=1)
    assert "empty" in str(caught.value)
    assert str(path) in str(caught.value)
    assert caught.value.context["provider"] == "filesystem"


def test_expired_token_file_is_an_error(tmp_path: Path, make_token: Callable[..., str]) -> None:
    path = tmp_path / "oidc-token"
    raw = make_token(lifetime=-30)
    _write(path, raw)
    with pytest.raises(InvalidIdentityTokenError, match="expired") as caught:
        FileTokenProvider(path).fetch_token("sigstore", timeout=1)
    assert raw not in caught.value.diagnostics()


def test_wrong_audience_in_the_file_is_an_error(
    tmp_path: Path, make_token: Callable[..., str]
) -> None:
    path = tmp_path / "oidc-token"
    _write(path, make_token(aud="https://kubernetes.default.svc"))
    with pytest.raises(InvalidIdentityTokenError, match=r"kubernetes\.default\.svc"):
        FileTokenProvider(path).fetch_token("sigstore", timeout=1)


def test_a_rotated_file_is_read_again(tmp_path: Path, make_token: Callable[..., str]) -> None:
    path = tmp_path / "oidc-token"
    _write(path, make_token(sub="first"))
    provider = FileTokenProvider(path)
    first = provider.fetch_token("sigstore", timeout=1)
    assert provider.fetch_token("sigstore", timeout=1) is first  # unchanged file: cached
    _write(path, make_token(sub="second-rotation"), bump=1)
    assert provider.fetch_token("sigstore", timeout=1).subject == "second-rotation"


def test_a_token_about_to_expire_is_read_again(
    tmp_path: Path, make_token: Callable[..., str]
) -> None:
    path = tmp_path / "oidc-token"
    _write(path, make_token(lifetime=30))  # inside the refresh margin
    provider = FileTokenProvider(path)
    first = provider.fetch_token("sigstore", timeout=1)
    second = provider.fetch_token("sigstore", timeout=1)
    assert second is not first
    assert second.raw == first.raw


def test_a_file_larger_than_any_token_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "oidc-token"
    path.write_bytes(b"." * (10 * 1024 * 1024))
    with pytest.raises(InvalidIdentityTokenError, match="larger than"):
        FileTokenProvider(path).fetch_token("sigstore", timeout=1)


def test_a_directory_is_not_a_token(tmp_path: Path) -> None:
    provider = FileTokenProvider(tmp_path)
    assert provider.detect()  # like cosign: it exists, so the provider applies ...
    with pytest.raises(CredentialProviderError, match="not a regular file"):
        provider.fetch_token("sigstore", timeout=1)  # ... but it is no token


def test_envvar_applies_when_set_even_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = EnvironmentTokenProvider()
    assert not provider.detect()
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "")
    assert provider.detect()
    with pytest.raises(InvalidIdentityTokenError, match=r"empty") as caught:
        provider.fetch_token("sigstore", timeout=1)
    assert "$SIGSTORE_ID_TOKEN" in str(caught.value)


def test_envvar_token_is_checked(
    monkeypatch: pytest.MonkeyPatch, make_token: Callable[..., str]
) -> None:
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", make_token(aud="gitlab"))
    with pytest.raises(InvalidIdentityTokenError, match="'gitlab'"):
        EnvironmentTokenProvider().fetch_token("sigstore", timeout=1)
    token = EnvironmentTokenProvider().fetch_token("gitlab", timeout=1)
    assert token.provider == "envvar"


def test_envvar_reads_an_explicit_environment(make_token: Callable[..., str]) -> None:
    provider = EnvironmentTokenProvider("CI_JOB_JWT", environ={"CI_JOB_JWT": make_token()})
    assert provider.fetch_token("sigstore", timeout=1).provider == "envvar"
    with pytest.raises(CredentialNotFoundError):
        EnvironmentTokenProvider(environ={}).fetch_token("sigstore", timeout=1)


def test_detect_credential_uses_a_projected_token_file(
    tmp_path: Path, make_token: Callable[..., str]
) -> None:
    path = tmp_path / "oidc-token"
    _write(path, make_token(sub="pod"))
    with register_provider(FileTokenProvider(path), replace=True):
        token = detect_credential()
    assert token is not None
    assert token.subject == "pod"


def test_broken_token_sources_never_leak_into_logs_or_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_token: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Catalogue item 35: a bad token is an error naming its source, never its content."""
    wrong_audience = make_token(aud="elsewhere")
    expired = make_token(lifetime=-5)
    path = tmp_path / "oidc-token"
    _write(path, expired)
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", wrong_audience)
    caplog.set_level(logging.DEBUG)
    with register_provider(FileTokenProvider(path), replace=True):
        report = detection_report()
        with pytest.raises(InvalidIdentityTokenError) as caught:
            detect_credential()
    rows = {row.provider: row for row in report.rows}
    assert rows["envvar"].status is ProviderStatus.FAILED
    assert rows["filesystem"].status is ProviderStatus.FAILED
    assert "$SIGSTORE_ID_TOKEN" in rows["envvar"].reason
    assert str(path) in rows["filesystem"].reason
    outputs = [
        caught.value.diagnostics(),
        repr(caught.value),
        str(report),
        repr(report),
        str(report.to_dict()),
        caplog.text,
        *(str(record.__dict__) for record in caplog.records),
    ]
    for secret in (wrong_audience, expired):
        for part in (secret, secret.split(".")[1], secret.split(".")[2]):
            assert all(part not in text for text in outputs)
