"""Write docs/cli.md from the command line's own --help texts (``--check``: only compare).

python scripts/cli_docs.py            # regenerate docs/cli.md
python scripts/cli_docs.py --check    # exit 1 when docs/cli.md is out of date
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

from imagesig.cli import main as cli_main

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMANDS = [
    [],
    ["generate-key-pair"],
    ["public-key"],
    ["sign"],
    ["verify"],
    ["attest"],
    ["verify-attestation"],
    ["triangulate"],
    ["tree"],
    ["credentials"],
    ["policy", "apply"],
    ["policy", "test"],
    ["policy", "review"],
    ["demo"],
]
INTRO = """# Command line

`imagesig` (also `python -m imagesig`) mirrors cosign's and kyverno's commands where users
already have habits. Every command takes `-o/--output text|json` (`policy apply` also `yaml`
and `table`) and `--debug` (tracebacks on errors). Exit codes: **0** success (for `verify` and
`verify-attestation`: verified), **1** verification failed (or, for `policy apply|review|test`,
something would be blocked or an expectation failed), **2** usage or input error.

Passwords for cosign key files come from `COSIGN_PASSWORD` or, on a terminal, a prompt; the
library itself never prompts. Keys may be files, `file://`, `env://VAR`, `gcpkms://…` or a
plugin's scheme (see [Write a signer plugin](guides/signer-plugins.md)).

This page is generated from the commands' `--help` (`python scripts/cli_docs.py`).
"""


def _help(arguments: list[str]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli_main([*arguments, "--help"])
    return buffer.getvalue().rstrip()


def render() -> str:
    """The page, with help texts wrapped at 100 columns whatever the terminal."""
    os.environ["COLUMNS"] = "100"
    sections = [INTRO]
    for arguments in COMMANDS:
        title = " ".join(["imagesig", *arguments])
        sections.append(f"## `{title}`\n\n```text\n{_help(arguments)}\n```\n")
    return "\n".join(sections)


def main() -> int:
    page = render()
    if "--check" in sys.argv[1:]:
        if PAGE.read_text(encoding="utf-8") != page:
            print(f"{PAGE} is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
