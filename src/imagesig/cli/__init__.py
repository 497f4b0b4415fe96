"""The ``imagesig`` command line: cosign's commands and flag names over the imagesig API.

Commands: ``generate-key-pair``, ``public-key``, ``sign``, ``verify``, ``triangulate``,
``attest``, ``verify-attestation``, ``tree``, ``credentials``, ``policy`` (``apply``,
``test``, ``review``) and ``demo``;
``imagesig COMMAND --help`` describes each. The CLI has no logic of its own: it
parses arguments, calls the public API and prints the result, as text or, with
``--output json``, as one JSON document on standard output.

Start-up is kept short: this module and the parser import nothing heavy, and only the
module of the chosen command is imported (``imagesig --help`` loads no crypto or HTTP code).

Exit codes. cosign exits 1 for every failure; imagesig keeps 1 for "not verified" only, so
that a pipeline can tell a rejected image from a broken step:

* ``0`` — success; for ``verify``, the image is verified (for ``verify-attestation``: an
  attestation of the type asked for verified).
* ``1`` — verification failed: signatures were looked for and none verifies with the key
  (none found, wrong key, payload for another digest, annotations that do not match, a
  missing or invalid transparency-log proof; for ``verify-attestation`` also: none of the
  type asked for). Only ``verify``, ``verify-attestation``, ``policy`` (a request would be
  blocked, a test expectation failed) and ``demo`` (when its story does not end as it
  should) exit 1.
* ``2`` — usage or input error, i.e. the command could not do its job: bad arguments, an
  invalid image reference, a missing or malformed key file, a wrong or missing password,
  key files that already exist, an image that does not exist, a registry, OCI layout or
  transparency log that fails or refuses us. argparse's own usage errors also exit 2.
* ``130`` — interrupted (Ctrl-C).

Errors print ``error: <message>`` on standard error, followed by the context and hint of
:meth:`~imagesig.errors.ImageSigError.diagnostics`; never a traceback (unless ``--debug``)
and never a password or token. With ``--output json`` standard output also receives
``{"error": {"type", "message", "hint", "exit_code"}}`` (except for the usage errors argparse
reports itself, which only print the usage).

Example::

    $ imagesig generate-key-pair
    $ imagesig sign --key cosign.key registry.example.com/team/app:1.4
    $ imagesig verify --key cosign.pub --output json registry.example.com/team/app:1.4
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from imagesig.errors import ImageSigError, TransparencyLogError, VerificationError, redact_url

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VERIFICATION_FAILED",
    "main",
]

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Commands for which a signature or log-proof error means "not verified" rather than "broken".
_VERIFYING_COMMANDS = frozenset({"verify", "verify-attestation"})
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imagesig`` command line and return its exit code.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code (see the module notes). It never raises ``SystemExit``: ``--help``
        returns 0 and a usage error argparse reports returns 2.
    """
    from imagesig.cli._parser import build_parser, normalise_argv  # noqa: PLC0415

    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(normalise_argv(raw))
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        from imagesig import __version__  # noqa: PLC0415

        print(f"imagesig {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.output in ("yaml", "table") and (
        args.command != "policy" or getattr(args, "policy_command", None) != "apply"
    ):
        print(
            f"error: --output {args.output} is offered by 'policy apply' only; use text or json",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        module = importlib.import_module(f"imagesig.cli.{args._module}")
        code: int = module.run(args)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImageSigError as exc:
        if args.debug:
            _print_traceback()
        verifying = args.command in _VERIFYING_COMMANDS
        failed = verifying and isinstance(exc, (VerificationError, TransparencyLogError))
        code = EXIT_VERIFICATION_FAILED if failed else EXIT_USAGE
        _report(
            args, type(exc).__name__, _diagnostics(exc), exc.message, hint=exc.hint, exit_code=code
        )
        return code
    except Exception as exc:  # a bug, or an error the library failed to wrap
        if args.debug:
            _print_traceback()
        message = f"unexpected {type(exc).__name__}: {_redact(str(exc))}"
        hint = None if args.debug else "run again with --debug for the traceback"
        text = message if hint is None else f"{message}\nHint: {hint}"
        _report(args, type(exc).__name__, text, message, hint=hint, exit_code=EXIT_USAGE)
        return EXIT_USAGE


def _diagnostics(exc: ImageSigError) -> str:
    # The "Caused by" line quotes a foreign exception, which may hold a URL with credentials.
    return "\n".join(
        _redact(line) if line.startswith("Caused by:") else line
        for line in exc.diagnostics().splitlines()
    )


def _redact(text: str) -> str:
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def _report(
    args: Any, kind: str, text: str, message: str, *, hint: str | None, exit_code: int
) -> None:
    print(f"error: {text}", file=sys.stderr)
    if getattr(args, "output", "text") == "json":
        error = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
        print(json.dumps({"error": error}, indent=2))


def _print_traceback() -> None:
    import traceback  # noqa: PLC0415

    traceback.print_exc(file=sys.stderr)
