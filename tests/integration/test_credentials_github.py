"""The GitHub Actions provider against a local OIDC endpoint speaking the runner's protocol."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.github_oidc import GitHubOIDCServer
from tests.support.metadata_server import clear_ambient_environment

from imagesig._http import RetryPolicy
from imagesig.credentials import (
    GitHubActionsProvider,
    ProviderStatus,
    detect_credential,
    detection_report,
    reset_providers,
)
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[GitHubOIDCServer]:
    clear_ambient_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    reset_providers()
    with GitHubOIDCServer() as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        yield server
    reset_providers()


def _provider(**kwargs: object) -> GitHubActionsProvider:
    return GitHubActionsProvider(retry=FAST_RETRY, **kwargs)  # type: ignore[arg-type]


def test_token_for_the_audience(github: GitHubOIDCServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = _provider().fetch_token("sigstore", timeout=5)
    report = detection_report()
    for text in (caplog.text, repr(token), str(report), repr(report), str(report.to_dict())):
        assert github.request_token not in text
        assert token.raw not in text
    assert token.provider == "github-actions"
    assert token.audience == ("sigstore",)
    assert token.issuer == "https://token.actions.githubusercontent.com"
    assert token.subject == "repo:example/app:ref:refs/heads/main"
    request = github.requests[0]
    assert request.authorized
    assert request.query == {"api-version": ["2.0"], "audience": ["sigstore"]}


def test_audience_is_encoded_into_the_existing_query(github: GitHubOIDCServer) -> None:
    audience = "https://example.com/aud?x=1&y=2"
    token = _provider().fetch_token(audience, timeout=5)
    assert token.audience == (audience,)
    assert github.requests[0].query["audience"] == [audience]
    assert github.requests[0].query["api-version"] == ["2.0"]


def test_detect_credential_prefers_github(
    github: GitHubOIDCServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "ignored because github-actions comes first")
    token = detect_credential()
    assert token is not None
    assert token.provider == "github-actions"
    rows = {row.provider: row.status for row in detection_report().rows}
    assert rows["github-actions"] is ProviderStatus.USED
    assert rows["envvar"] is ProviderStatus.AVAILABLE


def test_403_without_value_is_a_permission_error(
    github: GitHubOIDCServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Catalogue item 35: cosign returns an empty token here; we refuse."""
    github.statuses = [403]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialPermissionError) as caught:
        _provider().fetch_token("sigstore", timeout=5)
    error = caught.value
    assert "HTTP 403" in str(error)
    assert "id-token: write" in (error.hint or "")
    assert len(github.requests) == 1  # a refusal is not retried
    for text in (error.diagnostics(), repr(error), caplog.text):
        assert github.request_token not in text


def test_200_without_value_is_an_error(github: GitHubOIDCServer) -> None:
    github.body = b'{"count": 0}'
    with pytest.raises(CredentialProviderError, match="without a token"):
        _provider().fetch_token("sigstore", timeout=5)


def test_non_json_answer_is_an_error(github: GitHubOIDCServer) -> None:
    github.body = b"<html>proxy error</html>"
    with pytest.raises(CredentialProviderError, match="not JSON"):
        _provider().fetch_token("sigstore", timeout=5)


def test_oversized_answer_is_refused(github: GitHubOIDCServer) -> None:
    github.body = b'{"value": "' + b"." * (10 * 1024 * 1024) + b'"}'
    with pytest.raises(CredentialProviderError, match="more than 65536 bytes"):
        _provider().fetch_token("sigstore", timeout=5)


def test_500_then_200_is_retried(github: GitHubOIDCServer) -> None:
    github.statuses = [500, 503]
    token = _provider().fetch_token("sigstore", timeout=5)
    assert token.audience == ("sigstore",)
    assert [r.status for r in github.requests] == [500, 503, 200]
    assert all(r.authorized for r in github.requests)  # the header is set once per attempt


def test_persistent_500_gives_up_after_the_attempts(github: GitHubOIDCServer) -> None:
    github.statuses = [500] * 5
    with pytest.raises(CredentialProviderError, match=r"HTTP 500 \(after 3 attempts\)"):
        _provider().fetch_token("sigstore", timeout=5)
    assert len(github.requests) == 3


def test_timeout_is_bounded(github: GitHubOIDCServer) -> None:
    github.delay = 4.0
    started = time.monotonic()
    with pytest.raises(CredentialProviderError) as caught:
        _provider().fetch_token("sigstore", timeout=0.4)
    # Far below the endpoint's delay: the deadline, not the server, ended the wait.
    assert time.monotonic() - started < 3.0
    assert "timed out" in str(caught.value) or "within" in str(caught.value)
    assert github.request_token not in caught.value.diagnostics()


def test_wrong_audience_from_the_endpoint_is_refused(github: GitHubOIDCServer) -> None:
    github.audience = "https://github.com/example"
    with pytest.raises(InvalidIdentityTokenError, match="not 'sigstore'"):
        _provider().fetch_token("sigstore", timeout=5)


def test_expired_token_from_the_endpoint_is_refused(github: GitHubOIDCServer) -> None:
    github.lifetime = -10
    with pytest.raises(InvalidIdentityTokenError, match="expired"):
        _provider().fetch_token("sigstore", timeout=5)


def test_missing_permission_in_github_actions(
    github: GitHubOIDCServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL")
    provider = _provider()
    detection = provider.detect()
    assert detection.applicable
    assert "no id-token permission" in detection.reason
    with pytest.raises(CredentialPermissionError) as caught:
        provider.fetch_token("sigstore", timeout=5)
    assert "permissions: id-token: write" in caught.value.diagnostics()
    assert github.requests == []
    report = detection_report()
    row = report.rows[0]
    assert row.status is ProviderStatus.FAILED
    assert row.to_dict()["error"]["type"] == "CredentialPermissionError"


def test_not_in_github_actions(github: GitHubOIDCServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in github.environment():
        monkeypatch.delenv(name)
    provider = _provider()
    assert not provider.detect()
    with pytest.raises(CredentialNotFoundError):
        provider.fetch_token("sigstore", timeout=5)


def test_unreachable_endpoint_is_retried_then_reported(
    github: GitHubOIDCServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = github.url
    github.stop()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", url)
    with pytest.raises(CredentialProviderError, match="could not be reached") as caught:
        _provider().fetch_token("sigstore", timeout=5)
    assert "after 3 attempts" in str(caught.value)
    assert "api-version" not in str(caught.value)  # the URL is shown without its query
