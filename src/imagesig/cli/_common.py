"""Helpers the command modules share: clients, passwords, annotations, output."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagesig.errors import ImageSigError, PasswordRequiredError

if TYPE_CHECKING:
    from imagesig.client import Client
    from imagesig.reference import Digest, ImageReference
    from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
    from imagesig.tlog.entries import LogEntry

__all__ = [
    "UsageError",
    "annotations_from",
    "attachment_location",
    "emit_json",
    "key_password",
    "log_entry_to_dict",
    "make_client",
    "parse_image",
    "password_prompt",
    "print_log_entry",
    "signature_format",
    "tlog_options",
    "wants_json",
]

PASSWORD_ENV_VAR = "COSIGN_PASSWORD"  # noqa: S105 - a variable name, not a password


class UsageError(ImageSigError):
    """The command line asks for something that cannot be done (exit code 2)."""


def wants_json(args: argparse.Namespace) -> bool:
    """Tell whether ``--output json`` was asked for."""
    return getattr(args, "output", "text") == "json"


def emit_json(document: Mapping[str, Any]) -> None:
    """Print one JSON document on standard output."""
    print(json.dumps(document, indent=2))


def annotations_from(values: list[str]) -> dict[str, str] | None:
    """Turn ``-a KEY=VALUE`` flags into a mapping, splitting comma-separated lists as cosign does.

    Returns:
        The annotations, or ``None`` when there are none.

    Raises:
        UsageError: an item is not ``KEY=VALUE``.
    """
    result: dict[str, str] = {}
    for value in values:
        for item in next(csv.reader([value]), []):
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise UsageError(
                    f"annotation {item!r} is not KEY=VALUE",
                    hint="write -a key=value (repeat -a for several)",
                )
            result[key] = text
    return result or None


def password_prompt(what: str, *, confirm: bool) -> Callable[[], bytes]:
    """Return a password callback: ``COSIGN_PASSWORD``, else a terminal prompt.

    The library calls it only when a key turns out to be encrypted. Without the variable and
    without a terminal on standard input it raises instead of reading a pipe.

    Args:
        what: what the password is for, shown in the prompt.
        confirm: ask twice and compare (for new keys).
    """

    def ask() -> bytes:
        if os.supports_bytes_environ:
            from_env = os.environb.get(PASSWORD_ENV_VAR.encode("ascii"))
        else:  # pragma: no cover - Windows keeps the environment as text
            text = os.environ.get(PASSWORD_ENV_VAR)
            from_env = None if text is None else text.encode("utf-8")
        if from_env is not None:
            return from_env
        if not _stdin_is_terminal():
            raise PasswordRequiredError(
                f"a password is needed for {what}",
                hint=f"set {PASSWORD_ENV_VAR}, or run in a terminal to be prompted",
            )
        import getpass  # noqa: PLC0415

        first = getpass.getpass(f"Enter password for {what}: ")
        if confirm:
            second = getpass.getpass(f"Enter password for {what} again: ")
            if first != second:
                raise UsageError("the two passwords do not match")
        return first.encode("utf-8")

    return ask


def key_password(reference: str) -> Callable[[], bytes] | None:
    """The password callback for ``--key``: local keys only (KMS and plugin keys have none).

    Args:
        reference: the key reference given on the command line.

    Returns:
        :func:`password_prompt` for a key file, ``file://`` or ``env://`` reference; ``None``
        for any other scheme, whose provider takes no password.
    """
    from imagesig.signers.uri import signer_scheme  # noqa: PLC0415 - loads key support

    if signer_scheme(reference) in (None, "file", "env"):
        return password_prompt(reference, confirm=False)
    return None


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def parse_image(text: str) -> ImageReference:
    """Parse an image reference given on the command line.

    Raises:
        InvalidReferenceError: ``text`` is not a valid reference.
    """
    from imagesig.reference import ImageReference  # noqa: PLC0415

    return ImageReference.parse(text)


def make_client(args: argparse.Namespace, image: ImageReference | None = None) -> Client:
    """Build the client the registry flags ask for.

    ``--oci-layout DIR`` routes every registry to that directory; otherwise the default
    registry store is used, with ``--allow-insecure-registry`` (no TLS verification) and
    ``--allow-http-registry`` (plain HTTP to the image's registry) applied.

    Raises:
        UsageError: ``--oci-layout`` does not name a directory.
    """
    from imagesig.client import Client  # noqa: PLC0415

    layout = getattr(args, "oci_layout", None)
    if layout:
        from imagesig.oci.layout import OCILayoutStore  # noqa: PLC0415

        if not Path(layout).is_dir():
            raise UsageError(
                f"--oci-layout {layout}: not a directory",
                hint="give the root of an OCI layout tree (run 'imagesig demo DIR' for one)",
            )
        return Client(stores={"*": OCILayoutStore(layout, create=False)})
    insecure = [image.registry] if image is not None and args.allow_http_registry else []
    return Client(insecure_registries=insecure, verify=not args.allow_insecure_registry)


def tlog_options(args: argparse.Namespace, *, signing: bool) -> TransparencyLogOptions:
    """Build :class:`~imagesig.TransparencyLogOptions` from the transparency-log flags.

    Raises:
        TrustRootError: ``--trusted-root`` cannot be read or is malformed.
    """
    from imagesig.signatures.options import TransparencyLogOptions  # noqa: PLC0415
    from imagesig.tlog.trust import TrustedRoot  # noqa: PLC0415

    options: dict[str, Any] = {}
    if args.rekor_url:
        options["rekor_url"] = args.rekor_url
    if args.trusted_root:
        options["trusted_root"] = TrustedRoot.from_file(args.trusted_root)
    if signing:
        options["upload"] = args.tlog_upload
    else:
        options["ignore"] = args.insecure_ignore_tlog
        options["offline"] = args.offline
    return TransparencyLogOptions(**options)


def signature_format(args: argparse.Namespace) -> SignatureFormat:
    """``--format`` or cosign's ``--new-bundle-format``; both given must agree."""
    from imagesig.signatures.options import SignatureFormat  # noqa: PLC0415 - lazy CLI import

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


def attachment_location(
    image: ImageReference, attached_as: SignatureFormat, digest: Digest, suffix: str
) -> str:
    """Where ``sign``/``attest`` put what they made: the ``.sig``/``.att`` tag or a referrer.

    Args:
        image: the signed or attested image (pinned).
        attached_as: the format it was attached in.
        digest: the digest of the referrer manifest (the bundle format).
        suffix: ``"sig"`` or ``"att"``, the legacy tag's suffix.
    """
    from imagesig.signatures.options import SignatureFormat  # noqa: PLC0415 - lazy CLI import

    if attached_as is SignatureFormat.LEGACY and image.digest is not None:
        return f"tag {image.digest.tag_suffix}.{suffix}"
    return f"referrer {digest}"


def log_entry_to_dict(entry: LogEntry | None) -> dict[str, Any] | None:
    """The ``log_entry`` member of the JSON ``sign`` and ``attest`` print."""
    if entry is None:
        return None
    return {
        "log_index": entry.log_index,
        "integrated_time": entry.integrated_time,
        "log_id": entry.log_id.hex(),
        "uuid": entry.uuid,
    }


def print_log_entry(entry: LogEntry | None) -> None:
    """The ``transparency log:`` line of the text ``sign`` and ``attest`` print."""
    if entry is None:
        print("  transparency log: not uploaded (--tlog-upload=false)")
    else:
        print(f"  transparency log: entry {entry.log_index}")
