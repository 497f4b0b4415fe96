"""The argument parser, kept free of imagesig imports so that ``--help`` starts fast.

Every subcommand records the module that implements it (``_module``); :func:`imagesig.cli.main`
imports only that module. Flags use cosign's names and cosign's (Go) boolean syntax: a bare
``--tlog-upload`` means true and ``--tlog-upload=false`` turns it off.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["BOOLEAN_FLAGS", "build_parser", "normalise_argv", "parse_bool"]

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

#: Flags taking an optional ``=true|false`` value, as Go's flag package parses booleans.
BOOLEAN_FLAGS = frozenset(
    {
        "--tlog-upload",
        "--new-bundle-format",
        "--insecure-ignore-tlog",
        "--offline",
        "--allow-insecure-registry",
        "--allow-http-registry",
    }
)

_DESCRIPTION = """\
Sign and verify container images, byte-compatible with Sigstore cosign.

Signatures go to the transparency log unless --tlog-upload=false, and verification needs a
log proof unless --insecure-ignore-tlog, as in cosign. --oci-layout DIR works on an OCI
image-layout directory instead of a registry.
"""

_EPILOG = """\
exit codes:
  0  success (for verify: the image is verified)
  1  verification failed: the image has no signature that verifies with the key
  2  usage or input error: bad arguments, reference, key file or password; the image,
     registry, OCI layout or transparency log could not be used

Run 'imagesig demo' for the whole story on a throw-away OCI layout.
"""


def parse_bool(text: str) -> bool:
    """Parse a boolean the way Go's ``strconv.ParseBool`` does (``true``, ``0``, ``F``...).

    Raises:
        argparse.ArgumentTypeError: ``text`` is not a boolean.
    """
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r} (use true or false)")


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Give bare boolean flags an explicit ``=true`` so they never swallow the next argument.

    ``imagesig sign --tlog-upload IMAGE`` must treat ``IMAGE`` as the image, as cosign does.
    """
    result: list[str] = []
    for position, argument in enumerate(argv):
        if argument == "--":
            result.extend(argv[position:])
            break
        result.append(f"{argument}=true" if argument in BOOLEAN_FLAGS else argument)
    return result


def _add_bool(
    container: argparse._ActionsContainer,
    flag: str,
    default: bool | None,
    help: str,
    *,
    shown_default: bool | None = None,
) -> None:
    shown = default if shown_default is None else shown_default
    container.add_argument(
        flag,
        nargs="?",
        const=True,
        default=default,
        type=parse_bool,
        metavar="true|false",
        help=f"{help} (default: {str(shown).lower()})",
    )


