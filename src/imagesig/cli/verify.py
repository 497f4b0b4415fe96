"""``imagesig verify``: verify an image's signatures against a public key."""

from __future__ import annotations

import argparse
import sys

from imagesig import VerificationResult
from imagesig.cli._common import (
    annotations_from,
    emit_json,
    make_client,
    parse_image,
    tlog_options,
    wants_json,
)

__all__ = ["print_result", "run"]

_SHORT_KEY_ID = 16


def run(args: argparse.Namespace) -> int:
    """Verify ``args.image``; exit 0 when verified, 1 when not."""
    image = parse_image(args.image)
    annotations = annotations_from(args.annotations)
    tlog = tlog_options(args, signing=False)
    with make_client(args, image) as client:
        result = client.verify_image(image, [args.key], annotations=annotations, tlog=tlog)
    if wants_json(args):
        emit_json(result.to_dict())
    else:
        print_result(result)
    return 0 if result.verified else 1


def print_result(result: VerificationResult) -> None:
    """Print a verification result as a few lines of text (warnings go to stderr)."""
    verdict = "Verified" if result.verified else "NOT verified"
    print(f"{verdict}: {result.image}")
    if not result.signatures:
        print("  no signatures found")
    for check in result.signatures:
        status = "ok  " if check.ok else "FAIL"
        facts = [f"{check.format.value:<6}"]
        if check.key_id:
            facts.append(f"key {check.key_id[:_SHORT_KEY_ID]}")
        if check.log_index is not None:
            facts.append(f"log index {check.log_index}")
        facts.append(f"at {check.location}")
        print(f"  {status} {'  '.join(facts)}")
        if not check.ok:
            print(f"       {check.reason}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
