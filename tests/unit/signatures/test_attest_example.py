"""``examples/attest_slsa.py`` runs as documented in the attestations guide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_attest_slsa_example_attests_verifies_and_refuses_a_missing_type(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "attest_slsa.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for step in ("build", "attest", "verify", "sbom", "tree"):
        assert f"\n{step} " in f"\n{result.stdout}", step
    assert "verify  PASS" in result.stdout
    assert "builder https://ci.example.com/builders/release@v2 (trusted)" in result.stdout
    assert "sbom    FAIL (as it should)" in result.stdout
    assert "no attestation of type https://spdx.dev/Document found" in result.stdout
    layout = tmp_path / "oci" / "registry.example.com" / "team" / "app"
    assert (layout / "index.json").is_file()
