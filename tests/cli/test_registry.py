"""The CLI against a real ``docker-registry`` on 127.0.0.1 (skipped when it is not installed)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli.conftest import PASSWORD, CliRunner, run_module
from tests.support.registry_server import RunningRegistry, start_registry

import imagesig.client
from imagesig import Client
from imagesig.cli import EXIT_USAGE, EXIT_VERIFICATION_FAILED
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.signers import LocalSigner, write_key_pair
from imagesig.testing import RekorServer


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(tmp_path_factory.mktemp("cli-registry")) as running:
        yield running


@pytest.fixture(scope="module")
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


def _push(registry: RunningRegistry, repository: str) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = f"content of {repository}\n".encode()
    name = f"{registry.host}/{repository}"
    with Client() as client:
        for blob in (config, layer):
            client.push_blob(name, blob)
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
        )
        client.push_manifest(name, manifest, tag="1")
    return f"{name}:1"


@pytest.mark.registry
def test_sign_and_verify_on_a_registry(
    registry: RunningRegistry, rekor: RekorServer, tmp_path: Path
) -> None:
    image = _push(registry, "cli/signed")
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    write_key_pair(private, public, LocalSigner.generate(), PASSWORD)
    root = tmp_path / "trusted_root.json"
    root.write_text(rekor.trusted_root().to_json(), encoding="utf-8")
    log = ["--rekor-url", rekor.url, "--trusted-root", str(root)]
    env = {"COSIGN_PASSWORD": PASSWORD}

    for signature_format in ("bundle", "legacy"):
        signed = run_module(
            "sign", "--key", str(private), "--format", signature_format, *log, image, env=env
        )
        assert signed.code == 0, signed.err

    verified = run_module("verify", "--key", str(public), *log, "-o", "json", image)
    assert verified.code == 0, verified.err
    document = verified.json()
    assert document["verified"] is True
    assert sorted(check["format"] for check in document["signatures"]) == ["bundle", "legacy"]

    where = run_module("triangulate", image)
    assert where.code == 0, where.err
    assert where.out.strip().endswith(".sig")

    unsigned = _push(registry, "cli/unsigned")
    failed = run_module("verify", "--key", str(public), *log, unsigned)
    assert failed.code == EXIT_VERIFICATION_FAILED


@pytest.mark.registry
def test_missing_tag_on_a_registry_is_an_input_error(
    registry: RunningRegistry, tmp_path: Path, cli: CliRunner
) -> None:
    public = tmp_path / "cosign.pub"
    public.write_bytes(LocalSigner.generate().public_key().pem)
    result = cli("verify", "--key", str(public), f"{registry.host}/cli/absent:1")
    assert result.code == EXIT_USAGE
    assert "Traceback" not in result.err


def test_unreachable_registry_is_an_input_error(cli: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public = tmp_path / "cosign.pub"
    public.write_bytes(LocalSigner.generate().public_key().pem)
    result = cli("verify", "--key", str(public), "-o", "json", f"127.0.0.1:{port}/app:1")
    assert result.code == EXIT_USAGE
    assert result.json()["error"]["type"] == "RegistryConnectionError"
    assert result.err.startswith("error: could not reach")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {"insecure_registries": [], "verify": True}),
        (["--allow-insecure-registry"], {"insecure_registries": [], "verify": False}),
        (
            ["--allow-http-registry"],
            {"insecure_registries": ["registry.example.com"], "verify": True},
        ),
        (["--allow-http-registry=false"], {"insecure_registries": [], "verify": True}),
    ],
)
def test_registry_flags_reach_the_client(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: dict[str, Any]
) -> None:
    seen: dict[str, Any] = {}

    class Recording(Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

        def triangulate(self, reference: Any, **kwargs: Any) -> Any:
            return reference

    monkeypatch.setattr(imagesig.client, "Client", Recording)
    result = cli("triangulate", *flags, "registry.example.com/team/app:1")
    assert result.code == 0, result.err
    assert seen == expected
