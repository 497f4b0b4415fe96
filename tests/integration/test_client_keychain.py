"""The default keychain of ``Client`` and ``AsyncClient``: docker's, then Google's for Google hosts.

Catalogue item 13 at the client level: without ``keychain=``, a client offers Google access
tokens to ``gcr.io``, ``*.gcr.io`` and ``*.pkg.dev`` only, fetches none for any other host,
and costs nothing until a Google registry asks for credentials. When no token can be had, a
Google registry is accessed anonymously with a warning (public images still pull). The
registries are local fakes reached under made-up host names; the token comes from the
metadata fake through the real google-auth.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.google_registries import FAST, OTHER_HOST, basic, protected_registries
from tests.support.hostile_registry import (
    AsyncHostMapTransport,
    HostileRegistry,
    HostMapTransport,
)
from tests.support.metadata_server import MetadataServer, point_google_auth_at

from imagesig import AsyncClient, Client
from imagesig.credentials import GoogleRegistryKeychain
from imagesig.credentials.registry import GOOGLE_REGISTRY_USERNAME
from imagesig.errors import (
    CredentialPermissionError,
    ManifestNotFoundError,
    RegistryAuthError,
    RegistryError,
)
from imagesig.oci.credentials import ChainKeychain, DockerConfigKeychain, StaticKeychain

GOOGLE_HOST = "us-docker.pkg.dev"


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        point_google_auth_at(server, monkeypatch, tmp_path)  # HOME is empty: no docker config
        monkeypatch.delenv("DOCKER_CONFIG", raising=False)
        monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)
        monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        yield server


@pytest.fixture
def registries() -> Iterator[dict[str, HostileRegistry]]:
    with protected_registries(GOOGLE_HOST) as servers:
        yield servers


def _client(registries: dict[str, HostileRegistry]) -> Client:
    return Client(
        transport=HostMapTransport(registries),
        insecure_registries=list(registries),
        retry=FAST,
        trust_env=False,
    )


def test_the_default_keychain_is_docker_then_google() -> None:
    with Client() as client:
        keychain = client.store_for("registry.example.com").keychain  # type: ignore[attr-defined]
    assert isinstance(keychain, ChainKeychain)
    docker, google = keychain.keychains
    assert isinstance(docker, DockerConfigKeychain)
    assert isinstance(google, GoogleRegistryKeychain)
    assert google.strict is False
    # A keychain given is used as is.
    given = StaticKeychain()
    with Client(keychain=given) as client:
        assert client.store_for("registry.example.com").keychain is given  # type: ignore[attr-defined]


def test_a_google_registry_gets_the_access_token(
    metadata: MetadataServer, registries: dict[str, HostileRegistry]
) -> None:
    with _client(registries) as client, pytest.raises(ManifestNotFoundError):
        client.resolve(f"{GOOGLE_HOST}/project/repo/app:1.0")
    authorizations = [r.authorization for r in registries[GOOGLE_HOST].requests()]
    assert basic(GOOGLE_REGISTRY_USERNAME, metadata.access_token) in authorizations
    assert len(metadata.requests_to("/token")) == 1


def test_another_registry_never_triggers_a_token_fetch(
    metadata: MetadataServer, registries: dict[str, HostileRegistry]
) -> None:
    with _client(registries) as client, pytest.raises((RegistryAuthError, RegistryError)):
        client.resolve(f"{OTHER_HOST}/team/app:1.0")
    requests = registries[OTHER_HOST].requests()
    assert requests
    assert all(r.authorization is None for r in requests)
    assert metadata.requests == []  # the metadata server was not even asked


async def test_the_async_client_does_the_same(
    metadata: MetadataServer, registries: dict[str, HostileRegistry]
) -> None:
    client = AsyncClient(
        transport=AsyncHostMapTransport(registries),
        insecure_registries=list(registries),
        retry=FAST,
        trust_env=False,
    )
    async with client:
        with pytest.raises((RegistryAuthError, RegistryError)):
            await client.resolve(f"{OTHER_HOST}/team/app:1.0")
        assert metadata.requests == []
        with pytest.raises(ManifestNotFoundError):
            await client.resolve(f"{GOOGLE_HOST}/project/repo/app:1.0")
    authorizations = [r.authorization for r in registries[GOOGLE_HOST].requests()]
    assert basic(GOOGLE_REGISTRY_USERNAME, metadata.access_token) in authorizations
    assert all(r.authorization is None for r in registries[OTHER_HOST].requests())


def test_a_refused_token_means_anonymous_access_and_a_warning(
    metadata: MetadataServer,
    registries: dict[str, HostileRegistry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    metadata.token_status = 403
    caplog.set_level(logging.WARNING, logger="imagesig.credentials.registry")
    with _client(registries) as client, pytest.raises((RegistryAuthError, RegistryError)):
        client.resolve(f"{GOOGLE_HOST}/project/repo/app:1.0")
    assert all(r.authorization is None for r in registries[GOOGLE_HOST].requests())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("HTTP 403" in text and GOOGLE_HOST in text for text in warnings), warnings
    assert metadata.access_token not in caplog.text
    # An explicit keychain stays strict: the refusal is the error.
    strict = GoogleRegistryKeychain()
    with pytest.raises(CredentialPermissionError, match="HTTP 403"):
        strict.resolve(GOOGLE_HOST)


def test_making_and_using_a_client_elsewhere_loads_no_google_library(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import imagesig
        client = imagesig.Client()
        assert "imagesig.credentials" not in sys.modules, "loaded by Client()"
        keychain = client.store_for("registry.test").keychain
        assert keychain.resolve("registry.test") is None
        assert keychain.resolve("ghcr.io") is None
        loaded = [m for m in ("google", "google.auth", "grpc") if m in sys.modules]
        print(",".join(loaded))
        """
    )
    environment = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        # Google credentials are "there": a lookup for a Google host would try this address.
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "CLOUDSDK_CONFIG": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
