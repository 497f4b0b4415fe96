"""The argument parser, kept free of imagesig imports so that ``--help`` starts fast.

Every subcommand records the module that implements it (``_module``); :func:`imagesig.cli.main`
imports only that module. Flags use cosign's names and cosign's (Go) boolean syntax: a bare
``--tlog-upload`` means true and ``--tlog-upload=false`` turns it off.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

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
        choices=("text", "json", "yaml", "table"),
        default=argparse.SUPPRESS if suppress else "text",
        help="output format (default: text); json is stable and machine-readable; "
        "yaml and table are for 'policy apply'",
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
        "generate a key pair (cosign.key, cosign.pub), or a key in Cloud KMS",
        "Generate an ECDSA P-256 key pair as cosign does: PREFIX.key (encrypted, mode 0600) and\n"
        "PREFIX.pub. The password comes from COSIGN_PASSWORD, or from a prompt (asked twice)\n"
        "when standard input is a terminal.\n\n"
        "With --kms gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K the key is made in\n"
        "Cloud KMS instead, with its key ring, unless they exist (an existing key is kept as it\n"
        "is). Its public key is printed, or written to PREFIX.pub with --output-key-prefix.\n"
        "Creating needs roles/cloudkms.admin; credentials are Application Default Credentials\n"
        "and IMAGESIG_GCPKMS_ENDPOINT overrides the endpoint.",
    )
    keys.add_argument(
        "--output-key-prefix",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign); with --kms, only PREFIX.pub",
    )
    keys.add_argument(
        "--force", action="store_true", help="overwrite existing key files (never by default)"
    )
    keys.add_argument(
        "--kms",
        metavar="URI",
        help="create the key in Cloud KMS: gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K",
    )
    keys.add_argument(
        "--signing-algorithm",
        metavar="ALG",
        help="with --kms: the algorithm of a new key (default: EC_SIGN_P256_SHA256); a Cloud "
        "KMS name (EC_SIGN_P384_SHA384, RSA_SIGN_PSS_3072_SHA256...) or sigstore's "
        "(ecdsa-p384-sha384, rsa-pkcs1v15-3072-sha256...)",
    )

    public = command(
        "public-key",
        "keys",
        "print the public key of a private key or key reference",
        "Print the PEM public key of a private key file (cosign.key, PKCS#8, SEC1 or PKCS#1),\n"
        "of env://VAR (such a key in an environment variable), or of a KMS or plugin key\n"
        "reference (gcpkms://...), which is read from the service (for Cloud KMS that needs\n"
        "roles/cloudkms.viewer and roles/cloudkms.verifier). An encrypted key's password comes\n"
        "from COSIGN_PASSWORD or a terminal prompt.",
    )
    public.add_argument(
        "--key",
        required=True,
        metavar="KEY",
        help="the private key file, env://VAR, or a key URI (gcpkms://...)",
    )
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

    _attestation_commands(command)
    _policy_commands(command, common)
    _credentials_command(command)

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


def _attestation_commands(command: Any) -> None:
    """``attest``, ``verify-attestation`` and ``tree``."""
    attest = command(
        "attest",
        "attest",
        "attest an image: sign an in-toto statement about it",
        "Resolve IMAGE to a digest once, wrap the predicate in an in-toto statement naming that\n"
        "digest, sign it (DSSE) and attach it: a Sigstore bundle referrer (cosign's default) or,\n"
        "with --format legacy, a layer of the sha256-<hex>.att image. --type takes cosign's\n"
        "names (custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,\n"
        "cyclonedx, vuln, openvex, link) or a predicate type URI.",
    )
    attest.add_argument("image", metavar="IMAGE", help="the image reference (tag or digest)")
    attest.add_argument(
        "--predicate",
        required=True,
        metavar="FILE",
        help="the predicate file (JSON; any text for --type custom); - reads standard input",
    )
    attest.add_argument(
        "--type",
        default="custom",
        metavar="TYPE",
        help="predicate type: a cosign name or a URI (default: custom)",
    )
    attest.add_argument(
        "--key", required=True, metavar="KEY", help="the private key file (or a key URI)"
    )
    attest.add_argument(
        "--format",
        choices=("bundle", "legacy"),
        help="attestation format (default: bundle)",
    )
    _add_bool(
        attest,
        "--new-bundle-format",
        None,
        "cosign's spelling of --format: false means --format legacy",
        shown_default=True,
    )
    attest.add_argument(
        "--replace",
        action="store_true",
        help="legacy format: replace the attestations of the same predicate type",
    )
    tlog = _tlog_options(attest)
    _add_bool(tlog, "--tlog-upload", True, "record the attestation in the transparency log")
    _registry_options(attest)

    verify = command(
        "verify-attestation",
        "verify_attestation",
        "verify an image's attestations",
        "Verify the attestations of IMAGE against a public key. Attestations are looked for in\n"
        "both formats (bundle referrers and the sha256-<hex>.att tag); the image passes when one\n"
        "of the --type asked for verifies. Exit status 0 means verified, 1 not verified.",
    )
    verify.add_argument("image", metavar="IMAGE", help="the image reference (tag or digest)")
    verify.add_argument(
        "--key", required=True, metavar="KEY", help="the public key file (or a key URI)"
    )
    verify.add_argument(
        "--type",
        default="custom",
        metavar="TYPE",
        help="the predicate type required: a cosign name or a URI (default: custom)",
    )
    _annotation_option(verify, "require these KEY=VALUE annotations on the statement's subject")
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
        "never contact the transparency log; rely on proofs attached to the attestations",
    )
    _registry_options(verify)

    tree = command(
        "tree",
        "tree",
        "list everything attached to an image",
        "List the signatures, attestations, SBOMs and other artifacts attached to IMAGE, by\n"
        "storage: OCI referrers and the sha256-<hex>.sig, .att and .sbom tags. Nothing is\n"
        "verified; use verify and verify-attestation for that.",
    )
    tree.add_argument("image", metavar="IMAGE", help="the image reference (tag or digest)")
    _registry_options(tree)


def _credentials_command(command: Any) -> None:
    """``credentials``: which ambient identity applies here, and why."""
    credentials = command(
        "credentials",
        "credentials",
        "show which ambient identity credentials this environment offers",
        "Ask each ambient credential provider, in cosign's order (github-actions, envvar,\n"
        "filesystem, google-impersonate, google-workload-identity, spiffe, then plugins),\n"
        "whether it applies here and, until one delivers, for an identity token; print for\n"
        "each why it was used, skipped or failed, and the identity found (issuer, subject,\n"
        "expiry). The token itself is never printed unless --show-token: then standard output\n"
        "holds only the token (the report goes to standard error) or, with --output json, the\n"
        'report with a "token" field. Exit status 0 when a token was obtained, 2 when not.',
    )
    credentials.add_argument(
        "--audience",
        default="sigstore",
        metavar="AUDIENCE",
        help="the audience to ask identity tokens for (default: sigstore)",
    )
    credentials.add_argument(
        "--oidc-provider",
        metavar="NAME",
        help="ask only this provider (github-actions, envvar, filesystem, google-impersonate, "
        "google-workload-identity, spiffe, or a plugin's name)",
    )
    credentials.add_argument(
        "--show-token",
        action="store_true",
        help="print the identity token itself (a secret: keep it out of logs)",
    )
    credentials.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long fetching tokens may take in all (default: 10)",
    )


def _policy_verification_options(parser: argparse.ArgumentParser) -> None:
    tlog = _tlog_options(parser)
    _add_bool(
        tlog,
        "--insecure-ignore-tlog",
        False,
        "do not require transparency-log proofs, whatever the policies say",
    )
    _add_bool(tlog, "--offline", False, "never contact the transparency log")
    _registry_options(parser)


def _policy_commands(command: Any, common: argparse.ArgumentParser) -> None:
    """``policy apply``, ``policy test`` and ``policy review``."""
    policy = command(
        "policy",
        "policy",
        "evaluate Kyverno verifyImages policies",
        "Evaluate Kyverno ClusterPolicy/Policy verifyImages rules with Kyverno's semantics:\n"
        "apply them to resources (like 'kyverno apply'), run Kyverno CLI test files (like\n"
        "'kyverno test'), or answer an AdmissionReview. Exit status 1 means something would\n"
        "be blocked (or, for test, an expectation failed).",
    )
    subcommands = policy.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="policy_command"
    )

    def subcommand(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return subcommands.add_parser(  # type: ignore[no-any-return]
            name,
            help=help,
            description=description,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    apply = subcommand(
        "apply",
        "apply policies to resources",
        "Evaluate every policy against every resource (YAML/JSON files or directories; an\n"
        "AdmissionReview counts as a resource). Exit status 1 when a request would be\n"
        "blocked: an Enforce rule failed, or a rule errored under failurePolicy Fail.",
    )
    apply.add_argument(
        "-p",
        "--policy",
        dest="policies",
        action="append",
        required=True,
        metavar="POLICY",
        help="a policy file or directory (repeat for several)",
    )
    apply.add_argument(
        "-r",
        "--resource",
        dest="resources",
        action="append",
        required=True,
        metavar="RESOURCE",
        help="a resource file or directory, or - for standard input (repeat for several)",
    )
    _policy_verification_options(apply)

    test = subcommand(
        "test",
        "run Kyverno CLI test files",
        "Run every kyverno-test.yaml (cli.kyverno.io Test) under DIR and compare each expected\n"
        "result with imagesig's. Exit status 1 when an expectation is not met.",
    )
    test.add_argument("directory", metavar="DIR", help="a directory (or one test file)")
    test.add_argument(
        "--file-name",
        default="kyverno-test.yaml",
        metavar="NAME",
        help="the test file name to look for (default: kyverno-test.yaml)",
    )
    _policy_verification_options(test)

    review = subcommand(
        "review",
        "answer an AdmissionReview",
        "Evaluate the policies against an AdmissionReview and print the AdmissionReview\n"
        "response (allowed, status message, base64 JSON patch). Exit status 1 when denied.",
    )
    review.add_argument("file", metavar="FILE", help="the AdmissionReview (- for standard input)")
    review.add_argument(
        "-p",
        "--policy",
        dest="policies",
        action="append",
        required=True,
        metavar="POLICY",
        help="a policy file or directory (repeat for several)",
    )
    _policy_verification_options(review)
