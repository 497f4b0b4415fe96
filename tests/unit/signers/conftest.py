"""Keys shared by the signer tests: generated once per worker, because RSA generation is slow."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from imagesig.signers import LocalSigner, SignatureAlgorithm


@pytest.fixture(scope="session")
def signer_for() -> Callable[[SignatureAlgorithm], LocalSigner]:
    """Return a cached ``LocalSigner`` for each algorithm (RSA ones are 2048 bits)."""
    cache: dict[SignatureAlgorithm, LocalSigner] = {}

    def get(algorithm: SignatureAlgorithm) -> LocalSigner:
        if algorithm not in cache:
            size = 2048 if algorithm.key_type == "rsa" else None
            cache[algorithm] = LocalSigner.generate(algorithm, rsa_key_size=size)
        return cache[algorithm]

    return get
