"""Helpers for the command-line tests: run ``imagesig`` in-process or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagesig import Client, ImageReference, OCILayoutStore
from imagesig.cli import main
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.signers import LocalSigner, write_key_pair
from imagesig.testing import RekorServer

PASSWORD = "correct horse battery staple"


@attrs.frozen
class CliRun:
    """What one ``imagesig`` invocation did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., CliRun]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Run ``main(argv)`` in this process; ``env`` entries are set (``None`` removes one)."""

    def run(*argv: str, env: dict[str, str | None] | None = None) -> CliRun:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            capsys.readouterr()
            code = main(list(argv))
            captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def run_module(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> CliRun:
    """Run ``python -m imagesig ARGV`` with standard input closed (never a terminal)."""
    environment = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "imagesig", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return CliRun(result.returncode, result.stdout, result.stderr)


@pytest.fixture(autouse=True)
def _no_password_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say which password they mean; a developer's COSIGN_PASSWORD must not leak in."""
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    monkeypatch.delenv("SIGSTORE_REKOR_PUBLIC_KEY", raising=False)


@attrs.frozen
class Workspace:
    """An OCI layout holding one unsigned image, a key pair and a local transparency log."""

    layout: Path
    image: str
    digest: str
    private_key: Path
    public_key: Path
    trusted_root: Path
    rekor_url: str

    def sign_args(self, *extra: str) -> list[str]:
        """``imagesig sign`` arguments for this workspace (the image last)."""
        return [
            "sign",
            "--key",
            str(self.private_key),
            "--oci-layout",
            str(self.layout),
            "--rekor-url",
            self.rekor_url,
            "--trusted-root",
            str(self.trusted_root),
            *extra,
            self.image,
        ]

    def verify_args(
        self, *extra: str, key: Path | None = None, image: str | None = None
    ) -> list[str]:
        """``imagesig verify`` arguments for this workspace (the image last)."""
        return [
            "verify",
            "--key",
            str(key or self.public_key),
            "--oci-layout",
            str(self.layout),
            "--rekor-url",
            self.rekor_url,
            "--trusted-root",
            str(self.trusted_root),
            *extra,
            image or self.image,
        ]


def build_image(layout: Path, image: str, content: bytes) -> str:
    """Push a one-layer image to an OCI layout and tag it; return its digest."""
    reference = ImageReference.parse(image)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    with Client(stores={"*": OCILayoutStore(layout)}) as client:
        for blob in (config, content):
            client.push_blob(reference.repository, blob)
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG),
            [Descriptor.for_content(content, OCI_LAYER)],
        )
        pushed = client.push_manifest(reference.repository, manifest, tag=reference.tag)
    return str(pushed.digest)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace; the Rekor server runs for the duration of the test."""
    layout = tmp_path / "oci"
    image = "registry.example.com/team/app:1.4"
    digest = build_image(layout, image, b"the application\n")
    private_key, public_key = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    write_key_pair(private_key, public_key, LocalSigner.generate(), PASSWORD)
    with RekorServer() as rekor:
        trusted_root = tmp_path / "trusted_root.json"
        trusted_root.write_text(rekor.trusted_root().to_json(), encoding="utf-8")
        yield Workspace(
            layout=layout,
            image=image,
            digest=digest,
            private_key=private_key,
            public_key=public_key,
            trusted_root=trusted_root,
            rekor_url=rekor.url,
        )
