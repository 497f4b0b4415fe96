"""``imagesig tree``: list everything attached to an image, by kind and storage."""

from __future__ import annotations

import argparse
import sys

from imagesig.cli._common import emit_json, make_client, parse_image, wants_json
from imagesig.signatures.attach import (
    Attachment,
    AttachmentKind,
    AttachmentStorage,
    AttachmentTree,
)

__all__ = ["print_tree", "run"]

_HEADINGS = (
    (AttachmentKind.SIGNATURE, "signatures"),
    (AttachmentKind.ATTESTATION, "attestations"),
    (AttachmentKind.SBOM, "SBOMs"),
    (AttachmentKind.OTHER, "other referrers"),
)


def run(args: argparse.Namespace) -> int:
    """Print what is attached to ``args.image`` (nothing is verified)."""
    image = parse_image(args.image)
    with make_client(args, image) as client:
        tree = client.list_attachments(image)
    if wants_json(args):
        emit_json(tree.to_dict())
    else:
        print_tree(tree)
    return 0


def _describe(item: Attachment) -> str:
    facts = [str(item.digest), item.media_type]
    if item.storage is AttachmentStorage.TAG:
        facts.insert(0, "layer " + item.location.rsplit(" layer ", 1)[-1])
    if item.predicate_type:
        facts.append(item.predicate_type)
    return "  ".join(facts)


def print_tree(tree: AttachmentTree) -> None:
    """Print the attachments as an indented outline (ASCII; warnings go to stderr)."""
    print(f"Attachments of {tree.image} (unverified)")
    for kind, heading in _HEADINGS:
        items = tree.of_kind(kind)
        if kind is AttachmentKind.OTHER and not items:
            continue
        print(f"{heading}: {len(items) or 'none'}")
        referrers = [item for item in items if item.storage is AttachmentStorage.REFERRER]
        tagged = [item for item in items if item.storage is AttachmentStorage.TAG]
        if referrers:
            print("  as OCI referrers:")
            for item in referrers:
                print(f"    - {_describe(item)}")
        if tagged:
            tag = tagged[0].location.rsplit(" layer ", 1)[0]
            print(f"  in tag {tag}:")
            for item in tagged:
                print(f"    - {_describe(item)}")
    for warning in tree.warnings:
        print(f"warning: {warning}", file=sys.stderr)
