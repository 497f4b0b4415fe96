"""Settings and helpers shared by every test directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The repository checkout (the directory holding ``pyproject.toml``).
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """Return the ``shared`` directory next to the checkout (reference notes and test vectors).

    Importable at collection time (``from tests.conftest import shared_dir``) so that tables
    under ``shared_dir() / "vectors"`` can feed ``pytest.mark.parametrize``.
    """
    return (REPO_ROOT / ".." / "shared").resolve()


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    """The ``shared/vectors`` directory; skips the test when it is not there."""
    path = shared_dir() / "vectors"
    if not path.is_dir():
        pytest.skip(f"test vectors not found at {path}")
    return path


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run without the test vectors when the run says it needs them (CI does)."""
    required = os.environ.get("IMAGESIG_REQUIRE_VECTORS", "").lower() not in ("", "0", "false")
    if required and not (shared_dir() / "vectors").is_dir():
        raise pytest.UsageError(
            f"IMAGESIG_REQUIRE_VECTORS is set but no test vectors are at {shared_dir() / 'vectors'}"
        )
