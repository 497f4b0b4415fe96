"""Verification cost: ``verify_image`` next to a raw ``http.client`` loop doing the same work.

Starts Debian's ``docker-registry`` on 127.0.0.1 (no referrers API, so referrers are listed
through the ``sha256-<hex>`` tag schema) and an in-process ``RekorServer``, pushes N small
images per signature format and signs each once with a fresh P-256 key, recording the
signature in that Rekor. Signatures therefore carry their log proofs, the realistic case:
bundles hold the entry with its inclusion proof and signed checkpoint, ``.sig`` layers hold
cosign's Rekor bundle annotation. Verification uses the default online options with that
Rekor's trusted root; the embedded proofs are enough, so Rekor is never contacted (its request
count is printed).

For each format it prints:

* HTTP requests per verification of a pinned reference, counted by a transport, next to the
  minimum for verifying every signature in both places (one referrers listing, one ``.sig``
  lookup, then per bundle its manifest and blob, per ``.sig`` layer its blob); a tag adds one
  resolve, and the first verification of a client adds the referrers-API probe;
* sequential latency (p50/p95) and throughput of ``Client.verify_image`` next to a raw
  ``http.client`` keep-alive loop issuing the same requests and doing the same cryptography
  with ``cryptography`` (image signature, log promise, and for bundles the checkpoint signature
  and the Merkle inclusion proof) plus the same content checks;
* throughput of ``AsyncClient.verify_image`` at 16 concurrent tasks next to the raw loop in 16
  threads (one keep-alive connection each), over all N images; the sync ``Client`` shared by
  16 threads is shown too, for reference.

Then ``imagesig --help`` wall time (best of 5). Figures only; nothing is asserted.

    python benchmarks/verify.py [--images 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.registry_server import start_registry

from imagesig import AsyncClient, Client, SignatureFormat, TransparencyLogOptions
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.reference import ImageReference
from imagesig.signers import LocalSigner, PublicKey
from imagesig.testing import RekorServer

CONCURRENCY = 16
HELP_RUNS = 5
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = ",".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
IN_TOTO = "application/vnd.in-toto+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
LOG_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"


# -- counting requests ------------------------------------------------------------------------


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


# -- the images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    reference: ImageReference  # pinned
    tag: str
    key: PublicKey


def push_and_sign(
    client: Client, host: str, format: SignatureFormat, count: int, tlog: TransparencyLogOptions
) -> list[Signed]:
    images = []
    repository = f"{host}/bench/{format.value}"
    for number in range(count):
        config = f'{{"architecture":"amd64","os":"linux","n":{number}}}'.encode()
        layer = f"{format.value} image {number}\n".encode() * 64
        client.push_blob(repository, config)
        client.push_blob(repository, layer)
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
        )
        tag = f"v{number}"
        descriptor = client.push_manifest(repository, manifest, tag=tag)
        signer = LocalSigner.generate()
        result = client.sign_image(
            ImageReference.parse(f"{repository}@{descriptor.digest}"),
            signer,
            format=format,
            tlog=tlog,
        )
        images.append(Signed(result.image, tag, signer.public_key()))
    return images


# -- the raw loop: same requests, same checks, no library -------------------------------------


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _ecdsa(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def _check_promise(
    log_key: ec.EllipticCurvePublicKey, promise: bytes, payload: dict[str, Any]
) -> None:
    _ecdsa(log_key, promise, _canonical(payload))


def _inclusion_root(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    node, last, root = index, size - 1, leaf
    for sibling in path:
        if last == 0:
            raise ValueError("proof too long")
        if node & 1 or node == last:
            root = hashlib.sha256(b"\x01" + sibling + root).digest()
            while not node & 1 and node != 0:
                node >>= 1
                last >>= 1
        else:
            root = hashlib.sha256(b"\x01" + root + sibling).digest()
        node >>= 1
        last >>= 1
    if last != 0:
        raise ValueError("proof too short")
    return root


def _check_checkpoint(
    log_key: ec.EllipticCurvePublicKey, envelope: str, root: bytes, size: int
) -> None:
    split = envelope.index("\n\n")
    note, signatures = envelope[: split + 1], envelope[split + 2 :]
    lines = note.split("\n")
    if int(lines[1]) != size or _b64(lines[2]) != root:
        raise ValueError("checkpoint does not match the proof")
    signature = _b64(signatures.split(" ")[-1].strip())[4:]
    _ecdsa(log_key, signature, note.encode())


@dataclass
class RawVerifier:
    """Verifies one image with ``http.client`` on a keep-alive connection."""

    host: str
    log_key: ec.EllipticCurvePublicKey
    log_id_hex: str

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection(self.host)

    def get(self, path: str, accept: str | None = None) -> tuple[int, bytes]:
        self.connection.request("GET", path, headers={"Accept": accept} if accept else {})
        response = self.connection.getresponse()
        return response.status, response.read()

    def verify(self, image: Signed) -> bool:
        path = image.reference.path
        digest = image.reference.digest
        assert digest is not None
        hex_digest = str(digest).split(":")[1]
        key = image.key.key
        verified = False
        status, body = self.get(f"/v2/{path}/manifests/sha256-{hex_digest}", OCI_INDEX)
        referrers = json.loads(body)["manifests"] if status == 200 else []
        status, body = self.get(f"/v2/{path}/manifests/sha256-{hex_digest}.sig", MANIFEST_ACCEPT)
        layers = json.loads(body)["layers"] if status == 200 else []
        for referrer in referrers:
            body = self.get_checked(f"/v2/{path}/manifests/", referrer["digest"], MANIFEST_ACCEPT)
            layer = json.loads(body)["layers"][0]
            bundle = self.get_checked(f"/v2/{path}/blobs/", layer["digest"])
            verified |= self.check_bundle(bundle, hex_digest, key)
        for layer in layers:
            payload = self.get_checked(f"/v2/{path}/blobs/", layer["digest"])
            verified |= self.check_legacy(payload, layer["annotations"], hex_digest, key)
        return verified

    def get_checked(self, prefix: str, digest: str, accept: str | None = None) -> bytes:
        """GET content by digest and check it hashes to that digest, as the library does."""
        status, body = self.get(prefix + digest, accept)
        if status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise SystemExit(f"GET {prefix}{digest}: {status} or digest mismatch")
        return body

    def check_bundle(self, raw: bytes, hex_digest: str, key: Any) -> bool:
        bundle = json.loads(raw)
        envelope = bundle["dsseEnvelope"]
        payload = _b64(envelope["payload"])
        statement = json.loads(payload)
        if not any(s["digest"].get("sha256") == hex_digest for s in statement["subject"]):
            return False
        signature = _b64(envelope["signatures"][0]["sig"])
        pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO), IN_TOTO.encode(), len(payload), payload)
        entry = bundle["verificationMaterial"]["tlogEntries"][0]
        body = _b64(entry["canonicalizedBody"])
        spec = json.loads(body)["spec"]
        if spec["payloadHash"]["value"] != hashlib.sha256(payload).hexdigest():
            return False
        if _b64(spec["signatures"][0]["signature"]) != signature:
            return False
        try:
            _ecdsa(key, signature, pae)
            index = int(entry.get("logIndex", "0"))
            _check_promise(
                self.log_key,
                _b64(entry["inclusionPromise"]["signedEntryTimestamp"]),
                {
                    "body": entry["canonicalizedBody"],
                    "integratedTime": int(entry["integratedTime"]),
                    "logID": _b64(entry["logId"]["keyId"]).hex(),
                    "logIndex": index,
                },
            )
            proof = entry["inclusionProof"]
            root = _b64(proof["rootHash"])
            size = int(proof["treeSize"])
            leaf = hashlib.sha256(b"\x00" + body).digest()
            hashes_ = [_b64(item) for item in proof.get("hashes", [])]
            if _inclusion_root(int(proof.get("logIndex", "0")), size, leaf, hashes_) != root:
                return False
            _check_checkpoint(self.log_key, proof["checkpoint"]["envelope"], root, size)
        except (InvalidSignature, ValueError):
            return False
        return True

    def check_legacy(
        self, payload: bytes, annotations: dict[str, str], hex_digest: str, key: Any
    ) -> bool:
        claims = json.loads(payload)
        if claims["critical"]["image"]["docker-manifest-digest"] != f"sha256:{hex_digest}":
            return False
        signature = _b64(annotations[SIGNATURE_ANNOTATION])
        log_bundle = json.loads(annotations[LOG_BUNDLE_ANNOTATION])
        entry = log_bundle["Payload"]
        spec = json.loads(_b64(entry["body"]))["spec"]
        if spec["data"]["hash"]["value"] != hashlib.sha256(payload).hexdigest():
            return False
        if _b64(spec["signature"]["content"]) != signature or entry["logID"] != self.log_id_hex:
            return False
        try:
            _ecdsa(key, signature, payload)
            _check_promise(self.log_key, _b64(log_bundle["SignedEntryTimestamp"]), entry)
        except InvalidSignature:
            return False
        return True

    def close(self) -> None:
        self.connection.close()


# -- measuring --------------------------------------------------------------------------------


def pick(samples: Sequence[float], quantile: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000


def interleaved(
    rounds: int, runs: Sequence[Callable[[], list[float]]]
) -> list[tuple[float, list[float]]]:
    """Run each of ``runs`` once per round, alternating, so that load elsewhere on the machine
    hits them alike; return each one's best wall time and that round's latencies."""
    best: list[tuple[float, list[float]]] = [(float("inf"), []) for _ in runs]
    for _ in range(rounds):
        for position, run in enumerate(runs):
            start = time.perf_counter()
            samples = run()
            elapsed = time.perf_counter() - start
            if elapsed < best[position][0]:
                best[position] = (elapsed, samples)
    return best


def timed(verify: Callable[[Signed], bool], image: Signed) -> float:
    start = time.perf_counter()
    if not verify(image):
        raise SystemExit(f"verification failed for {image.reference}")
    return time.perf_counter() - start


def line(name: str, count: int, elapsed: float, latencies: Sequence[float]) -> None:
    print(
        f"    {name:<32} {count / elapsed:8.0f} verifications/s   "
        f"p50 {pick(latencies, 0.50):6.2f} ms   p95 {pick(latencies, 0.95):6.2f} ms"
    )


def minimum_requests(format: SignatureFormat) -> int:
    # one referrers listing + one .sig lookup, then the signature's own reads
    return 2 + (2 if format is SignatureFormat.BUNDLE else 1)


def count_requests(
    host: str, images: list[Signed], options: TransparencyLogOptions, rekor: RekorServer
) -> tuple[int, float, float, int]:
    """(first verification, per pinned verification after it, per tag verification, Rekor)."""
    transport = CountingTransport()
    rekor.clear_requests()
    with Client(
        insecure_registries=[host], keychain=StaticKeychain(), transport=transport, tlog=options
    ) as client:
        first = images[0]
        assert client.verify_image(first.reference, [first.key]).verified
        cold = transport.count
        transport.count = 0
        for image in images[1:]:
            assert client.verify_image(image.reference, [image.key]).verified
        warm = transport.count / (len(images) - 1)
        transport.count = 0
        for image in images:
            tagged = image.reference.repository.with_tag(image.tag)
            assert client.verify_image(tagged, [image.key]).verified
        tag = transport.count / len(images)
    return cold, warm, tag, len(rekor.requests)


def sequential(
    host: str,
    images: list[Signed],
    options: TransparencyLogOptions,
    log: tuple[ec.EllipticCurvePublicKey, str],
    rounds: int,
) -> tuple[float, float]:
    raw = RawVerifier(host, *log)
    with Client(insecure_registries=[host], keychain=StaticKeychain(), tlog=options) as client:

        def one(image: Signed) -> bool:
            return client.verify_image(image.reference, [image.key]).verified

        one(images[0])  # warm: referrers-API probe, connection
        (raw_elapsed, raw_latencies), (lib_elapsed, lib_latencies) = interleaved(
            rounds,
            [
                lambda: [timed(raw.verify, i) for i in images],
                lambda: [timed(one, i) for i in images],
            ],
        )
    raw.close()
    line("raw http.client + cryptography", len(images), raw_elapsed, raw_latencies)
    line("imagesig Client.verify_image", len(images), lib_elapsed, lib_latencies)
    return raw_elapsed, lib_elapsed


def concurrent(
    host: str,
    images: list[Signed],
    options: TransparencyLogOptions,
    log: tuple[ec.EllipticCurvePublicKey, str],
    rounds: int,
) -> tuple[float, float]:
    local = threading.local()
    verifiers: list[RawVerifier] = []

    def raw_one(image: Signed) -> float:
        verifier = getattr(local, "verifier", None)
        if verifier is None:
            verifier = local.verifier = RawVerifier(host, *log)
            verifiers.append(verifier)
        return timed(verifier.verify, image)

    loop = asyncio.new_event_loop()
    client = AsyncClient(insecure_registries=[host], keychain=StaticKeychain(), tlog=options)
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(image: Signed) -> float:
        async with semaphore:
            start = time.perf_counter()
            result = await client.verify_image(image.reference, [image.key])
            if not result.verified:
                raise SystemExit(f"verification failed for {image.reference}")
            return time.perf_counter() - start

    async def gather() -> list[float]:
        return list(await asyncio.gather(*(one(image) for image in images)))

    sync_client = Client(insecure_registries=[host], keychain=StaticKeychain(), tlog=options)

    def sync_one(image: Signed) -> float:
        return timed(lambda i: sync_client.verify_image(i.reference, [i.key]).verified, image)

    pool = ThreadPoolExecutor(CONCURRENCY)
    try:
        loop.run_until_complete(one(images[0]))  # warm: referrers-API probe
        sync_one(images[0])
        (
            (raw_elapsed, raw_latencies),
            (lib_elapsed, lib_latencies),
            (sync_elapsed, sync_latencies),
        ) = interleaved(
            rounds,
            [
                lambda: list(pool.map(raw_one, images)),
                lambda: loop.run_until_complete(gather()),
                lambda: list(pool.map(sync_one, images)),
            ],
        )
    finally:
        pool.shutdown()
        for verifier in verifiers:
            verifier.close()
        sync_client.close()
        loop.run_until_complete(client.aclose())
        loop.close()
    line(f"raw http.client, {CONCURRENCY} threads", len(images), raw_elapsed, raw_latencies)
    line(f"imagesig AsyncClient, {CONCURRENCY} tasks", len(images), lib_elapsed, lib_latencies)
    line(f"(imagesig Client, {CONCURRENCY} threads)", len(images), sync_elapsed, sync_latencies)
    print(
        f"    ratio AsyncClient/raw: {lib_elapsed / raw_elapsed:.2f}x (target <= 1.25x); "
        f"Client in threads/raw: {sync_elapsed / raw_elapsed:.2f}x"
    )
    return raw_elapsed, lib_elapsed


def help_time() -> float:
    script = Path(sys.executable).with_name("imagesig")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "imagesig"]
    best = float("inf")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(HELP_RUNS):
        start = time.perf_counter()
        subprocess.run([*command, "--help"], check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - start)
    print(
        f"`{shutil.which(command[0]) or command[0]} --help`: {best * 1000:.0f} ms wall, best of 5"
    )
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="signed images per format")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_registry(Path(tmp)) as registry,
        RekorServer() as rekor,
    ):
        host = registry.host
        options = TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())
        log_key = serialization.load_pem_public_key(rekor.public_key_pem)
        assert isinstance(log_key, ec.EllipticCurvePublicKey)
        log = (log_key, rekor.log_id.hex())
        signed: dict[SignatureFormat, list[Signed]] = {}
        start = time.perf_counter()
        with Client(insecure_registries=[host], keychain=StaticKeychain(), tlog=options) as setup:
            for format in SignatureFormat:
                signed[format] = push_and_sign(setup, host, format, args.images, options)
        print(
            f"registry {host} (no referrers API), Rekor {rekor.url} (in-process); "
            f"{args.images} images per format, each signed once with its own P-256 key and "
            f"logged (setup {time.perf_counter() - start:.1f} s); best of {args.rounds} rounds"
        )
        print(
            "verification: online defaults with the local Rekor's trusted root; the proofs "
            "embedded in the signatures are used, Rekor is not contacted"
        )
        for format, images in signed.items():
            print(f"\n{format.value} format")
            cold, warm, tag, rekor_requests = count_requests(host, images, options, rekor)
            minimum = minimum_requests(format)
            verdict = "= minimum" if warm == minimum else "ABOVE the minimum"
            print(
                f"  HTTP requests per verification: {warm:.2f} pinned ({verdict} {minimum}), "
                f"{tag:.2f} by tag (minimum {minimum + 1}); first verification of a client "
                f"{cold} (+ referrers-API probe); Rekor requests: {rekor_requests}"
            )
            print("  sequential")
            raw_seq, lib_seq = sequential(host, images, options, log, args.rounds)
            print(f"    ratio Client/raw: {lib_seq / raw_seq:.2f}x (target <= 1.20x)")
            print(f"  concurrent ({CONCURRENCY})")
            concurrent(host, images, options, log, args.rounds)
        print()
        help_time()
    return 0


if __name__ == "__main__":
    sys.exit(main())
