"""The cosign test vectors (``shared/vectors/cosign``) and helpers to store them in a layout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import shared_dir

from imagesig import Client, OCILayoutStore, TransparencyLogOptions
from imagesig.oci.model import Manifest
from imagesig.reference import Repository
from imagesig.signatures.attach import bundle_referrer_manifest
from imagesig.signatures.intoto import COSIGN_CUSTOM_PREDICATE_TYPE
from imagesig.tlog import TrustedRoot

VECTORS = shared_dir() / "vectors" / "cosign"
# go-containerregistry's empty image manifest: the subject of the attestation vector.
EMPTY_IMAGE_MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":115,'
    b'"digest":"sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"},'
    b'"layers":[]}'
)
EMPTY_IMAGE_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
KEYLESS_REASON = (
    "the bundle is signed with a certificate (keyless signing); verifying it needs a "
    "certificate identity, not a key"
)


def read(path: str) -> bytes:
    """The bytes of a vector file, ``path`` relative to :data:`VECTORS`."""
    return (VECTORS / path).read_bytes()


@contextmanager
def production_layout_client(directory: Path) -> Iterator[Client]:
    """A client on an OCI layout in ``directory``, offline, trusting the production root."""
    production = TrustedRoot.from_file(VECTORS / "trust" / "trusted_root_pgi.json")
    options = TransparencyLogOptions(trusted_root=production, offline=True)
    with Client(stores={"*": OCILayoutStore(directory)}, tlog=options) as opened:
        yield opened


def push_manifest(client: Client, repository: Repository, raw: bytes, tag: str) -> Manifest:
    """Store the manifest ``raw`` under ``repository:tag`` as is and return it parsed."""
    manifest = Manifest.parse(raw)
    client.push_manifest(repository, manifest, tag=tag)
    return manifest


def attach_bundle(client: Client, repository: Repository, subject: Manifest, bundle: bytes) -> None:
    """Attach ``bundle`` to ``subject`` as a cosign custom-predicate referrer."""
    referrer = bundle_referrer_manifest(
        bundle, subject.descriptor(), predicate_type=COSIGN_CUSTOM_PREDICATE_TYPE
    )
    client.push_blob(repository, b"{}")
    client.push_blob(repository, bundle)
    client.push_manifest(repository, referrer)
