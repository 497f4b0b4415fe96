"""``imagesig verify-attestation``: verify an image's attestations against a public key."""

from __future__ import annotations

import argparse
import sys

from imagesig import AttestationVerificationResult
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
_STATUS = {"verified": "ok  ", "wrong-type": "type", "failed": "FAIL"}


def run(args: argparse.Namespace) -> int:
    """Verify the attestations of ``args.image``; exit 0 when verified, 1 when not."""
    from imagesig.signatures.intoto import resolve_predicate_type  # noqa: PLC0415

    image = parse_image(args.image)
    predicate_type = resolve_predicate_type(args.type)
    annotations = annotations_from(args.annotations)
    tlog = tlog_options(args, signing=False)
    with make_client(args, image) as client:
        result = client.verify_attestations(
            image,
            [args.key],
            predicate_type=predicate_type,
            annotations=annotations,
            tlog=tlog,
        )
    if wants_json(args):
        emit_json(result.to_dict())
    else:
        print_result(result)
    return 0 if result.verified else 1


def print_result(result: AttestationVerificationResult) -> None:
    """Print an attestation verification result as a few lines of text (warnings to stderr)."""
    verdict = "Verified" if result.verified else "NOT verified"
    print(f"{verdict}: {result.image}")
    if result.predicate_type is not None:
        print(f"  predicate type: {result.predicate_type}")
    if not result.verified:
        print(f"  {result.failure_summary()}")
    for check in result.attestations:
        facts = [f"{check.format.value:<6}", check.predicate_type or "(unreadable statement)"]
        if check.key_id:
            facts.append(f"key {check.key_id[:_SHORT_KEY_ID]}")
        if check.log_index is not None:
            facts.append(f"log index {check.log_index}")
        facts.append(f"at {check.location}")
        print(f"  {_STATUS[check.status.value]} {'  '.join(facts)}")
        if not check.ok:
            print(f"       {check.reason}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
