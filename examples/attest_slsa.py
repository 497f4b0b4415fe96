"""imagesig example: attest an image's SLSA provenance, then verify it and act on it.

Everything runs locally: the image lives in an OCI image-layout directory and the
transparency log is a small Rekor running inside this process. The steps are the ones a
release pipeline and a deployment gate would take against a registry and the public log:

1. build a tiny image and a key pair;
2. attest SLSA provenance v1 for the image (a Sigstore bundle attached as an OCI referrer,
   recorded in the log as a ``dsse`` entry);
3. verify the image's attestations of that type with the public key, and read the builder
   and source from the verified predicate;
4. show that asking for a type nobody attested (an SPDX SBOM) fails, and says why;
5. list everything attached to the image.

Run it with ``python examples/attest_slsa.py [DIRECTORY]``; without a directory a temporary
one is used and removed afterwards. It exits 0 when every step turned out as it should.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from imagesig import Client, OCILayoutStore, TransparencyLogOptions
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.reference import ImageReference
from imagesig.signatures.predicates import SLSAProvenanceV1
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

IMAGE = ImageReference.parse("registry.example.com/team/app:1.4")
BUILDER = "https://ci.example.com/builders/release@v2"
PROVENANCE = {
    "buildDefinition": {
        "buildType": "https://ci.example.com/build-types/container@v1",
        "externalParameters": {"repository": "https://git.example.com/team/app", "ref": "v1.4"},
        "resolvedDependencies": [
            {
                "uri": "git+https://git.example.com/team/app@refs/tags/v1.4",
                "digest": {"gitCommit": "9f1c0b7e3a5d4c2b1a0f9e8d7c6b5a4938271605"},
            }
        ],
    },
    "runDetails": {
        "builder": {"id": BUILDER},
        "metadata": {"invocationId": "https://ci.example.com/runs/1234"},
    },
}


def build_image(client: Client) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = b"the application\n"
    for blob in (config, layer):
        client.push_blob(IMAGE.repository, blob)
    manifest = Manifest.build(
        Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
    )
    client.push_manifest(IMAGE.repository, manifest, tag=IMAGE.tag)


def run(directory: Path) -> bool:
    signer = LocalSigner.generate()  # in a pipeline: a cosign.key file or a KMS key
    public_key = signer.public_key()
    with RekorServer() as rekor:
        tlog = TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())
        with Client(stores={"*": OCILayoutStore(directory / "oci")}, tlog=tlog) as client:
            build_image(client)
            print(f"build   {IMAGE}")

            attested = client.attest_image(IMAGE, PROVENANCE, "slsaprovenance1", signer=signer)
            assert attested.log_entry is not None
            print(f"attest  {attested.image.digest}: {attested.predicate_type}")
            entry = attested.log_entry.log_index
            print(f"        referrer {attested.attestation.digest}, log entry {entry}")

            result = client.verify_attestations(IMAGE, public_key, predicate_type="slsaprovenance1")
            result.raise_for_failure()
            (provenance,) = result.typed_predicates()
            assert isinstance(provenance, SLSAProvenanceV1)
            source = provenance.materials[0]
            trusted_builder = provenance.builder_id == BUILDER
            print(f"verify  {'PASS' if result.verified else 'FAIL'} ({result.image})")
            verdict = "trusted" if trusted_builder else "UNKNOWN"
            print(f"        builder {provenance.builder_id} ({verdict})")
            print(f"        source  {source.uri} {dict(source.digest)}")

            sbom = client.verify_attestations(IMAGE, public_key, predicate_type="spdxjson")
            print(f"sbom    {'PASS' if sbom.verified else 'FAIL (as it should)'}")
            print(f"        {sbom.failure_summary()}")

            tree = client.list_attachments(IMAGE)
            counts = f"{len(tree.signatures)} signature(s), {len(tree.attestations)} attestation(s)"
            print(f"tree    {counts}")
            for item in tree.attestations:
                print(f"        {item.storage.value} {item.digest} {item.predicate_type}")
    return result.verified and trusted_builder and not sbom.verified


def main(argv: list[str]) -> int:
    if argv:
        directory = Path(argv[0])
        directory.mkdir(parents=True, exist_ok=True)
        return 0 if run(directory) else 1
    with tempfile.TemporaryDirectory(prefix="imagesig-attest-") as temporary:
        return 0 if run(Path(temporary)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
