"""Google access tokens as registry credentials — for Google's registries and nowhere else.

Catalogue item 13: with ambient Google credentials present, an image on any other host is
fetched anonymously; the token goes only to ``gcr.io``, ``*.gcr.io`` and ``*.pkg.dev``, and
only when docker's configuration has nothing for that host. The registries are local fakes
reached under made-up Google host names; the access token comes from the metadata fake through
the real google-auth.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.google_registries import FAST, OTHER_HOST, basic, protected_registries
from tests.support.hostile_registry import HostileRegistry, HostMapTransport
from tests.support.metadata_server import MetadataServer, point_google_auth_at

from imagesig.credentials import GoogleAccessTokenSource, GoogleRegistryKeychain, ambient_keychain
from imagesig.credentials.registry import GOOGLE_REGISTRY_USERNAME
from imagesig.errors import ManifestNotFoundError, RegistryAuthError, RegistryError
from imagesig.oci.credentials import DockerConfigKeychain
from imagesig.oci.registry import RegistryStore
from imagesig.reference import ImageReference

GOOGLE_HOST = "europe-docker.pkg.dev"


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        point_google_auth_at(server, monkeypatch, tmp_path)
        yield server


@pytest.fixture
def registries() -> Iterator[dict[str, HostileRegistry]]:
    with protected_registries(GOOGLE_HOST) as servers:
        yield servers


def _store(keychain: object, registries: dict[str, HostileRegistry]) -> RegistryStore:
    return RegistryStore(
        keychain,  # type: ignore[arg-type]
        transport=HostMapTransport(registries),
        insecure_registries=list(registries),
        retry=FAST,
        trust_env=False,
    )


def test_google_registry_gets_an_access_token(
    metadata: MetadataServer,
    registries: dict[str, HostileRegistry],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    keychain = ambient_keychain(DockerConfigKeychain(tmp_path / "no-config.json"))
    with _store(keychain, registries) as store, pytest.raises(ManifestNotFoundError) as caught:
        store.resolve(ImageReference.parse(f"{GOOGLE_HOST}/project/repo/app:1.0"))
    credential = keychain.resolve(GOOGLE_HOST)
    for text in (caplog.text, caught.value.diagnostics(), repr(credential), repr(keychain)):
        assert metadata.access_token not in text
    authorizations = [r.authorization for r in registries[GOOGLE_HOST].requests()]
    assert basic(GOOGLE_REGISTRY_USERNAME, metadata.access_token) in authorizations
    assert len(metadata.requests_to("/token")) == 1


def test_other_registries_never_see_the_google_token(
    metadata: MetadataServer, registries: dict[str, HostileRegistry], tmp_path: Path
) -> None:
    keychain = ambient_keychain(DockerConfigKeychain(tmp_path / "no-config.json"))
    with _store(keychain, registries) as store, pytest.raises((RegistryAuthError, RegistryError)):
        store.resolve(ImageReference.parse(f"{OTHER_HOST}/team/app:1.0"))
    requests = registries[OTHER_HOST].requests()
    assert requests
    assert all(r.authorization is None for r in requests)  # anonymous only
    assert metadata.requests_to("/token") == []  # no token was even fetched


def test_docker_config_comes_first(
    metadata: MetadataServer, registries: dict[str, HostileRegistry], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"_json_key:from-docker-login").decode()
    config.write_text(json.dumps({"auths": {GOOGLE_HOST: {"auth": auth}}}))
    keychain = ambient_keychain(DockerConfigKeychain(config))
    with _store(keychain, registries) as store, pytest.raises(ManifestNotFoundError):
        store.resolve(ImageReference.parse(f"{GOOGLE_HOST}/project/repo/app:1.0"))
    authorizations = {r.authorization for r in registries[GOOGLE_HOST].requests()}
    assert basic("_json_key", "from-docker-login") in authorizations
    assert metadata.requests_to("/token") == []


@pytest.mark.parametrize(
    ("registry", "applies"),
    [
        ("gcr.io", True),
        ("eu.gcr.io", True),
        ("us-docker.pkg.dev", True),
        ("EUROPE-DOCKER.PKG.DEV", True),
        ("gcr.io.evil.example", False),
        ("evilgcr.io", False),
        ("pkg.dev.evil.example", False),
        ("pkg.dev", False),
        ("gcr.io:5000", False),
        ("ghcr.io", False),
        ("docker.io", False),
        ("127.0.0.1:5000", False),
    ],
)
def test_only_google_hosts_match(registry: str, applies: bool) -> None:
    class Tokens(GoogleAccessTokenSource):
        asked = 0

        def token(self) -> str | None:
            Tokens.asked += 1
            return "ya29.not-a-real-token"

    keychain = GoogleRegistryKeychain(Tokens())
    assert keychain.applies_to(registry) is applies
    credential = keychain.resolve(registry)
    assert (credential is not None) is applies
    assert Tokens.asked == (1 if applies else 0)
    if credential is not None:
        assert credential.username == GOOGLE_REGISTRY_USERNAME
        assert "ya29" not in repr(credential)


def test_without_google_credentials_the_keychain_is_silent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    assert GoogleRegistryKeychain().resolve("gcr.io") is None
