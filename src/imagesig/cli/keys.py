"""``imagesig generate-key-pair`` and ``imagesig public-key``."""

from __future__ import annotations

import argparse
import os
import sys

from imagesig.cli._common import emit_json, password_prompt, wants_json
from imagesig.errors import KeyFileExistsError, SignerError
from imagesig.signers import LocalSigner, PublicKey, write_key_pair

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run the key command named by ``args.command``."""
    if args.command == "generate-key-pair":
        return _generate_key_pair(args)
    return _public_key(args)


def _generate_key_pair(args: argparse.Namespace) -> int:
    prefix = args.output_key_prefix
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
    """The public half of a private key file (a password is asked for only if needed)."""
    signer = LocalSigner.from_file(key, password_prompt(key, confirm=False))
    return signer.public_key()
