"""docs/cli.md is the command line's own --help, so it cannot drift from the code."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import REPO_ROOT


@pytest.mark.skipif(
    sys.version_info >= (3, 13),
    reason="argparse lays out help differently from Python 3.13; the page is generated on 3.11",
)
def test_cli_reference_page_matches_the_help_texts() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