def _common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """``--output`` and ``--debug``, accepted before and after the subcommand.

    The copy attached to subcommands defaults to ``SUPPRESS`` so that it only overrides a
    value given before the subcommand when it is given itself.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    group.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default=argparse.SUPPRESS if suppress else "text",
        help="output format (default: text); json is stable and machine-readable",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show tracebacks for errors",
    )
    return parent


def _registry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry")
    _add_bool(
        group,
        "--allow-insecure-registry",
        False,
        "accept registries with self-signed or otherwise invalid TLS certificates",
    )
    _add_bool(
        group,
        "--allow-http-registry",
        False,
        "reach the image's registry over plain HTTP",
    )
    group.add_argument(
        "--oci-layout",
        metavar="DIR",
        help="use the OCI image-layout directory DIR for every registry instead of the network",
    )


def _annotation_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "-a",
        "--annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"{help}; repeat it or separate pairs with commas",
    )


def _tlog_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    group = parser.add_argument_group("transparency log")
    group.add_argument(
        "--rekor-url",
        metavar="URL",
        help="the Rekor transparency log (default: the public-good log, https://rekor.sigstore.dev)",
    )
    group.add_argument(
        "--trusted-root",
        metavar="FILE",
        help="trusted_root.json naming the logs to trust (default: SIGSTORE_REKOR_PUBLIC_KEY, "
        "else the public-good root shipped with imagesig)",
    )
    return group


def build_parser() -> argparse.ArgumentParser:
    """Return the ``imagesig`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="imagesig",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    common = _common_options(suppress=True)

    def command(name: str, module: str, help: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=description,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(_module=module)
        return sub

    keys = command(
        "generate-key-pair",
        "keys",
        "generate a key pair (cosign.key, cosign.pub)",
        "Generate an ECDSA P-256 key pair as cosign does: PREFIX.key (encrypted, mode 0600) and\n"
        "PREFIX.pub. The password comes from COSIGN_PASSWORD, or from a prompt (asked twice)\n"
        "when standard input is a terminal.",
    )
    keys.add_argument(
        "--output-key-prefix",
        default="cosign",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign)",
    )
    keys.add_argument(
        "--force", action="store_true", help="overwrite existing key files (never by default)"
    )

    public = command(
        "public-key",
        "keys",
        "print the public key of a private key",
        "Print the PEM public key of a private key file (cosign.key, PKCS#8, SEC1 or PKCS#1).\n"
        "An encrypted key's password comes from COSIGN_PASSWORD or a terminal prompt.",
    )
    public.add_argument("--key", required=True, metavar="FILE", help="the private key")
    public.add_argument("--outfile", metavar="FILE", help="write the PEM to FILE, not stdout")

    sign = command(
        "sign",
        "sign",
        "sign an image",
        "Resolve IMAGE to a digest once and sign that digest. The signature is a Sigstore\n"
        "bundle attached as an OCI referrer (cosign's default), or with --format legacy the\n"
        "tag-based sha256-<hex>.sig format.",
    )
    sign.add_argument("image", metavar="IMAGE", help="the image reference (tag or digest)")
    sign.add_argument(
        "--key", required=True, metavar="KEY", help="the private key file (or a key URI)"
    )
    _annotation_option(sign, "extra KEY=VALUE pairs to sign")
    sign.add_argument(
        "--format",
        choices=("bundle", "legacy"),
        help="signature format (default: bundle)",
    )
    _add_bool(
        sign,
        "--new-bundle-format",
        None,
        "cosign's spelling of --format: false means --format legacy",
        shown_default=True,
    )
    tlog = _tlog_options(sign)
    _add_bool(
        tlog,
        "--tlog-upload",
        True,
        "record the signature in the transparency log",
    )
    _registry_options(sign)

    verify = command(
        "verify",
        "verify",
        "verify an image's signatures",
        "Verify IMAGE against a public key. Signatures are looked for in both formats (bundle\n"
        "referrers and sha256-<hex>.sig tags). Exit status 0 means verified, 1 not verified.",
    )
    verify.add_argument("image", metavar="IMAGE", help="the image reference (tag or digest)")
    verify.add_argument(
        "--key", required=True, metavar="KEY", help="the public key file (or a key URI)"
    )
    _annotation_option(verify, "require these KEY=VALUE annotations in the signed payload")
    tlog = _tlog_options(verify)
    _add_bool(
        tlog,
        "--insecure-ignore-tlog",
        False,
        "do not require a transparency-log proof (the result says so)",
    )
    _add_bool(
        tlog,
        "--offline",
        False,
        "never contact the transparency log; rely on proofs attached to the signature",
    )
    _registry_options(verify)

    triangulate = command(
        "triangulate",
        "triangulate",
        "print where an image's signatures are stored",
        "Print the reference where signatures of IMAGE live: the sha256-<hex>.sig tag\n"
        "(--format legacy, the default, as cosign prints) or the referrers fallback tag\n"
        "(--format bundle).",
    )
    triangulate.add_argument("image", metavar="IMAGE", help="the image reference")
    triangulate.add_argument(
        "--type",
        choices=("signature",),
        default="signature",
        help="what to locate (default: signature)",
    )
    triangulate.add_argument(
        "--format",
        choices=("bundle", "legacy"),
        default="legacy",
        help="signature format (default: legacy)",
    )
    _registry_options(triangulate)

    demo = command(
        "demo",
        "demo",
        "build, sign, verify and tamper with an image in an OCI layout",
        "Run the whole story on an OCI image-layout directory, with no registry server:\n"
        "build a tiny image, generate a key pair, sign it (recorded in a transparency log run\n"
        "locally in this process), verify it, tamper with it and verify again.",
    )
    demo.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        help="where to work (default: a temporary directory, removed afterwards)",
    )
    return parser
