"""imagesig demo on an embedded OCI-layout store: no registry server needed.

Builds a small image, stores it under ``registry.example.com/team/app:1.4`` in an OCI
image-layout directory, attaches an SBOM as an OCI 1.1 referrer, resolves and reads
everything back (digest-checked), and copies the image with its referrers to a mirror
repository. Run it with ``make demo`` or ``python examples/demo.py [DIRECTORY]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from imagesig import Client, OCILayoutStore
from imagesig.oci.model import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_EMPTY_JSON,
    OCI_LAYER,
    Descriptor,
    Manifest,
)

IMAGE = "registry.example.com/team/app:1.4"
MIRROR = "registry.example.com/mirror/app:1.4"
SBOM_TYPE = "application/spdx+json"


def build_image(client: Client) -> Descriptor:
    """Push a two-layer image and tag it."""
    repository = IMAGE.rsplit(":", 1)[0]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    layers = [b"demo layer one\n" * 64, b"demo layer two\n" * 64]
    for blob in (config, *layers):
        client.push_blob(repository, blob)
    manifest = Manifest.build(
        Descriptor.for_content(config, OCI_CONFIG),
        [Descriptor.for_content(layer, OCI_LAYER) for layer in layers],
    )
    return client.push_manifest(repository, manifest, tag="1.4")


def attach_sbom(client: Client, subject: Descriptor) -> Descriptor:
    """Attach an SPDX document to the image as a referrer."""
    repository = IMAGE.rsplit(":", 1)[0]
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": "app", "packages": []}).encode()
    client.push_blob(repository, sbom)
    client.push_blob(repository, OCI_EMPTY_JSON)
    manifest = Manifest.build(
        Descriptor.for_content(OCI_EMPTY_JSON, OCI_EMPTY),
        [Descriptor.for_content(sbom, SBOM_TYPE)],
        subject=subject,
        artifact_type=SBOM_TYPE,
        annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    )
    return client.push_manifest(repository, manifest)


def main(directory: Path) -> int:
    store = OCILayoutStore(directory)
    with Client(store=store) as client:
        image = build_image(client)
        print(f"pushed   {IMAGE}\n         {image.digest} ({image.size} bytes)")

        resolved = client.resolve(IMAGE)
        assert resolved.digest == image.digest
        print(f"resolved {IMAGE} -> {resolved.digest}")

        sbom = attach_sbom(client, image)
        referrers = client.referrers(IMAGE, artifact_type=SBOM_TYPE)
        print(f"attached SBOM {sbom.digest}; referrers of type {SBOM_TYPE}: {len(referrers)}")

        copied = client.copy_image(IMAGE, MIRROR)
        print(
            f"copied   to {copied.destination}: {copied.manifests} manifests, "
            f"{copied.blobs_copied} blobs copied, {copied.referrers} referrer(s)"
        )
        mirror_referrers = client.referrers(MIRROR)
        assert [r.digest for r in mirror_referrers] == [sbom.digest]

        pinned = client.get_manifest(copied.destination)
        print(f"verified mirror manifest bytes hash to {pinned.digest}")
    print(f"\nOCI layout: {store.layout_dir(copied.destination.repository)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory(prefix="imagesig-demo-") as tmp:
        sys.exit(main(Path(tmp)))
