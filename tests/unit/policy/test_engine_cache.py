"""``useCache``: passes are kept with the digest that verified; nothing else is trusted."""

from __future__ import annotations

from typing import Any

from tests.support.fake_verifier import FakeVerifier
from tests.unit.policy.test_engine import (
    APP,
    DIGEST_A,
    DIGEST_B,
    KEY_A,
    KEY_B,
    keys,
    make_policy,
    pod,
)

from imagesig.policy import PolicyEvaluator, RuleStatus, VerificationCache
from imagesig.policy.cache import CachedVerification
from imagesig.policy.verifier import VerifierOutcome

ENTRY = {"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def evaluator(
    verifier: FakeVerifier, cache: VerificationCache, entry: dict[str, Any] = ENTRY
) -> PolicyEvaluator:
    return PolicyEvaluator(make_policy([entry]), verifier=verifier, cache=cache)


def test_a_pass_is_reused_and_pins_the_digest_that_verified() -> None:
    cache = VerificationCache()
    verifier = FakeVerifier({APP: DIGEST_A})
    with evaluator(verifier, cache) as policy:
        first = policy.evaluate(pod(APP))
        verifier.digests[APP] = DIGEST_B  # the tag moves to another digest within the TTL
        second = policy.evaluate(pod(APP))
    assert first.results[0].message == f"verified image signatures for {APP}"
    assert second.results[0].message == "verified from cache"
    assert second.results[0].digest == DIGEST_A
    # Pinned to the verified digest, never to a fresh lookup (kyverno.md 2.9).
    assert second.image_patches[0]["value"] == f"{APP}@{DIGEST_A}"
    assert verifier.resolved == [APP]
    assert len(verifier.signature_requests) == 1
    assert (cache.hits, len(cache)) == (1, 1)


def test_failures_are_never_cached() -> None:
    cache = VerificationCache()
    verifier = FakeVerifier({APP: DIGEST_A}, decide=lambda r: VerifierOutcome.failed("unsigned"))
    with evaluator(verifier, cache) as policy:
        policy.evaluate(pod(APP))
        report = policy.evaluate(pod(APP))
    assert report.results[0].status is RuleStatus.FAIL
    assert len(verifier.signature_requests) == 2
    assert len(cache) == 0


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = VerificationCache(ttl=60, clock=clock)
    verifier = FakeVerifier({APP: DIGEST_A})
    with evaluator(verifier, cache) as policy:
        policy.evaluate(pod(APP))
        clock.now += 59
        policy.evaluate(pod(APP))
        clock.now += 2
        verifier.digests[APP] = DIGEST_B
        report = policy.evaluate(pod(APP))
    assert len(verifier.signature_requests) == 2
    assert report.image_patches[0]["value"] == f"{APP}@{DIGEST_B}"


def test_use_cache_false_on_the_entry_verifies_every_time() -> None:
    cache = VerificationCache()
    verifier = FakeVerifier({APP: DIGEST_A})
    with evaluator(verifier, cache, {**ENTRY, "useCache": False}) as policy:
        policy.evaluate(pod(APP))
        policy.evaluate(pod(APP))
    assert len(verifier.signature_requests) == 2
    assert len(cache) == 0


def test_the_key_covers_the_attestors() -> None:
    cache = VerificationCache()
    verifier = FakeVerifier({APP: DIGEST_A})
    other = {"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_B)]}]}
    evaluator(verifier, cache).evaluate(pod(APP))
    report = evaluator(verifier, cache, other).evaluate(pod(APP))
    assert report.results[0].message == f"verified image signatures for {APP}"
    assert len(verifier.signature_requests) == 2


def test_conditions_are_evaluated_again_on_a_hit() -> None:
    statement = {
        "predicateType": "https://example.com/review/v1",
        "predicate": {"branch": "main"},
    }
    entry = {
        "imageReferences": ["*"],
        "attestations": [
            {
                "type": "https://example.com/review/v1",
                "attestors": [{"entries": [keys(KEY_A)]}],
                "conditions": [
                    {
                        "all": [
                            {
                                "key": "{{ request.object.metadata.labels.branch }}",
                                "operator": "Equals",
                                "value": "{{ branch }}",
                            }
                        ]
                    }
                ],
            }
        ],
    }
    cache = VerificationCache()
    verifier = FakeVerifier({APP: DIGEST_A}, statements=[statement])
    main_pod, dev_pod = pod(APP), pod(APP)
    main_pod["metadata"]["labels"] = {"branch": "main"}
    dev_pod["metadata"]["labels"] = {"branch": "dev"}
    with evaluator(verifier, cache, entry) as policy:
        assert policy.evaluate(main_pod).results[0].status is RuleStatus.PASS
        report = policy.evaluate(dev_pod)
    assert report.results[0].status is RuleStatus.FAIL
    assert "attestation checks failed" in report.results[0].message
    assert len(verifier.attestation_requests) == 1  # the second was answered from the cache


def test_use_cache_false_on_the_evaluator_turns_caching_off() -> None:
    verifier = FakeVerifier({APP: DIGEST_A})
    with PolicyEvaluator(make_policy([ENTRY]), verifier=verifier, use_cache=False) as policy:
        assert policy.cache is None
        policy.evaluate(pod(APP))
        policy.evaluate(pod(APP))
    assert len(verifier.signature_requests) == 2


def test_cache_evicts_the_least_recently_used_entry() -> None:
    cache = VerificationCache(max_entries=2)
    cache.put("a", CachedVerification(DIGEST_A))
    cache.put("b", CachedVerification(DIGEST_B))
    assert cache.get("a") is not None
    cache.put("c", CachedVerification(DIGEST_A))
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert len(cache) == 2
    assert "entries=2" in repr(cache)
    cache.clear()
    assert len(cache) == 0


def test_non_positive_settings_take_kyverno_defaults() -> None:
    cache = VerificationCache(ttl=0, max_entries=0)
    assert (cache.ttl, cache.max_entries) == (3600.0, 1000)
