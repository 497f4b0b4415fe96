"""``imagesig triangulate``: print where an image's signatures are stored."""

from __future__ import annotations

import argparse

from imagesig import SignatureFormat
from imagesig.cli._common import emit_json, make_client, parse_image, wants_json

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print the reference under which signatures of ``args.image`` live."""
    image = parse_image(args.image)
    signature_format = SignatureFormat(args.format)
    with make_client(args, image) as client:
        location = client.triangulate(image, format=signature_format)
    if wants_json(args):
        emit_json(
            {
                "image": str(image),
                "type": args.type,
                "format": signature_format.value,
                "reference": str(location),
            }
        )
    else:
        print(location)
    return 0
