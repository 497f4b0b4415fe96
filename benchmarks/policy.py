"""Policy evaluation cost: AdmissionReviews per second warm, and cold latency against a registry.

Starts Debian's ``docker-registry`` on 127.0.0.1 and an in-process ``RekorServer``, pushes
three small images under tags, signs each with one P-256 key (logged in that Rekor) and
evaluates an ``admission.k8s.io/v1`` AdmissionReview for a Pod running the three tags against
a ClusterPolicy that names the key (Enforce, ``mutateDigest`` on, attestor without a ``rekor``
block, so a log proof is required and the local Rekor's trusted root is the default log).

* **warm**: a :class:`~imagesig.policy.PolicyEvaluator` with the real
  :class:`~imagesig.policy.ClientVerifier` on a blocking :class:`~imagesig.Client`, its
  verification cache filled by one evaluation; then ``evaluate(review)`` plus
  ``to_admission_response()`` (JSON patch, base64) in a loop on one thread. A cache hit pins
  the digest that verified, so no request reaches the registry (counted and printed).
* **cold**: an :class:`~imagesig.policy.AsyncPolicyEvaluator` on an
  :class:`~imagesig.AsyncClient` with an empty cache for every evaluation (connections stay
  open), next to the floor measured in the same run with the same client:
  ``AsyncClient.verify_image`` of one image by tag (resolve plus verify, what the evaluator
  does per image), and of the three images one after another.

Figures only; nothing is asserted.

    python benchmarks/policy.py [--seconds 3] [--rounds 30] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.registry_server import start_registry

from imagesig import AsyncClient, Client, TransparencyLogOptions
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import OCI_CONFIG, OCI_LAYER, Descriptor, Manifest
from imagesig.policy import AsyncPolicyEvaluator, PolicyEvaluator, VerificationCache
from imagesig.policy.load import policy_from_dict
from imagesig.policy.model import KyvernoPolicy
from imagesig.reference import ImageReference
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

IMAGES = 3


def push_and_sign(
    client: Client, host: str, signer: LocalSigner, tlog: TransparencyLogOptions
) -> list[str]:
    tags = []
    for number in range(IMAGES):
        repository = f"{host}/bench/policy{number}"
        config = f'{{"architecture":"amd64","os":"linux","n":{number}}}'.encode()
        layer = f"policy image {number}\n".encode() * 64
        client.push_blob(repository, config)
        client.push_blob(repository, layer)
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
        )
        descriptor = client.push_manifest(repository, manifest, tag="v1")
        pinned = ImageReference.parse(f"{repository}@{descriptor.digest}")
        client.sign_image(pinned, signer, tlog=tlog)
        tags.append(f"{repository}:v1")
    return tags


def make_policy(host: str, signer: LocalSigner) -> KyvernoPolicy:
    return policy_from_dict(
        {
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "signed-images"},
            "spec": {
                "validationFailureAction": "Enforce",
                "failurePolicy": "Fail",
                "rules": [
                    {
                        "name": "check-signature",
                        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                        "verifyImages": [
                            {
                                "imageReferences": [f"{host}/bench/*"],
                                "attestors": [
                                    {
                                        "entries": [
                                            {
                                                "keys": {
                                                    "publicKeys": signer.public_key().pem.decode()
                                                }
                                            }
                                        ]
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
        }
    )


def admission_review(images: list[str]) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": f"c{i}", "image": ref} for i, ref in enumerate(images)]},
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:ci:deployer", "groups": []},
            "object": pod,
        },
    }


class Counting(httpx.HTTPTransport):
    """Counts the requests a client sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


def warm(
    host: str,
    policy: KyvernoPolicy,
    review: dict[str, Any],
    options: TransparencyLogOptions,
    seconds: float,
    profile: bool,
) -> None:
    transport = Counting()
    with (
        Client(
            insecure_registries=[host],
            keychain=StaticKeychain(),
            tlog=options,
            transport=transport,
        ) as client,
        PolicyEvaluator(policy, client=client) as evaluator,
    ):
        first = evaluator.evaluate(review)
        assert first.allowed, first.message
        body = json.dumps(review)
        before = transport.requests

        def once() -> None:
            # What a webhook does per request: parse, evaluate, answer.
            report = evaluator.evaluate(json.loads(body))
            json.dumps({"response": report.to_admission_response()})

        best = 0.0
        for _ in range(3):
            count = 0
            start = time.perf_counter()
            deadline = start + seconds / 3
            while time.perf_counter() < deadline:
                for _ in range(50):
                    once()
                count += 50
            best = max(best, count / (time.perf_counter() - start))
        print(
            f"warm cache: {best:,.0f} AdmissionReviews/s on one thread "
            f"({1e6 / best:.0f} us each; target >= 2,000/s); registry requests while warm: "
            f"{transport.requests - before}; cache {evaluator.cache!r}"
        )
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(2_000):
                once()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


async def cold(
    host: str,
    policy: KyvernoPolicy,
    review: dict[str, Any],
    images: list[str],
    signer: LocalSigner,
    options: TransparencyLogOptions,
    rounds: int,
) -> None:
    key = signer.public_key()
    async with AsyncClient(
        insecure_registries=[host], keychain=StaticKeychain(), tlog=options
    ) as client:
        evaluator = AsyncPolicyEvaluator(policy, client=client)

        async def evaluate() -> None:
            evaluator.cache = VerificationCache()
            report = await evaluator.evaluate(review)
            assert report.allowed, report.message

        async def one() -> None:
            await client.verify_image(images[0], key)

        async def three() -> None:
            for image in images:
                await client.verify_image(image, key)

        async def three_concurrent() -> None:
            await asyncio.gather(*(client.verify_image(image, key) for image in images))

        samples: dict[str, list[float]] = {}
        cases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("policy evaluation, 3 images, empty cache", evaluate),
            ("floor: verify_image, 1 image by tag", one),
            ("floor: verify_image, 3 images one by one", three),
            ("floor: verify_image, 3 images gathered", three_concurrent),
        ]
        for _, run in cases:  # warm connections and key objects
            await run()
        for _ in range(rounds):  # interleaved, so drift hits every case alike
            for name, run in cases:
                start = time.perf_counter()
                await run()
                samples.setdefault(name, []).append(time.perf_counter() - start)
    print(f"cold cache (p50 of {rounds} rounds, interleaved, same AsyncClient):")
    for name, _ in cases:
        print(f"  {name:45s} {p50(samples[name]):7.2f} ms")
    ratio = p50(samples[cases[0][0]]) / p50(samples[cases[1][0]])
    print(f"  ratio evaluation / one image's floor: {ratio:.2f}x (target <= 1.30x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time for the warm loop")
    parser.add_argument("--rounds", type=int, default=30, help="cold evaluations")
    parser.add_argument("--profile", action="store_true", help="cProfile the warm path")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_registry(Path(tmp)) as registry,
        RekorServer() as rekor,
    ):
        host = registry.host
        options = TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())
        signer = LocalSigner.generate()
        with Client(insecure_registries=[host], keychain=StaticKeychain(), tlog=options) as setup:
            images = push_and_sign(setup, host, signer, options)
        policy = make_policy(host, signer)
        review = admission_review(images)
        print(f"registry {host}, Rekor {rekor.url} (in-process); pod of {IMAGES} tagged images")
        warm(host, policy, review, options, args.seconds, args.profile)
        asyncio.run(cold(host, policy, review, images, signer, options, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
