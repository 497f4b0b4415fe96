"""Cloud KMS signing cost: calls per signature, and throughput next to a local key.

Runs the loopback KMS server of the test suite (real gRPC, real keys, the unmodified
``google-cloud-kms`` client) in a separate process, so that it does not share the GIL with
the client measured, and measures:

1. KMS calls per signature: one ``GcpKmsSigner`` signs N payloads, and one ``Client`` signs
   N images (legacy format, OCI-layout store, no transparency log); the figure that matters
   is ``AsymmetricSign`` calls per signature after the first (expected: exactly 1, with no
   other KMS call).
2. Signing throughput, signatures per second: a sync loop, then asyncio at concurrency 8
   (``AsyncGcpKmsSigner`` directly, and ``AsyncClient.sign_image`` on N images), each next
   to the same loop with a local ECDSA P-256 key.

Figures only; nothing is asserted.

    python benchmarks/kms.py [--signatures 400] [--images 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kms_server import FakeKMS
from tests.support.oci_content import image

from imagesig import AsyncClient, Client, OCILayoutStore, SignatureFormat, TransparencyLogOptions
from imagesig.reference import ImageReference
from imagesig.signers import AsyncSigner, LocalSigner, Signer, as_async_signer
from imagesig.signers.gcpkms import AsyncGcpKmsSigner, GcpKmsSigner

KEY = "projects/bench/locations/global/keyRings/bench/cryptoKeys/cosign"
CONCURRENCY = 8
NO_TLOG = TransparencyLogOptions(upload=False, ignore=True)
LEGACY = SignatureFormat.LEGACY


def serve(connection: Connection) -> None:
    """Child process: run a FakeKMS and answer ``(method, args)`` requests about it."""
    with FakeKMS(max_workers=16) as kms:
        connection.send(kms.endpoint)
        while True:
            method, args = connection.recv()
            if method == "stop":
                return
            if method == "counts":
                connection.send(dict(kms.counts))
            else:
                connection.send(getattr(kms, method)(*args))


class RemoteKMS:
    """The parent's handle on the KMS server process."""

    def __init__(self) -> None:
        self._connection, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=serve, args=(child,), daemon=True)
        self._process.start()
        self.endpoint: str = self._connection.recv()

    def call(self, method: str, *args: Any) -> Any:
        self._connection.send((method, args))
        return self._connection.recv()

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.call("counts"))

    def stop(self) -> None:
        self._connection.send(("stop", ()))
        self._process.join(timeout=10)


def best_rate(count: int, rounds: int, run: Callable[[], None]) -> float:
    """Signatures per second of the best of ``rounds`` runs."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return count / min(timings)


def sync_loop(signer: Signer, count: int) -> Callable[[], None]:
    def run() -> None:
        for number in range(count):
            signer.sign(b"payload %d" % number)

    return run


def async_loop(make: Callable[[], AsyncSigner], count: int) -> Callable[[], None]:
    async def main() -> None:
        signer = make()
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(number: int) -> None:
            async with semaphore:
                await signer.sign(b"payload %d" % number)

        await signer.public_key()
        await asyncio.gather(*(one(number) for number in range(count)))
        close: Callable[[], Awaitable[None]] | None = getattr(signer, "aclose", None)
        if close is not None:
            await close()

    return lambda: asyncio.run(main())


def push_images(client: Client, count: int) -> list[ImageReference]:
    references = []
    for number in range(count):
        reference = ImageReference.parse(f"registry.example.com/bench/app:{number}")
        content = image(f"bench-{number}")
        for blob in content.blobs:
            client.push_blob(reference.repository, blob)
        client.push_manifest(reference.repository, content.manifest, tag=reference.tag)
        references.append(reference)
    return references


def client_rate(
    store_root: Path, references: list[ImageReference], signer: AsyncSigner | Signer
) -> float:
    """Images signed per second through AsyncClient at concurrency 8 (one round)."""

    async def main() -> float:
        async with AsyncClient(store=OCILayoutStore(store_root), tlog=NO_TLOG) as client:
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def one(reference: ImageReference) -> None:
                async with semaphore:
                    await client.sign_image(reference, signer, format=LEGACY)

            started = time.perf_counter()
            await asyncio.gather(*(one(reference) for reference in references))
            return len(references) / (time.perf_counter() - started)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=400)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count, images, rounds = args.signatures, args.images, args.rounds

    kms = RemoteKMS()
    try:
        run(kms, count, images, rounds)
    finally:
        kms.stop()


def run(kms: RemoteKMS, count: int, images: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        uri = kms.call("add_key", KEY)
        local = LocalSigner.generate()
        print(f"loopback KMS at {kms.endpoint}, key {uri}\n")

        # 1. Calls per signature -------------------------------------------------------------
        with GcpKmsSigner(uri, endpoint=kms.endpoint) as signer:
            kms.call("reset_calls")
            signer.sign(b"first")
            first = dict(kms.counts)
            kms.call("reset_calls")
            sync_loop(signer, count)()
            after = dict(kms.counts)
        print("KMS calls, signer.sign():")
        print(f"  first signature:           {first}")
        print(f"  next {count} signatures:     {after}")
        print(f"  AsymmetricSign per signature after the first: {after['AsymmetricSign'] / count}")

        root = Path(workdir) / "layout"
        with Client(store=OCILayoutStore(root), tlog=NO_TLOG) as client:
            references = push_images(client, images)
            with GcpKmsSigner(uri, endpoint=kms.endpoint) as signer:
                kms.call("reset_calls")
                client.sign_image(references[0], signer, format=LEGACY)
                first = dict(kms.counts)
                kms.call("reset_calls")
                for reference in references[1:]:
                    client.sign_image(reference, signer, format=LEGACY)
                after = dict(kms.counts)
        per_image = after.get("AsymmetricSign", 0) / (images - 1)
        print(f"KMS calls, Client.sign_image() on {images} images:")
        print(f"  first image: {first}")
        print(f"  next {images - 1} images: {after}")
        print(f"  AsymmetricSign per signature after the first: {per_image}\n")

        # 2. Throughput ----------------------------------------------------------------------
        print(f"signatures per second (best of {rounds}, {count} signatures):")
        with GcpKmsSigner(uri, endpoint=kms.endpoint) as signer:
            signer.public_key()
            kms_sync = best_rate(count, rounds, sync_loop(signer, count))
        local_sync = best_rate(count, rounds, sync_loop(local, count))
        print(f"  sync loop          KMS {kms_sync:9.0f}   local key {local_sync:9.0f}")

        def make_kms() -> AsyncSigner:
            return AsyncGcpKmsSigner(uri, endpoint=kms.endpoint)

        def make_local() -> AsyncSigner:
            return as_async_signer(local, offload=False)

        kms_async = best_rate(count, rounds, async_loop(make_kms, count))
        local_async = best_rate(count, rounds, async_loop(make_local, count))
        label = f"asyncio conc. {CONCURRENCY}"
        print(f"  {label:18} KMS {kms_async:9.0f}   local key {local_async:9.0f}")

        kms_rates, local_rates = [], []
        for _ in range(rounds):
            kms_rates.append(client_rate(root, references, make_kms()))
            local_rates.append(client_rate(root, references, local))
        print(
            f"  AsyncClient.sign_image, conc. {CONCURRENCY}, {images} images: "
            f"KMS {max(kms_rates):7.0f}   local key {max(local_rates):7.0f}   "
            f"(median {statistics.median(kms_rates):.0f} / {statistics.median(local_rates):.0f})"
        )


if __name__ == "__main__":
    main()
