"""Registry throughput: imagesig's clients next to a raw ``http.client`` keep-alive loop.

Starts Debian's ``docker-registry`` on 127.0.0.1, pushes a set of small images, then fetches
manifest + blob pairs (the shape of a signature lookup) sequentially and with 16 concurrent
workers through: a raw ``http.client`` loop, ``Client`` (sync, threads), ``AsyncClient``.
Prints operations per second, latency percentiles, the ratio to the raw loop, and HTTP
requests per operation. Figures only; nothing is asserted.

    python benchmarks/registry.py [--images 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.registry_server import start_registry

from imagesig import AsyncClient, Client
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.reference import ImageReference

ACCEPT = "application/vnd.oci.image.manifest.v1+json"
CONCURRENCY = 16


class CountingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.count = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.count += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def push_images(client: Client, host: str, count: int) -> list[tuple[ImageReference, Descriptor]]:
    images = []
    for number in range(count):
        repository = f"{host}/bench/app"
        config = f'{{"architecture":"amd64","os":"linux","n":{number}}}'.encode()
        layer = (f"payload {number} ".encode()) * 200  # ~2 KB, signature-sized
        client.push_blob(repository, config)
        client.push_blob(repository, layer)
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
        )
        descriptor = client.push_manifest(repository, manifest, tag=f"v{number}")
        reference = ImageReference.parse(f"{repository}@{descriptor.digest}")
        images.append((reference, manifest.layers[0]))
    return images


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):.2f} ms  p95 {pick(0.95):.2f} ms  p99 {pick(0.99):.2f} ms"


def measure(name: str, run: Callable[[], list[float]], operations: int, rounds: int) -> float:
    best = 0.0
    latencies: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        latencies = run()
        elapsed = time.perf_counter() - start
        best = max(best, operations / elapsed)
    print(f"  {name:<34} {best:8.0f} ops/s   {percentiles(latencies)}")
    return best


def raw_sequential(host: str, images: list[tuple[ImageReference, Descriptor]]) -> list[float]:
    connection = http.client.HTTPConnection(host)
    latencies = []
    for reference, layer in images:
        start = time.perf_counter()
        connection.request(
            "GET", f"/v2/{reference.path}/manifests/{reference.digest}", headers={"Accept": ACCEPT}
        )
        connection.getresponse().read()
        connection.request("GET", f"/v2/{reference.path}/blobs/{layer.digest}")
        connection.getresponse().read()
        latencies.append(time.perf_counter() - start)
    connection.close()
    return latencies


def raw_concurrent(host: str, images: list[tuple[ImageReference, Descriptor]]) -> list[float]:
    local = threading.local()

    def one(item: tuple[ImageReference, Descriptor]) -> float:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(host)
        connection = local.connection
        reference, layer = item
        start = time.perf_counter()
        connection.request(
            "GET", f"/v2/{reference.path}/manifests/{reference.digest}", headers={"Accept": ACCEPT}
        )
        connection.getresponse().read()
        connection.request("GET", f"/v2/{reference.path}/blobs/{layer.digest}")
        connection.getresponse().read()
        return time.perf_counter() - start

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, images))


def client_one(client: Client, item: tuple[ImageReference, Descriptor]) -> float:
    reference, layer = item
    start = time.perf_counter()
    client.get_manifest(reference)
    client.get_blob(reference.repository, layer.digest, size=layer.size)
    return time.perf_counter() - start


async def async_run(
    client: AsyncClient, images: list[tuple[ImageReference, Descriptor]], limit: int
) -> list[float]:
    semaphore = asyncio.Semaphore(limit)

    async def one(item: tuple[ImageReference, Descriptor]) -> float:
        reference, layer = item
        async with semaphore:
            start = time.perf_counter()
            await client.get_manifest(reference)
            await client.get_blob(reference.repository, layer.digest, size=layer.size)
            return time.perf_counter() - start

    return list(await asyncio.gather(*(one(item) for item in images)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp)) as registry:
        host = registry.host
        keychain = StaticKeychain({})
        with Client(keychain=keychain) as setup:
            images = push_images(setup, host, args.images)
        operations = len(images)
        print(
            f"registry {host}: {operations} images, "
            f"manifest+blob per operation, best of {args.rounds}"
        )

        print("sequential")
        raw = measure(
            "raw http.client keep-alive",
            lambda: raw_sequential(host, images),
            operations,
            args.rounds,
        )
        transport = CountingTransport()
        with Client(keychain=keychain, transport=transport) as client:
            sync = measure(
                "imagesig Client",
                lambda: [client_one(client, i) for i in images],
                operations,
                args.rounds,
            )
            requests_per_op = transport.count / (operations * args.rounds)
        async_transport = AsyncCountingTransport()

        async def async_sequential() -> list[float]:
            async with AsyncClient(keychain=keychain, transport=async_transport) as client:
                return await async_run(client, images, 1)

        async_seq = measure(
            "imagesig AsyncClient", lambda: asyncio.run(async_sequential()), operations, args.rounds
        )
        print(
            f"  ratio raw/Client {raw / sync:.2f}x, raw/AsyncClient {raw / async_seq:.2f}x; "
            f"HTTP requests per operation (Client): {requests_per_op:.2f}"
        )

        print(f"concurrent ({CONCURRENCY})")
        raw_c = measure(
            "raw http.client, 16 threads",
            lambda: raw_concurrent(host, images),
            operations,
            args.rounds,
        )
        with Client(keychain=keychain) as client:
            pool = ThreadPoolExecutor(CONCURRENCY)
            sync_c = measure(
                "imagesig Client, 16 threads",
                lambda: list(pool.map(lambda i: client_one(client, i), images)),
                operations,
                args.rounds,
            )
            pool.shutdown()

        async def async_concurrent() -> list[float]:
            async with AsyncClient(keychain=keychain) as client:
                return await async_run(client, images, CONCURRENCY)

        async_c = measure(
            "imagesig AsyncClient, 16 tasks",
            lambda: asyncio.run(async_concurrent()),
            operations,
            args.rounds,
        )
        print(f"  ratio raw/Client {raw_c / sync_c:.2f}x, raw/AsyncClient {raw_c / async_c:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
