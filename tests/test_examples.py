"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_on_an_oci_layout_and_reports_each_step(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for step in ("pushed", "resolved", "attached SBOM", "copied", "verified mirror"):
        assert step in result.stdout
    mirror = tmp_path / "registry.example.com" / "mirror" / "app"
    assert (mirror / "oci-layout").is_file()
    assert (mirror / "index.json").is_file()


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
