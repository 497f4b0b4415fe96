"""Import cost of imagesig next to its base dependencies, from ``python -X importtime``.

Prints the best of N runs (microseconds summed over top-level imports) for:
``import imagesig``, ``import imagesig`` plus first use of ``Client`` (loads httpx and the
OCI layer), and ``import httpx, cryptography`` alone; and lists heavy modules that must not
be loaded (google-cloud-kms, grpc, yaml). Figures only; nothing is asserted.

    python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CASES = {
    "import imagesig": "import imagesig",
    "import imagesig + use Client": "import imagesig; imagesig.Client; imagesig.OCILayoutStore",
    "import httpx, cryptography (baseline)": (
        "import httpx, cryptography.hazmat.primitives.hashes"
    ),
}
HEAVY = ("google.cloud.kms", "grpc", "yaml", "google.auth")


def top_level_total(stderr: str) -> int:
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _, rest = line.partition(":")
        _self, cumulative, name = (part for part in rest.split("|"))
        if not name.startswith("  "):  # a top-level import (nested ones are indented)
            total += int(cumulative)
    return total


def measure(code: str, runs: int) -> int:
    best = None
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        total = top_level_total(result.stderr)
        best = total if best is None else min(best, total)
    assert best is not None
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    figures = {name: measure(code, args.runs) for name, code in CASES.items()}
    baseline = figures["import httpx, cryptography (baseline)"]
    for name, micros in figures.items():
        print(f"{name:<40} {micros / 1000:7.1f} ms   {micros / baseline:5.2f}x baseline")
    check = (
        "import sys, imagesig; imagesig.Client; imagesig.OCILayoutStore; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"heavy modules loaded by imagesig + Client: {loaded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
