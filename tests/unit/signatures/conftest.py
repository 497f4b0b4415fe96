"""Fixtures of the end-to-end signing and attestation tests on an OCI layout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.signing import rekor, signer, tlog

from imagesig import Client, OCILayoutStore, TransparencyLogOptions
from imagesig.signers import LocalSigner

__all__ = ["rekor", "signer", "tlog"]  # shared Rekor fixtures


@pytest.fixture(scope="module")
def other_signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def client(tmp_path: Path, tlog: TransparencyLogOptions) -> Iterator[Client]:
    """A client on a fresh OCI layout, logging in the module's Rekor."""
    with Client(stores={"*": OCILayoutStore(tmp_path / "oci")}, tlog=tlog) as opened:
        yield opened
