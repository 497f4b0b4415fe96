"""The SPIFFE provider through py-spiffe against a Workload API fake on a Unix socket.

Catalogue item 38: ``unix:///path`` and a bare path both work; a server that does not check
still receives ``workload.spiffe.io: true``; ``INVALID_ARGUMENT`` is not retried;
``UNAVAILABLE`` is retried with backoff within the deadline.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("spiffe", reason="the spiffe extra is not installed")

import grpc
from spiffe._proto import workload_pb2, workload_pb2_grpc
from tests.support.metadata_server import clear_ambient_environment
from tests.support.spiffe_workload import SpiffeWorkloadServer

from imagesig.credentials import (
    ProviderStatus,
    SpiffeProvider,
    detect_credential,
    detection_report,
    reset_providers,
)
from imagesig.credentials.spiffe import socket_path
from imagesig.errors import (
    CredentialNotFoundError,
    CredentialPermissionError,
    CredentialProviderError,
    InvalidIdentityTokenError,
)


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SpiffeWorkloadServer]:
    clear_ambient_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    reset_providers()
    with SpiffeWorkloadServer() as server:
        yield server
    reset_providers()


@pytest.mark.parametrize("form", ["uri", "bare"])
def test_both_socket_spellings_work(
    agent: SpiffeWorkloadServer, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    value = agent.uri if form == "uri" else agent.socket_path
    monkeypatch.setenv("SPIFFE_ENDPOINT_SOCKET", value)
    token = detect_credential("sigstore")
    assert token is not None
    assert token.provider == "spiffe"
    assert token.subject == "spiffe://example.org/ci/builder"
    assert token.audience == ("sigstore",)
    assert [call.audience for call in agent.calls] == [("sigstore",)]


def test_the_header_is_sent_even_to_a_lax_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_ambient_environment(monkeypatch, tmp_path)
    with SpiffeWorkloadServer(enforce_header=False) as lax:
        SpiffeProvider(lax.uri).fetch_token("sigstore", timeout=5)
        assert [call.header for call in lax.calls] == ["true"]


def test_a_request_without_the_header_is_refused_by_the_fake(agent: SpiffeWorkloadServer) -> None:
    with grpc.insecure_channel(f"unix:{agent.socket_path}") as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=["sigstore"]), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_invalid_argument_is_not_retried(agent: SpiffeWorkloadServer) -> None:
    agent.codes = [grpc.StatusCode.INVALID_ARGUMENT]
    with pytest.raises(CredentialProviderError) as caught:
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=5)
    assert "INVALID_ARGUMENT" in str(caught.value)
    assert [call.code for call in agent.calls] == ["INVALID_ARGUMENT"]


def test_unavailable_is_retried_within_the_deadline(agent: SpiffeWorkloadServer) -> None:
    agent.codes = [grpc.StatusCode.UNAVAILABLE] * 3
    token = SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=10)
    assert token.audience == ("sigstore",)
    assert [call.code for call in agent.calls] == ["UNAVAILABLE"] * 3 + ["OK"]


def test_unavailable_forever_stops_at_the_deadline(agent: SpiffeWorkloadServer) -> None:
    agent.codes = [grpc.StatusCode.UNAVAILABLE] * 10_000
    started = time.monotonic()
    with pytest.raises(CredentialProviderError, match=r"within 1 s \(last answer: UNAVAILABLE\)"):
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert len(agent.calls) >= 2


def test_permission_denied_until_the_deadline_is_a_permission_error(
    agent: SpiffeWorkloadServer,
) -> None:
    agent.codes = [grpc.StatusCode.PERMISSION_DENIED] * 10_000
    with pytest.raises(CredentialPermissionError) as caught:
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=2)
    assert "registration" in (caught.value.hint or "") or "register" in (caught.value.hint or "")


def test_other_statuses_are_not_retried(agent: SpiffeWorkloadServer) -> None:
    agent.codes = [grpc.StatusCode.UNIMPLEMENTED]
    with pytest.raises(CredentialProviderError, match="UNIMPLEMENTED"):
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=5)
    assert len(agent.calls) == 1


def test_expired_svid_is_refused(agent: SpiffeWorkloadServer) -> None:
    agent.lifetime = -10
    with pytest.raises(InvalidIdentityTokenError):
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=5)


def test_a_missing_socket_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_ambient_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("SPIFFE_ENDPOINT_SOCKET", f"unix://{tmp_path}/gone.sock")
    provider = SpiffeProvider()
    detection = provider.detect()
    assert detection.applicable
    assert "not a socket" in detection.reason
    started = time.monotonic()
    with pytest.raises(CredentialProviderError, match="does not exist"):
        provider.fetch_token("sigstore", timeout=10)
    assert time.monotonic() - started < 3


def test_no_socket_named_and_no_default_socket_does_not_apply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_ambient_environment(monkeypatch, tmp_path)
    provider = SpiffeProvider()
    if provider.detect():
        pytest.skip("a SPIRE agent socket exists at the default path on this machine")
    with pytest.raises(CredentialNotFoundError):
        provider.fetch_token("sigstore", timeout=1)


@pytest.mark.parametrize(
    "value",
    [
        "tcp://127.0.0.1:8081",
        "unix://host/path",
        "unix:///p?x=1",
        "relative/agent.sock",
        "http://x",
    ],
)
def test_unusable_addresses_are_explained(value: str) -> None:
    with pytest.raises(ValueError):
        socket_path(value)
    provider = SpiffeProvider(environ={"SPIFFE_ENDPOINT_SOCKET": value})
    assert "unusable" in provider.detect().reason
    with pytest.raises(CredentialProviderError, match="not a usable Workload API address"):
        provider.fetch_token("sigstore", timeout=1)


def test_socket_path_forms() -> None:
    assert socket_path("unix:///run/spire/agent.sock") == "/run/spire/agent.sock"
    assert socket_path("unix:/run/spire/agent.sock") == "/run/spire/agent.sock"
    assert socket_path("/run/spire/agent.sock") == "/run/spire/agent.sock"


def test_report_and_logs_never_show_the_svid(
    agent: SpiffeWorkloadServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SPIFFE_ENDPOINT_SOCKET", agent.uri)
    caplog.set_level(logging.DEBUG)
    report = detection_report("sigstore")
    assert report.token is not None
    rows = {row.provider: row.status for row in report.rows}
    assert rows["spiffe"] is ProviderStatus.USED
    for text in (str(report), repr(report), str(report.to_dict()), caplog.text):
        assert report.token.raw not in text


def test_missing_spiffe_package_names_the_extra(
    agent: SpiffeWorkloadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_spiffe(name: str, *args: object, **kwargs: object) -> object:
        if name == "spiffe" or name.startswith("spiffe."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_spiffe)
    with pytest.raises(CredentialProviderError) as caught:
        SpiffeProvider(agent.uri).fetch_token("sigstore", timeout=1)
    assert "imagesig[spiffe]" in (caught.value.hint or "")
    assert caught.value.context["extra"] == "spiffe"
