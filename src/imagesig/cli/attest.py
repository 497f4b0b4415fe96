"""``imagesig attest``: sign an in-toto statement about an image and attach it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imagesig import AttestResult, SignatureFormat
from imagesig.cli._common import (
    UsageError,
    attachment_location,
    emit_json,
    key_password,
    log_entry_to_dict,
    make_client,
    parse_image,
    print_log_entry,
    signature_format,
    tlog_options,
    wants_json,
)

__all__ = ["attest_result_to_dict", "run"]

_STDIN = "-"


def run(args: argparse.Namespace) -> int:
    """Attest ``args.image`` with the predicate file; print where it went and its log entry."""
    from imagesig.signatures.predicates import (  # noqa: PLC0415 - only this command needs it
        MAX_PREDICATE_FILE_BYTES,
        build_predicate,
    )

    image = parse_image(args.image)
    attestation_format = signature_format(args)
    if args.replace and attestation_format is not SignatureFormat.LEGACY:
        raise UsageError(
            "--replace applies to the legacy format only",
            hint="add --format legacy, or leave --replace out (bundles are never replaced)",
        )
    content = _read_predicate(args.predicate, MAX_PREDICATE_FILE_BYTES)
    predicate_type, predicate = build_predicate(content, args.type)
    tlog = tlog_options(args, signing=True)
    with make_client(args, image) as client:
        result = client.attest_image(
            image,
            predicate,
            predicate_type,
            signer=args.key,
            format=attestation_format,
            tlog=tlog,
            replace=args.replace,
            password=key_password(args.key),
        )
    if wants_json(args):
        emit_json(attest_result_to_dict(result))
    else:
        print(f"Attested {result.image}")
        print(f"  predicate type: {result.predicate_type}")
        print(f"  attestation: {result.format.value}, {_location(result)}")
        print_log_entry(result.log_entry)
    return 0


def _read_predicate(path: str, limit: int) -> bytes:
    """The predicate file's bytes (standard input for ``-``), refused above ``limit``."""
    try:
        if path == _STDIN:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(
            f"cannot read the predicate file {path}: {exc.strerror or exc}",
            hint="--predicate names a JSON file (any text for --type custom), or - for stdin",
        ) from exc
    if len(data) > limit:
        raise UsageError(f"the predicate file {path} is larger than {limit} bytes")
    return data


def attest_result_to_dict(result: AttestResult) -> dict[str, Any]:
    """The JSON ``imagesig attest --output json`` prints (keys are stable)."""
    return {
        "image": str(result.image),
        "digest": str(result.image.digest),
        "format": result.format.value,
        "predicate_type": result.predicate_type,
        "attestation": {
            "media_type": result.attestation.media_type,
            "digest": str(result.attestation.digest),
            "size": result.attestation.size,
        },
        "location": _location(result),
        "log_entry": log_entry_to_dict(result.log_entry),
    }


def _location(result: AttestResult) -> str:
    return attachment_location(result.image, result.format, result.attestation.digest, "att")
