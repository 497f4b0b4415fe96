"""Provider order, the detection report, plugins and what detection costs."""

from __future__ import annotations

import json
import logging
import socket
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from imagesig.credentials import (
    Detection,
    DetectionReport,
    IdentityToken,
    ProviderStatus,
    default_providers,
    detect_credential,
    detection_report,
    get_provider,
    register_provider,
)
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
)

COSIGN_ORDER = [
    "github-actions",
    "envvar",
    "filesystem",
    "google-impersonate",
    "google-workload-identity",
    "spiffe",
]


class StubProvider:
    """A provider with scripted answers."""

    def __init__(
        self,
        name: str,
        *,
        applies: bool = True,
        token: str | None = None,
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.applies = applies
        self.token = token
        self.error = error
        self.asked: list[tuple[str, float]] = []

    def detect(self) -> Detection:
        return Detection(self.applies, f"{self.name} {'applies' if self.applies else 'absent'}")

    def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
        self.asked.append((audience, timeout))
        if self.error is not None:
            raise self.error
        assert self.token is not None
        return IdentityToken.parse(self.token, audience=audience, provider=self.name)


def test_builtin_order_is_cosigns() -> None:
    assert [p.name for p in default_providers()] == COSIGN_ORDER


def test_nothing_applies_gives_none_and_a_report_of_reasons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # this machine might be a Google VM
    assert detect_credential() is None
    report = detection_report(fetch=False)
    assert [row.provider for row in report.rows] == COSIGN_ORDER
    assert {row.status for row in report.rows} == {ProviderStatus.SKIPPED}
    reasons = {row.provider: row.reason for row in report.rows}
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in reasons["github-actions"]
    assert "SIGSTORE_ID_TOKEN is not set" in reasons["envvar"]
    assert "/var/run/sigstore/cosign/oidc-token does not exist" in reasons["filesystem"]
    assert "GOOGLE_SERVICE_ACCOUNT_NAME is not set" in reasons["google-impersonate"]
    assert "NO_GCE_CHECK=true" in reasons["google-workload-identity"]
    assert "SPIFFE_ENDPOINT_SOCKET is not set" in reasons["spiffe"]
    assert report.token is None
    assert report.used is None
    assert "no identity token found" in str(report)


def test_detection_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("detection opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("NO_GCE_CHECK")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_NAME", "x@p.iam.gserviceaccount.com")
    monkeypatch.setenv("SPIFFE_ENDPOINT_SOCKET", "unix:///nonexistent/agent.sock")
    report = detection_report(fetch=False)
    applicable = {row.provider for row in report.rows if row.status is ProviderStatus.AVAILABLE}
    assert applicable == {"google-impersonate", "google-workload-identity", "spiffe"}


def test_first_applicable_provider_wins_and_later_ones_are_not_asked(
    make_token: Callable[..., str],
) -> None:
    absent = StubProvider("absent", applies=False)
    first = StubProvider("first", token=make_token(sub="first"))
    second = StubProvider("second", token=make_token(sub="second"))
    report = detection_report(providers=[absent, first, second])
    assert report.token is not None
    assert report.token.subject == "first"
    assert [row.status for row in report.rows] == [
        ProviderStatus.SKIPPED,
        ProviderStatus.USED,
        ProviderStatus.AVAILABLE,
    ]
    assert "an earlier provider was used" in report.rows[2].reason
    assert second.asked == []
    assert report.used is not None
    assert report.used.provider == "first"


def test_a_failing_provider_is_reported_and_the_next_one_used(
    make_token: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    broken = StubProvider(
        "broken", error=CredentialPermissionError("refused", hint="grant it", provider="broken")
    )
    good = StubProvider("good", token=make_token())
    with caplog.at_level(logging.WARNING, logger="imagesig.credentials"):
        token = detect_credential(providers=[broken, good])
    assert token is not None
    assert token.provider == "good"
    assert any("broken applies but failed: refused" in r.getMessage() for r in caplog.records)


def test_when_every_applicable_provider_fails_the_first_error_is_raised() -> None:
    first = CredentialPermissionError("first refused", provider="a")
    second = CredentialProviderError("second broke", provider="b")
    providers = [StubProvider("a", error=first), StubProvider("b", error=second)]
    with pytest.raises(CredentialPermissionError) as caught:
        detect_credential(providers=providers)
    assert caught.value is first
    report = detection_report(providers=providers)
    assert [row.status for row in report.rows] == [ProviderStatus.FAILED] * 2
    assert report.rows[1].error is second


def test_audience_and_a_shared_deadline_are_passed_on(make_token: Callable[..., str]) -> None:
    provider = StubProvider("p", token=make_token(aud="custom"))
    token = detect_credential("custom", providers=[provider], timeout=3.0)
    assert token is not None
    audience, timeout = provider.asked[0]
    assert audience == "custom"
    assert 0 < timeout <= 3.0


def test_a_provider_returning_something_else_is_an_error() -> None:
    class Liar(StubProvider):
        def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
            return ""  # type: ignore[return-value]

    with pytest.raises(CredentialProviderError, match="not an IdentityToken"):
        detect_credential(providers=[Liar("liar")])


def test_a_detect_returning_bool_is_accepted(make_token: Callable[..., str]) -> None:
    class Plain(StubProvider):
        def detect(self) -> bool:  # type: ignore[override]
            return True

    report = detection_report(providers=[Plain("plain", token=make_token())])
    assert report.rows[0].status is ProviderStatus.USED
    assert report.rows[0].reason == "detected"


def test_report_to_dict_is_json_and_has_no_token(make_token: Callable[..., str]) -> None:
    raw = make_token()
    failing = StubProvider("failing", error=CredentialProviderError("down", hint="restart it"))
    report = detection_report(
        providers=[StubProvider("off", applies=False), failing, StubProvider("on", token=raw)]
    )
    data = report.to_dict()
    text = json.dumps(data)
    assert raw not in text
    assert data["provider"] == "on"
    assert data["identity"]["subject"] == "workload@example"
    rows = {row["provider"]: row for row in data["providers"]}
    assert rows["off"]["status"] == "skipped"
    assert rows["failing"]["status"] == "failed"
    assert rows["failing"]["error"] == {
        "type": "CredentialProviderError",
        "message": "down",
        "hint": "restart it",
    }
    assert rows["on"]["status"] == "used"
    assert rows["on"]["identity"]["audience"] == ["sigstore"]
    assert raw not in str(report)
    assert raw not in repr(report)
    assert "hint: restart it" in str(report)
    assert isinstance(report, DetectionReport)


def test_get_provider_by_cosign_name() -> None:
    assert get_provider("spiffe").name == "spiffe"
    with pytest.raises(CredentialNotFoundError) as caught:
        get_provider("google")
    assert "github-actions" in (caught.value.hint or "")


def test_register_provider_appends_refuses_conflicts_and_undoes(
    make_token: Callable[..., str],
) -> None:
    extra = StubProvider("extra", token=make_token())
    with register_provider(extra):
        assert [p.name for p in default_providers()][-1] == "extra"
        with pytest.raises(ValueError, match="exists"):
            register_provider(StubProvider("extra"))
        assert detect_credential() is not None
    assert "extra" not in [p.name for p in default_providers()]


def test_replacing_a_builtin_keeps_its_place() -> None:
    fake_env = StubProvider("envvar", applies=False)
    with pytest.raises(ValueError, match="replace=True"):
        register_provider(fake_env)
    with register_provider(fake_env, replace=True):
        providers = default_providers()
        assert [p.name for p in providers] == COSIGN_ORDER
        assert providers[1] is fake_env
    assert default_providers()[1] is not fake_env


def test_register_provider_rejects_non_providers() -> None:
    with pytest.raises(TypeError):
        register_provider(object())  # type: ignore[arg-type]


def _install_plugin(root: Path, name: str, entry_points: str, module_source: str) -> None:
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))


