"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_signs_verifies_and_catches_tampering_on_an_oci_layout(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for step in ("build", "keys", "log", "sign", "verify", "tamper"):
        assert f"  {step} " in result.stdout, step
    assert "a local Rekor transparency log" in result.stdout
    assert "PASS" in result.stdout
    assert "FAIL (as it should)" in result.stdout
    layout = tmp_path / "oci" / "registry.example.com" / "demo" / "app"
    assert (layout / "oci-layout").is_file()
    assert (layout / "index.json").is_file()
    assert (tmp_path / "cosign.key").is_file()
    assert (tmp_path / "trusted_root.json").is_file()


def test_import_imagesig_stays_light() -> None:
    code = (
        "import sys, imagesig; imagesig.Client; imagesig.OCILayoutStore;"
        "heavy = [m for m in ('google.cloud.kms', 'grpc', 'yaml', 'google.auth')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
