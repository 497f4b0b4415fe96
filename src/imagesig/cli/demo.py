"""``imagesig demo``: build, sign, verify and tamper with an image, with no server at all.

Everything happens under one directory: an OCI image layout (``DIR/oci``) stands in for the
registry, a throw-away key pair is written next to it, and the transparency log is a Rekor
server started inside this process (:class:`imagesig.testing.RekorServer`) whose trusted
root is saved as ``DIR/trusted_root.json``. The log is real (entries, signed timestamps and
inclusion proofs are checked) but it is local: nothing is sent to the public Sigstore log.

The story, one line per step:

1. build a tiny image and tag it ``registry.example.com/demo/app:1.0``;
2. generate a key pair (``cosign.key``, ``cosign.pub``);
3. sign the image in both of cosign's formats, each signature recorded in the local log;
4. verify it: passes;
5. tamper: move the tag to another image and copy the signatures next to it;
6. verify again: fails, and says why.

``examples/demo.py`` runs this same code; ``imagesig demo DIR`` keeps the files so the
printed ``imagesig verify`` commands can be tried on them afterwards.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from imagesig import (
    Client,
    OCILayoutStore,
    SignatureFormat,
    SignResult,
    TransparencyLogOptions,
    VerificationResult,
)
from imagesig.cli._common import UsageError, wants_json
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.reference import ImageReference
from imagesig.signers import LocalSigner, PublicKey, write_key_pair
from imagesig.testing import RekorServer

__all__ = ["IMAGE", "run", "run_demo"]

#: The demo image's name inside the OCI layout.
IMAGE = "registry.example.com/demo/app:1.0"
# Protects the throw-away demo key only; printed so that readers can reuse the key.
_DEMO_PASSWORD = "imagesig-demo"  # noqa: S105
_SHORT = 19  # "sha256:" and 12 hex digits


def run(args: argparse.Namespace) -> int:
    """Run the demo in ``args.directory`` (a temporary directory when absent)."""
    as_json = wants_json(args)
    if args.directory is None:
        with tempfile.TemporaryDirectory(prefix="imagesig-demo-") as tmp:
            return run_demo(Path(tmp), as_json=as_json, keep=False)
    return run_demo(Path(args.directory), as_json=as_json, keep=True)


def run_demo(
    directory: Path, *, as_json: bool = False, keep: bool = True, out: TextIO | None = None
) -> int:
    """Tell the whole story in ``directory``; return 0 when it ends as it should.

    Args:
        directory: an empty or missing directory; it is created.
        as_json: print one JSON document instead of text.
        keep: the files stay afterwards, so print commands to try on them.
        out: where to print (default standard output).

    Returns:
        0 when the signed image verifies and the tampered one does not, else 1.

    Raises:
        UsageError: ``directory`` exists and is not an empty directory.
    """
    _prepare(directory)
    story = _Story(out or sys.stdout, as_json=as_json)
    layout = directory / "oci"
    private_key, public_key = directory / "cosign.key", directory / "cosign.pub"
    trusted_root_file = directory / "trusted_root.json"
    image = ImageReference.parse(IMAGE)
    story.header(directory)

    with Client(stores={"*": OCILayoutStore(layout)}) as client, RekorServer() as rekor:
        built = _build_image(client, image, b"hello from imagesig\n")
        signed_image = image.with_digest(built.digest)
        story.step("build", f"{image} -> {_short(built.digest)}", image=str(signed_image))

        signer = LocalSigner.generate()
        write_key_pair(private_key, public_key, signer, _DEMO_PASSWORD)
        story.step(
            "keys",
            f"{private_key.name} and {public_key.name}: ECDSA P-256, key id "
            f"{signer.public_key().key_id[:16]}, password {_DEMO_PASSWORD!r}",
            private_key=str(private_key),
            public_key=str(public_key),
            key_id=signer.public_key().key_id,
        )

        trusted_root = rekor.trusted_root()
        trusted_root_file.write_text(trusted_root.to_json(), encoding="utf-8")
        story.log(rekor.url, trusted_root_file)
        tlog = TransparencyLogOptions(rekor_url=rekor.url, trusted_root=trusted_root)

        signatures: list[SignResult] = []
        for signature_format in (SignatureFormat.BUNDLE, SignatureFormat.LEGACY):
            result = client.sign_image(image, signer, format=signature_format, tlog=tlog)
            signatures.append(result)
            where = (
                f"tag {_short(built.digest).replace(':', '-')}.sig"
                if signature_format is SignatureFormat.LEGACY
                else f"referrer {_short(result.signature.digest)}"
            )
            entry = "" if result.log_entry is None else f", log entry {result.log_entry.log_index}"
            story.step(
                "sign",
                f"{signature_format.value:<6} -> {where}{entry}",
                format=signature_format.value,
                signature=str(result.signature.digest),
                log_index=None if result.log_entry is None else result.log_entry.log_index,
            )

        keys = [PublicKey.from_file(public_key)]
        before = client.verify_image(image, keys, tlog=tlog)
        story.verification(before, expected=True)

        tampered = _build_image(client, image, b"hello from somebody else\n")
        _replay_signatures(client, image, tampered, signatures)
        story.step(
            "tamper",
            f"{image.tag} now points at another image, {_short(tampered.digest)}, "
            "and the old signatures were copied next to it",
            image=str(image.with_digest(tampered.digest)),
        )

        after = client.verify_image(image, keys, tlog=tlog)
        story.verification(after, expected=False)

    ok = before.verified and not after.verified
    commands = _commands(directory, signed_image, image) if keep else []
    story.finish(ok, commands, keep=keep)
    return 0 if ok else 1


def _prepare(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(
            f"{directory} is not an empty directory",
            hint="give the demo a new or empty directory; it writes keys there",
        )
    directory.mkdir(parents=True, exist_ok=True)


def _build_image(client: Client, image: ImageReference, content: bytes) -> Descriptor:
    """Push a one-layer image and tag it (re-tagging moves the tag)."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    for blob in (config, content):
        client.push_blob(image.repository, blob)
    manifest = Manifest.build(
        Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(content, OCI_LAYER)]
    )
    return client.push_manifest(image.repository, manifest, tag=image.tag)


