"""``imagesig credentials``: which ambient identity this environment offers, and why.

Without ``--oidc-provider`` every provider is asked, in order, as keyless signing will ask
them, and the detection report is printed: one row per provider saying why it was used,
skipped or failed (with a hint for failures), then the identity found. With
``--oidc-provider NAME`` only that provider is asked, and its error, if any, is reported as
any command's error is.

The token is a secret: it is printed only with ``--show-token``, and then alone on standard
output (the report goes to standard error), so ``TOKEN=$(imagesig credentials --show-token)``
works. With ``--output json`` the token, when asked for, is the report's ``"token"`` field.

Exit status: 0 when an identity token was obtained, 2 when none was.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from imagesig.cli._common import UsageError, emit_json, wants_json
from imagesig.credentials import detection_report, get_provider

if TYPE_CHECKING:
    from imagesig.credentials import DetectionReport, IdentityToken

__all__ = ["run"]

_EXIT_NO_TOKEN = 2


def run(args: argparse.Namespace) -> int:
    """Print the detection report (or one provider's identity); 0 when a token was found."""
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: give a positive number of seconds")
    if args.oidc_provider:
        return _one_provider(args)
    report = detection_report(args.audience, timeout=args.timeout)
    _print_report(args, report)
    if report.token is None:
        print(
            f"error: no ambient identity token for audience {args.audience!r}; "
            "see the report for why",
            file=sys.stderr,
        )
        return _EXIT_NO_TOKEN
    return 0


def _print_report(args: argparse.Namespace, report: DetectionReport) -> None:
    if wants_json(args):
        document: dict[str, Any] = report.to_dict()
        if args.show_token:
            document["token"] = report.token.raw if report.token else None
        emit_json(document)
    elif args.show_token and report.token is not None:
        print(report, file=sys.stderr)
        print(report.token.raw)
    else:
        print(report)


def _one_provider(args: argparse.Namespace) -> int:
    """``--oidc-provider NAME``: ask that provider only; its errors are the command's."""
    provider = get_provider(args.oidc_provider)
    token = provider.fetch_token(args.audience, timeout=args.timeout)
    if wants_json(args):
        document: dict[str, Any] = {
            "audience": args.audience,
            "provider": provider.name,
            "identity": token.to_dict(),
        }
        if args.show_token:
            document["token"] = token.raw
        emit_json(document)
    elif args.show_token:
        print(_describe(provider.name, args.audience, token), file=sys.stderr)
        print(token.raw)
    else:
        print(_describe(provider.name, args.audience, token))
    return 0


def _describe(provider: str, audience: str, token: IdentityToken) -> str:
    return (
        f"{provider}: identity token for audience {audience!r}\n"
        f"  issuer   {token.issuer}\n"
        f"  subject  {token.subject}\n"
        f"  expires  {token.expiry.isoformat()}"
    )
