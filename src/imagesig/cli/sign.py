"""``imagesig sign``: sign an image with a key, in either of cosign's formats."""

from __future__ import annotations

import argparse
from typing import Any

from imagesig import SignatureFormat, SignResult
from imagesig.cli._common import (
    UsageError,
    annotations_from,
    emit_json,
    key_password,
    make_client,
    parse_image,
    tlog_options,
    wants_json,
)

__all__ = ["run", "sign_result_to_dict"]


def run(args: argparse.Namespace) -> int:
    """Sign ``args.image``; print where the signature went and its log entry."""
    image = parse_image(args.image)
    signature_format = _format(args)
    annotations = annotations_from(args.annotations)
    tlog = tlog_options(args, signing=True)
    with make_client(args, image) as client:
        # The library interprets --key (a file, file:// ...) and decrypts it before any
        # registry or log is contacted, so a wrong password fails fast and writes nothing.
        result = client.sign_image(
            image,
            args.key,
            annotations=annotations,
            format=signature_format,
            tlog=tlog,
            password=key_password(args.key),
        )
    if wants_json(args):
        emit_json(sign_result_to_dict(result))
    else:
        print(f"Signed {result.image}")
        print(f"  signature: {result.format.value}, {_location(result)}")
        entry = result.log_entry
        if entry is None:
            print("  transparency log: not uploaded (--tlog-upload=false)")
        else:
            print(f"  transparency log: entry {entry.log_index}")
    return 0


def sign_result_to_dict(result: SignResult) -> dict[str, Any]:
    """The JSON ``imagesig sign --output json`` prints (keys are stable)."""
    entry = result.log_entry
    return {
        "image": str(result.image),
        "digest": str(result.image.digest),
        "format": result.format.value,
        "signature": {
            "media_type": result.signature.media_type,
            "digest": str(result.signature.digest),
            "size": result.signature.size,
        },
        "location": _location(result),
        "log_entry": None
        if entry is None
        else {
            "log_index": entry.log_index,
            "integrated_time": entry.integrated_time,
            "log_id": entry.log_id.hex(),
            "uuid": entry.uuid,
        },
    }


def _location(result: SignResult) -> str:
    digest = result.image.digest
    if result.format is SignatureFormat.LEGACY and digest is not None:
        return f"tag {digest.tag_suffix}.sig"
    return f"referrer {result.signature.digest}"


def _format(args: argparse.Namespace) -> SignatureFormat:
    """``--format`` or cosign's ``--new-bundle-format``; both given must agree."""
    chosen = None if args.format is None else SignatureFormat(args.format)
    if args.new_bundle_format is not None:
        implied = SignatureFormat.BUNDLE if args.new_bundle_format else SignatureFormat.LEGACY
        if chosen is not None and chosen is not implied:
            raise UsageError(
                f"--format {chosen.value} contradicts "
                f"--new-bundle-format={str(args.new_bundle_format).lower()}",
                hint="give only one of them",
            )
        chosen = implied
    return SignatureFormat.BUNDLE if chosen is None else chosen