def _replay_signatures(
    client: Client,
    image: ImageReference,
    tampered: Descriptor,
    signatures: list[SignResult],
) -> None:
    """Attach copies of the original signatures to the tampered image, as an attacker would."""
    repository = image.repository
    for result in signatures:
        manifest = client.get_manifest(image.with_digest(result.signature.digest))
        assert isinstance(manifest, Manifest)
        if result.format is SignatureFormat.LEGACY:
            client.push_manifest(repository, manifest, tag=f"{tampered.digest.tag_suffix}.sig")
        else:
            copy = Manifest.build(
                manifest.config,
                manifest.layers,
                subject=tampered,
                artifact_type=manifest.artifact_type,
                annotations=manifest.annotations,
            )
            client.push_manifest(repository, copy)


def _commands(directory: Path, signed: ImageReference, tag: ImageReference) -> list[str]:
    base = [
        "imagesig",
        "verify",
        "--key",
        str(directory / "cosign.pub"),
        "--trusted-root",
        str(directory / "trusted_root.json"),
        "--offline",
        "--oci-layout",
        str(directory / "oci"),
    ]
    return [shlex.join([*base, str(signed.without_tag())]), shlex.join([*base, str(tag)])]


def _short(digest: object) -> str:
    text = str(digest)
    return text[:_SHORT] + "..." if len(text) > _SHORT else text


class _Story:
    """Prints each step as it happens (text) or collects them into one document (JSON)."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._json = as_json
        self._document: dict[str, Any] = {
            "directory": None,
            "transparency_log": None,
            "steps": [],
            "ok": None,
            "commands": [],
        }

    def _print(self, text: str = "") -> None:
        if not self._json:
            print(text, file=self._out, flush=True)

    def header(self, directory: Path) -> None:
        self._document["directory"] = str(directory)
        self._print(f"imagesig demo in {directory}")
        self._print("The registry is an OCI image layout in oci/; no server is contacted.")
        self._print()

    def log(self, url: str, trusted_root: Path) -> None:
        self._document["transparency_log"] = {
            "url": url,
            "local": True,
            "trusted_root": str(trusted_root),
        }
        self._print(f"  {'log':<7} a local Rekor transparency log running in this process at {url}")
        self._print(f"  {'':<7} (not the public Sigstore log; its key is in {trusted_root.name})")

    def step(self, name: str, text: str, **facts: Any) -> None:
        self._document["steps"].append({"step": name, **facts})
        self._print(f"  {name:<7} {text}")

    def verification(self, result: VerificationResult, *, expected: bool) -> None:
        total = len(result.signatures)
        good = sum(1 for check in result.signatures if check.ok)
        verdict = "PASS" if result.verified else "FAIL"
        note = "" if result.verified == expected else " (unexpected!)"
        if not result.verified and not expected:
            note = " (as it should)"
        self.step(
            "verify",
            f"{verdict}{note}: {good} of {total} signature(s) verify for {_short(result.digest)}",
            verified=result.verified,
            result=result.to_dict(),
        )
        for check in result.signatures:
            if not check.ok:
                self._print(f"  {'':<7}   {check.format.value}: {check.reason}")
        for warning in result.warnings:
            self._print(f"  {'':<7}   warning: {warning}")

    def finish(self, ok: bool, commands: list[str], *, keep: bool) -> None:
        self._document["ok"] = ok
        self._document["commands"] = commands
        if self._json:
            print(json.dumps(self._document, indent=2), file=self._out)
            return
        self._print()
        if ok:
            self._print("The signatures bind the image digest, not the tag: the image that was")
            self._print("signed verifies, and the one swapped in under its tag is rejected.")
        else:
            self._print("The story did not end as expected: see the verification lines above.")
        if commands:
            self._print()
            self._print("Try the CLI on these files (exit status 0, then 1):")
            for command in commands:
                self._print(f"  {command}")
        elif not keep:
            self._print("(run 'imagesig demo DIR' to keep the files and try the CLI on them)")
