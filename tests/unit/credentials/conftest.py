"""Every credentials test starts without ambient variables and with the default providers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.metadata_server import clear_ambient_environment
from tests.support.token_server import TokenSigner

from imagesig.credentials import reset_providers


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    clear_ambient_environment(monkeypatch, home)
    # This machine might be a Google VM; tests that want the metadata provider unset it.
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    reset_providers()
    yield
    reset_providers()


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def make_token(signer: TokenSigner) -> Callable[..., str]:
    """``make_token(aud="sigstore", lifetime=300, **claims)`` -> a compact ES256 JWT."""

    def make(aud: Any = "sigstore", lifetime: float = 300, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": "https://issuer.example",
            "sub": "workload@example",
            "aud": aud,
            "iat": now,
            "exp": int(now + lifetime),
        }
        body.update(claims)
        return signer.sign({k: v for k, v in body.items() if v is not None})

    return make
