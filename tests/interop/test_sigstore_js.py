"""imagesig and sigstore-js (an independent implementation) check each other's image signatures.

The npm packages pinned in ``tests/interop/sigstore_js/package.json`` (``@sigstore/sign``
4.1.1, ``@sigstore/verify`` 3.1.1, ``@sigstore/oci`` 0.6.0 and their dependencies, plus
``promise-retry``, which ``@sigstore/oci`` 0.6.0 requires without declaring it) are installed
once per session with ``npm ci`` into ``tests/interop/sigstore_js/node_modules`` (or ahead of
time by ``scripts/install-node-interop.sh``). Two small scripts drive them, JSON in and out:

* ``sign-and-attach.mjs`` signs with a plain ECDSA P-256 key (a custom ``Signer``; no Fulcio,
  and no witness unless a test passes a Rekor URL) and attaches the bundle to an image in the
  loopback registry with ``@sigstore/oci`` (plain HTTP; the registry has no referrers API, so
  ``@sigstore/oci`` maintains the ``sha256-<hex>`` index);
* ``verify-bundle.mjs`` verifies a bundle with ``@sigstore/verify``'s ``Verifier`` whose trust
  material holds only the key (under the hint imagesig writes) and, optionally, one
  transparency log. Without a log entry sigstore-js never relates the bundle to an image, so
  the script checks that itself (statement subject, or ``messageDigest`` and the signed bytes)
  and says which stage refused.

sigstore-js → imagesig: bundles it attaches are found and verified by ``verify_image`` with
the log ignored (they carry no entry), and with a log when it recorded them in an in-process
``RekorServer``; imagesig refuses the ones that do not sign the image (it checks the
``messageDigest`` of a message-signature bundle, which sigstore-js alone does not) and the
v0.2 bundles that ``MessageSignatureBundleBuilder`` always makes (bundles on images must be
v0.3 or later, as in cosign).

imagesig → sigstore-js: bundles ``sign_image`` attaches (upload off, or logged in a
``RekorServer``) are read back from the registry with plain HTTP requests and verified there.

Skipped when ``node``/``npm`` are missing, Node is older than the packages need, or the install
fails (offline without an npm cache); set ``IMAGESIG_REQUIRE_NODE_INTEROP=1`` to turn those
skips into failures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.oci_content import repository_name
from tests.support.registry_server import (
    PushedImage,
    RunningRegistry,
    push_test_image,
    start_registry,
)

from imagesig import Client, SignatureFormat, TransparencyLogOptions, sign_image, verify_image
from imagesig.oci.credentials import StaticKeychain
from imagesig.signatures.verify import TLOG_SKIPPED_WARNING
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

pytestmark = pytest.mark.registry

PROJECT = Path(__file__).resolve().parent / "sigstore_js"
NODE_MODULES = PROJECT / "node_modules"
#: Written into node_modules after a successful install: the hash of the manifest and lock file.
STAMP = NODE_MODULES / ".imagesig-install-stamp"
REQUIRE_ENV = "IMAGESIG_REQUIRE_NODE_INTEROP"
#: What the pinned packages declare in ``engines``: ^20.17.0 || >=22.9.0.
MIN_NODE = {20: (20, 17), 21: None, 22: (22, 9)}
NPM_INSTALL = (
    "ci",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    "--loglevel=error",
    "--fetch-retries=1",
    "--fetch-retry-mintimeout=1000",
    "--fetch-retry-maxtimeout=5000",
)
INSTALL_TIMEOUT = 300
SCRIPT_TIMEOUT = 60
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# -- the node side ----------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so this is an error", pytrace=False)
    pytest.skip(reason)


def install_stamp() -> str:
    """The stamp an install of the current ``package.json`` + ``package-lock.json`` leaves."""
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((PROJECT / name).read_bytes())
    return digest.hexdigest()


def _node_version_problem(node: str) -> str | None:
    try:
        found = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`node --version` failed: {exc}"
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+.*", found)
    if match is None:
        return f"cannot read the Node version {found!r}"
    major, minor = int(match[1]), int(match[2])
    floor = MIN_NODE.get(major, (major, 0) if major > 22 else None)
    if floor is None or (major, minor) < floor:
        return f"the sigstore-js packages need Node ^20.17.0 or >=22.9.0, found {found}"
    return None


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One installer at a time across pytest-xdist workers (``npm ci`` empties node_modules)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows: workers may race, npm ci still converges
        yield
        return
    name = "imagesig-sigstore-js-" + hashlib.sha256(str(PROJECT).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_error(output: str) -> str:
    """The first few lines of npm's error report, without the stack trace."""
    lines = [line.removeprefix("npm error").strip() for line in output.splitlines()]
    kept = [line for line in lines if line and not line.startswith("at ")]
    return "; ".join(kept[:4])[:600] or "(no output)"


