"""``imagesig sign``: sign an image with a key, in either of cosign's formats."""

from __future__ import annotations

import argparse
from typing import Any

from imagesig import SignResult
from imagesig.cli._common import (
    annotations_from,
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

__all__ = ["run", "sign_result_to_dict"]


def run(args: argparse.Namespace) -> int:
    """Sign ``args.image``; print where the signature went and its log entry."""
    image = parse_image(args.image)
    chosen_format = signature_format(args)
    annotations = annotations_from(args.annotations)
    tlog = tlog_options(args, signing=True)
    with make_client(args, image) as client:
        # The library interprets --key (a file, file:// ...) and decrypts it before any
        # registry or log is contacted, so a wrong password fails fast and writes nothing.
        result = client.sign_image(
            image,
            args.key,
            annotations=annotations,
            format=chosen_format,
            tlog=tlog,
            password=key_password(args.key),
        )
    if wants_json(args):
        emit_json(sign_result_to_dict(result))
    else:
        print(f"Signed {result.image}")
        print(f"  signature: {result.format.value}, {_location(result)}")
        print_log_entry(result.log_entry)
    return 0


def sign_result_to_dict(result: SignResult) -> dict[str, Any]:
    """The JSON ``imagesig sign --output json`` prints (keys are stable)."""
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
        "log_entry": log_entry_to_dict(result.log_entry),
    }


def _location(result: SignResult) -> str:
    return attachment_location(result.image, result.format, result.signature.digest, "sig")
