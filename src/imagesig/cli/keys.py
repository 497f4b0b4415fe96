"""``imagesig generate-key-pair`` and ``imagesig public-key``.

Both take key references as ``--key`` does everywhere: ``public-key`` prints the public key
of a key file, of ``env://VAR`` or of a KMS or plugin key (fetched from the service), and
``generate-key-pair --kms gcpkms://…`` makes the key in Cloud KMS instead of in files.
KMS errors are reported with their hint, which names the IAM role that is missing.
"""

from __future__ import annotations

import argparse
import os
import sys

from imagesig.cli._common import UsageError, emit_json, password_prompt, wants_json
from imagesig.errors import KeyFileExistsError, SignerError
from imagesig.signers import LocalSigner, PublicKey, write_key_pair
from imagesig.signers.uri import signer_from_uri, signer_scheme, verifier_from_uri

__all__ = ["run"]

DEFAULT_PREFIX = "cosign"
# Key references whose private key is local: their public key is derived, not fetched.
_LOCAL_SCHEMES = (None, "file", "env")


def run(args: argparse.Namespace) -> int:
    """Run the key command named by ``args.command``."""
    if args.command == "generate-key-pair":
        return _generate_key_pair(args)
    return _public_key(args)


def _generate_key_pair(args: argparse.Namespace) -> int:
    if args.kms:
        return _generate_kms_key(args)
    if args.signing_algorithm:
        raise UsageError(
            "--signing-algorithm applies to keys made with --kms",
            hint="local key pairs are ECDSA P-256, as cosign makes them",
        )
    prefix = args.output_key_prefix or DEFAULT_PREFIX
    private_path, public_path = f"{prefix}.key", f"{prefix}.pub"
    signer = LocalSigner.generate()
    try:
        write_key_pair(
            private_path,
            public_path,
            signer,
            password_prompt(f"the new key {private_path}", confirm=True),
            overwrite=args.force,
        )
    except KeyFileExistsError as exc:
        raise KeyFileExistsError(
            exc.message,
            hint="pass --force to overwrite it, or --output-key-prefix to choose other names",
            **exc.context,
        ) from None
    public = signer.public_key()
    if wants_json(args):
        emit_json(
            {
                "private_key": os.path.abspath(private_path),
                "public_key": os.path.abspath(public_path),
                "algorithm": public.algorithm.name,
                "key_id": public.key_id,
            }
        )
    else:
        print(f"Private key written to {private_path}")
        print(f"Public key written to {public_path}")
    return 0


def _generate_kms_key(args: argparse.Namespace) -> int:
    """Create (or find) the Cloud KMS key; print its public key or write PREFIX.pub."""
    scheme = signer_scheme(args.kms)
    if scheme != "gcpkms":
        raise UsageError(
            f"--kms {args.kms}: imagesig creates keys in Cloud KMS only",
            hint="give gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K, or create the "
            "key with its own tools and use its reference with --key",
        )
    from imagesig.signers.gcpkms import (  # noqa: PLC0415 - Cloud KMS support is loaded lazily
        DEFAULT_KMS_ALGORITHM,
        KeyReference,
        create_key,
    )

    reference = KeyReference.parse(args.kms)
    public_path = f"{args.output_key_prefix}.pub" if args.output_key_prefix else None
    if public_path is not None and not args.force and os.path.lexists(public_path):
        # Checked before the key is made, so that a refusal changes nothing anywhere.
        raise _exists(public_path)
    public = create_key(reference, args.signing_algorithm or DEFAULT_KMS_ALGORITHM)
    if public_path is not None:
        _write_public_key(public_path, public, overwrite=args.force)
    if wants_json(args):
        emit_json(
            {
                "kms": reference.uri,
                "public_key": os.path.abspath(public_path) if public_path else None,
                "pem": public.pem.decode("ascii"),
                "algorithm": public.algorithm.name,
                "key_id": public.key_id,
            }
        )
    elif public_path is not None:
        print(f"Cloud KMS key {reference.uri} is ready ({public.algorithm.name})")
        print(f"Public key written to {public_path}")
    else:
        print(f"Cloud KMS key {reference.uri} is ready ({public.algorithm.name})", file=sys.stderr)
        sys.stdout.write(public.pem.decode("ascii"))
    return 0


def _exists(path: str) -> KeyFileExistsError:
    return KeyFileExistsError(
        f"key file '{path}' already exists",
        hint="pass --force to overwrite it, or --output-key-prefix to choose another name",
        key=path,
    )


def _write_public_key(path: str, public: PublicKey, *, overwrite: bool) -> None:
    try:
        with open(path, "wb" if overwrite else "xb") as handle:
            handle.write(public.pem)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise SignerError(f"cannot write {path}: {exc.strerror or exc}", key=path) from exc


def _public_key(args: argparse.Namespace) -> int:
    public = _load_public_key(args.key)
    if args.outfile:
        try:
            with open(args.outfile, "wb") as handle:
                handle.write(public.pem)
        except OSError as exc:
            raise SignerError(
                f"cannot write {args.outfile}: {exc.strerror or exc}", key=args.outfile
            ) from exc
    if wants_json(args):
        emit_json(
            {
                "pem": public.pem.decode("ascii"),
                "algorithm": public.algorithm.name,
                "key_id": public.key_id,
                "outfile": os.path.abspath(args.outfile) if args.outfile else None,
            }
        )
    elif args.outfile:
        print(f"Public key written to {args.outfile}", file=sys.stderr)
    else:
        sys.stdout.write(public.pem.decode("ascii"))
    return 0


def _load_public_key(key: str) -> PublicKey:
    """The public key a reference names.

    A local private key (path, ``file://``, ``env://``) is loaded, a password being asked
    for only if it is encrypted; any other reference is resolved by its provider, which
    fetches the public key without needing the right to sign.
    """
    if signer_scheme(key) in _LOCAL_SCHEMES:
        signer = signer_from_uri(key, password=password_prompt(key, confirm=False))
        return signer.public_key()
    return verifier_from_uri(key).public_key()