def _install(npm: str) -> None:
    try:
        done = subprocess.run(
            [npm, *NPM_INSTALL],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env={**os.environ, "npm_config_update_notifier": "false"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        _unavailable(f"`npm ci` in {PROJECT} did not finish in {INSTALL_TIMEOUT} s")
        return
    if done.returncode != 0:
        _unavailable(
            f"`npm ci` in {PROJECT} failed (offline with no npm cache?), so the sigstore-js "
            f"packages are not available: {_npm_error(done.stderr or done.stdout)}"
        )
    STAMP.write_text(install_stamp() + "\n")


@dataclass(frozen=True)
class SigstoreJs:
    """Runs the helper scripts of the node project."""

    node: str

    def run(self, script: str, request: Mapping[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [self.node, str(PROJECT / script)],
            cwd=PROJECT,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"node {script} failed ({done.returncode}):\n{done.stderr}")
        reply: dict[str, Any] = json.loads(done.stdout)
        return reply


@pytest.fixture(scope="session")
def sigstore_js() -> SigstoreJs:
    """The node project, installed (once per session, and only when its lock file changed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        _unavailable(f"the sigstore-js interop tests need {missing} on PATH (Node >= 20.17)")
    assert node is not None
    assert npm is not None
    problem = _node_version_problem(node)
    if problem is not None:
        _unavailable(problem)
    with _install_lock():
        current = STAMP.read_text().strip() if STAMP.is_file() else None
        if current != install_stamp():
            _install(npm)
    return SigstoreJs(node)


# -- the registry side ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP docker-registry on 127.0.0.1 without authentication."""
    with start_registry(tmp_path_factory.mktemp("registry-sigstore-js")) as running:
        yield running


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[Client]:
    with Client(
        insecure_registries=[registry.host], keychain=StaticKeychain(), trust_env=False
    ) as opened:
        yield opened


@pytest.fixture
def image(registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    """A fresh image in a repository of its own (pushed with plain HTTP requests)."""
    repository = "interop/" + repository_name(request.node.name)
    with httpx.Client(trust_env=False) as http:
        return push_test_image(
            http, registry.url, repository, layers=(f"{request.node.name}\n".encode(),)
        )


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


def image_name(registry: RunningRegistry, image: PushedImage) -> str:
    return f"{registry.host}/{image.repository}"


def pinned(registry: RunningRegistry, image: PushedImage) -> str:
    return f"{image_name(registry, image)}@{image.digest}"


def other_manifest(image: PushedImage) -> bytes:
    """Bytes of a manifest that is not the image (what a mix-up or an attacker would sign)."""
    other = image.manifest.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
    assert other != image.manifest
    return other


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def attach_from_js(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    content: str,
    **extra: Any,
) -> dict[str, Any]:
    """Have sigstore-js sign (``content`` as in sign-and-attach.mjs) and attach to ``image``."""
    request = {
        "image": image_name(registry, image),
        "digest": image.digest,
        "privateKey": signer.private_pem().decode(),
        "content": content,
        "message": base64.b64encode(image.manifest).decode(),
        **extra,
    }
    return sigstore_js.run("sign-and-attach.mjs", request)


def fetch_bundle(registry: RunningRegistry, repository: str, referrer_digest: str) -> bytes:
    """The bundle a referrer manifest holds, read with plain HTTP requests and digest-checked."""
    with httpx.Client(base_url=registry.url, trust_env=False) as http:
        response = http.get(
            f"/v2/{repository}/manifests/{referrer_digest}", headers={"Accept": OCI_MANIFEST}
        )
        response.raise_for_status()
        assert sha256(response.content) == referrer_digest
        manifest = response.json()
        assert len(manifest["layers"]) == 1
        layer = manifest["layers"][0]
        blob = http.get(f"/v2/{repository}/blobs/{layer['digest']}")
        blob.raise_for_status()
        assert sha256(blob.content) == layer["digest"]
        return blob.content


IGNORE_TLOG = TransparencyLogOptions(ignore=True)


# -- sigstore-js signs, imagesig verifies -----------------------------------------------------


def test_dsse_bundle_from_sigstore_js_verifies(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    attached = attach_from_js(
        sigstore_js, registry, image, signer, "dsse", annotations={"env": "prod"}
    )
    assert attached["bundle"]["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert "tlogEntries" not in attached["bundle"]["verificationMaterial"]

    result = verify_image(
        pinned(registry, image),
        [signer.public_key()],
        annotations={"env": "prod"},
        tlog=IGNORE_TLOG,
        client=client,
    )

    assert result.verified, result.to_dict()
    (check,) = result.signatures
    assert check.format is SignatureFormat.BUNDLE
    assert check.key_id == signer.public_key().key_id
    assert check.location == f"{image_name(registry, image)}@{attached['referrer']['digest']}"
    assert TLOG_SKIPPED_WARNING in result.warnings


def test_dsse_bundle_from_sigstore_js_needs_the_right_key_annotations_and_a_log(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
    rekor: RekorServer,
) -> None:
    attach_from_js(sigstore_js, registry, image, signer, "dsse")
    reference = pinned(registry, image)

    other_key = verify_image(
        reference, [LocalSigner.generate().public_key()], tlog=IGNORE_TLOG, client=client
    )
    missing_annotation = verify_image(
        reference,
        [signer.public_key()],
        annotations={"env": "prod"},
        tlog=IGNORE_TLOG,
        client=client,
    )
    no_log = verify_image(
        reference,
        [signer.public_key()],
        tlog=TransparencyLogOptions(offline=True, trusted_root=rekor.trusted_root()),
        client=client,
    )

    assert not other_key.verified
    assert other_key.signatures[0].reason == "the DSSE signature does not verify with the given key"
    assert not missing_annotation.verified
    assert "annotation env=prod is required" in missing_annotation.signatures[0].reason
    assert not no_log.verified
    assert no_log.signatures[0].reason == "the bundle carries no transparency-log entry"


def test_message_signature_bundle_from_sigstore_js_verifies(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    # A v0.3 message-signature bundle over the manifest bytes: cosign refuses those on images,
    # imagesig accepts them when messageDigest is the image digest and the signature verifies.
    attached = attach_from_js(sigstore_js, registry, image, signer, "message")
    assert "messageSignature" in attached["bundle"]

    result = verify_image(
        pinned(registry, image), [signer.public_key()], tlog=IGNORE_TLOG, client=client
    )

    assert result.verified, result.to_dict()
    assert result.signatures[0].key_id == signer.public_key().key_id


def test_message_digest_must_name_the_image(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    # Signed bytes of another manifest, messageDigest claiming this image: without a log entry
    # sigstore-js checks the signature over the bytes it is handed and never the messageDigest,
    # so it accepts the pair; imagesig verifies against the image digest and refuses.
    other = other_manifest(image)
    attached = attach_from_js(
        sigstore_js,
        registry,
        image,
        signer,
        "message",
        message=base64.b64encode(other).decode(),
        messageDigest=image.digest.split(":")[1],
    )
    alone = sigstore_js.run(
        "verify-bundle.mjs",
        {
            "bundle": attached["bundle"],
            "publicKey": signer.public_key().pem.decode(),
            "digest": image.digest,
            "artifact": base64.b64encode(other).decode(),
        },
    )

    result = verify_image(
        pinned(registry, image), [signer.public_key()], tlog=IGNORE_TLOG, client=client
    )

    assert alone["stage"] == "content", alone  # @sigstore/verify itself let it through
    assert not result.verified
    assert result.signatures[0].reason == (
        "the message signature does not verify with the given key"
    )


def test_message_signature_over_another_image_is_refused(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    other = other_manifest(image)
    attach_from_js(
        sigstore_js, registry, image, signer, "message", message=base64.b64encode(other).decode()
    )

    result = verify_image(
        pinned(registry, image), [signer.public_key()], tlog=IGNORE_TLOG, client=client
    )

    assert not result.verified
    assert result.signatures[0].reason == (
        f"the bundle's messageDigest is SHA2_256 {hashlib.sha256(other).hexdigest()}, "
        f"not the verified image {image.digest}"
    )


def test_statement_naming_another_image_is_refused(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    elsewhere = sha256(other_manifest(image))
    attach_from_js(sigstore_js, registry, image, signer, "dsse", subjectDigest=elsewhere)

    result = verify_image(
        pinned(registry, image), [signer.public_key()], tlog=IGNORE_TLOG, client=client
    )

    assert not result.verified
    assert result.signatures[0].reason == (
        f"the in-toto statement's subject is {elsewhere}, not the verified image {image.digest}"
    )


def test_v02_bundle_from_message_builder_is_refused(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    # MessageSignatureBundleBuilder always writes a v0.2 bundle; on images, as in cosign, only
    # v0.3 and later count.
    attached = attach_from_js(sigstore_js, registry, image, signer, "message-v0.2")
    assert attached["bundle"]["mediaType"].endswith("version=0.2")

    result = verify_image(
        pinned(registry, image), [signer.public_key()], tlog=IGNORE_TLOG, client=client
    )

    assert not result.verified
    assert result.signatures[0].reason == (
        "bundle version 0.2.0 is older than 0.3, the oldest accepted on images"
    )


def test_bundle_logged_by_sigstore_js_verifies_with_the_log(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
    rekor: RekorServer,
) -> None:
    attached = attach_from_js(sigstore_js, registry, image, signer, "dsse", rekorURL=rekor.url)
    (entry,) = attached["bundle"]["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}

    result = verify_image(
        pinned(registry, image),
        [signer.public_key()],
        tlog=TransparencyLogOptions(
            rekor_url=rekor.url, trusted_root=rekor.trusted_root(), offline=True
        ),
        client=client,
    )

    assert result.verified, result.to_dict()
    # protobuf JSON leaves out a zero logIndex (the first entry of a fresh log).
    assert result.signatures[0].log_index == int(entry.get("logIndex", "0"))
    assert result.warnings == ()


# -- imagesig signs, sigstore-js verifies -----------------------------------------------------


def verify_in_js(
    sigstore_js: SigstoreJs,
    bundle: bytes,
    public_key_pem: bytes,
    digest: str,
    *,
    rekor: RekorServer | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "bundle": json.loads(bundle),
        "publicKey": public_key_pem.decode(),
        "digest": digest,
    }
    if rekor is not None:
        # sigstore-js matches the checkpoint's signer name against the log's base URL (as
        # "rekor.sigstore.dev" against https://rekor.sigstore.dev), so name the log by host.
        request["tlog"] = {
            "publicKey": rekor.public_key_pem.decode(),
            "baseURL": f"https://{rekor.hostname}",
        }
    return sigstore_js.run("verify-bundle.mjs", request)


@pytest.mark.parametrize("annotations", [None, {"team": "payments", "env": "prod"}])
def test_bundle_from_imagesig_verifies_in_sigstore_js(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
    annotations: dict[str, str] | None,
) -> None:
    signed = sign_image(
        f"{image_name(registry, image)}:{image.tag}",
        signer,
        annotations=annotations,
        tlog=TransparencyLogOptions(upload=False),
        client=client,
    )
    assert str(signed.image.digest) == image.digest
    bundle = fetch_bundle(registry, image.repository, str(signed.signature.digest))

    outcome = verify_in_js(sigstore_js, bundle, signer.public_key().pem, image.digest)

    assert outcome == {
        "verified": True,
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "content": "dsseEnvelope",
    }


def test_sigstore_js_refuses_what_it_should_in_bundles_from_imagesig(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
) -> None:
    signed = sign_image(
        pinned(registry, image), signer, tlog=TransparencyLogOptions(upload=False), client=client
    )
    bundle = fetch_bundle(registry, image.repository, str(signed.signature.digest))
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"tampered": True}
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    tampered = json.dumps(document).encode()

    other_key = verify_in_js(
        sigstore_js, bundle, LocalSigner.generate().public_key().pem, image.digest
    )
    other_image = verify_in_js(
        sigstore_js, bundle, signer.public_key().pem, sha256(other_manifest(image))
    )
    changed = verify_in_js(sigstore_js, tampered, signer.public_key().pem, image.digest)

    assert (other_key["stage"], other_key["code"]) == ("sigstore", "PUBLIC_KEY_ERROR")
    assert (other_image["stage"], other_image["code"]) == ("content", "CONTENT_ERROR")
    assert (changed["stage"], changed["code"]) == ("sigstore", "SIGNATURE_ERROR")


def test_logged_bundle_from_imagesig_verifies_in_sigstore_js_with_the_log(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    signer: LocalSigner,
    client: Client,
    rekor: RekorServer,
) -> None:
    signed = sign_image(
        pinned(registry, image),
        signer,
        tlog=TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root()),
        client=client,
    )
    assert signed.log_entry is not None
    bundle = fetch_bundle(registry, image.repository, str(signed.signature.digest))

    # Inclusion promise, inclusion proof, signed checkpoint and entry body, checked by
    # sigstore-js against the log's key.
    outcome = verify_in_js(sigstore_js, bundle, signer.public_key().pem, image.digest, rekor=rekor)

    assert outcome["verified"], outcome