def test_entry_point_plugins_are_asked_after_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(
        tmp_path,
        "imagesig_test_ci_plugin",
        "[imagesig.credential_providers]\n"
        "test-ci = imagesig_test_ci_plugin:TestCIProvider\n"
        "broken-ci = imagesig_test_ci_plugin:missing\n"
        "spiffe = imagesig_test_ci_plugin:TestCIProvider\n",
        """
        from imagesig.credentials import Detection

        class TestCIProvider:
            name = "test-ci"

            def detect(self):
                return Detection(False, "TEST_CI is not set")

            def fetch_token(self, audience, *, timeout):
                raise AssertionError("not applicable")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        names = [p.name for p in default_providers()]
        assert names == [*COSIGN_ORDER, "test-ci"]  # the clash with "spiffe" is ignored
        report = detection_report(fetch=False)
        rows = {row.provider: row for row in report.rows}
        assert rows["test-ci"].reason == "TEST_CI is not set"
        assert rows["broken-ci"].status is ProviderStatus.FAILED
        assert "cannot be loaded" in rows["broken-ci"].reason
        with pytest.raises(CredentialProviderError, match="broken-ci"):
            get_provider("broken-ci")
    finally:
        sys.modules.pop("imagesig_test_ci_plugin", None)


def test_a_plugin_that_crashes_is_reported_not_fatal(make_token: Callable[..., str]) -> None:
    class CrashingDetect(StubProvider):
        def detect(self) -> Detection:
            raise RuntimeError("bug in detect")

    class CrashingFetch(StubProvider):
        def fetch_token(self, audience: str, *, timeout: float) -> IdentityToken:
            raise KeyError("bug in fetch")

    good = StubProvider("good", token=make_token())
    report = detection_report(providers=[CrashingDetect("a"), CrashingFetch("b"), good])
    assert [row.status for row in report.rows] == [
        ProviderStatus.FAILED,
        ProviderStatus.FAILED,
        ProviderStatus.USED,
    ]
    assert "RuntimeError" in report.rows[0].reason
    error = report.rows[1].error
    assert isinstance(error, CredentialProviderError)
    assert isinstance(error.__cause__, KeyError)


def test_identity_tokens_compare_and_hash(make_token: Callable[..., str]) -> None:
    raw = make_token()
    first = IdentityToken.parse(raw, audience="sigstore")
    second = IdentityToken.parse(raw, audience="sigstore")
    assert first == second
    assert len({first, second}) == 1
