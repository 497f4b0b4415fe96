"""The evaluation engine with a scripted verifier: counts, skips, digests, blocking, autogen.

Kyverno's semantics are in ``shared/reference/kyverno.md``; each test names the behaviour it
pins. Verification answers come from :class:`tests.support.fake_verifier.FakeVerifier`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest
from tests.support.fake_verifier import FakeVerifier

from imagesig._flow import Flow, Sleep
from imagesig.errors import PolicyError, RegistryConnectionError
from imagesig.policy import AsyncPolicyEvaluator, PolicyEvaluator, RuleStatus, evaluate
from imagesig.policy.load import policy_from_dict
from imagesig.policy.model import KyvernoPolicy
from imagesig.policy.report import PolicyReport
from imagesig.policy.verifier import SignatureRequest, VerifierOutcome

KEY_A = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
KEY_B = "-----BEGIN PUBLIC KEY-----\nBBBB\n-----END PUBLIC KEY-----"
KEY_C = "-----BEGIN PUBLIC KEY-----\nCCCC\n-----END PUBLIC KEY-----"
APP = "ghcr.io/org/app:v1"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def keys(pem: str, **extra: Any) -> dict[str, Any]:
    return {"keys": {"publicKeys": pem, **extra}}


def make_policy(
    entries: list[dict[str, Any]],
    *,
    action: str | None = "Enforce",
    kinds: tuple[str, ...] = ("Pod",),
    spec: Mapping[str, Any] | None = None,
    rule: Mapping[str, Any] | None = None,
    name: str = "check",
    defaults: bool = True,
    annotations: Mapping[str, str] | None = None,
) -> KyvernoPolicy:
    document: dict[str, Any] = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {
            **({"validationFailureAction": action} if action else {}),
            **dict(spec or {}),
            "rules": [
                {
                    "name": "verify",
                    "match": {"any": [{"resources": {"kinds": list(kinds)}}]},
                    **dict(rule or {}),
                    "verifyImages": entries,
                }
            ],
        },
    }
    return policy_from_dict(document, apply_defaults=defaults)


def pod(
    *images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()
) -> dict[str, Any]:
    def containers(prefix: str, values: tuple[str, ...]) -> list[dict[str, str]]:
        return [{"name": f"{prefix}{i}", "image": image} for i, image in enumerate(values)]

    spec: dict[str, Any] = {"containers": containers("c", images)}
    if init:
        spec["initContainers"] = containers("i", init)
    if ephemeral:
        spec["ephemeralContainers"] = containers("e", ephemeral)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": spec,
    }


def run(
    policy: KyvernoPolicy | list[KyvernoPolicy],
    resource: dict[str, Any],
    verifier: FakeVerifier,
    **options: Any,
) -> PolicyReport:
    with PolicyEvaluator(policy, verifier=verifier, use_cache=False) as evaluator:
        return evaluator.evaluate(resource, namespace_labels={}, **options)


def signed_by(*pems: str) -> Any:
    """A decision: only the given keys verify."""

    def decide(request: SignatureRequest) -> VerifierOutcome | None:
        attestor_keys = request.attestor.keys
        if attestor_keys is not None and attestor_keys.public_keys.strip() in pems:
            return None
        return VerifierOutcome.failed("no matching signatures")

    return decide


def statuses(report: PolicyReport) -> list[tuple[str, str]]:
    return [(r.status.value, r.message) for r in report.results]


# ------------------------------------------------------------------------------------------
# a signed image end to end


def test_signed_tag_passes_is_pinned_and_recorded() -> None:
    policy = make_policy(
        [{"imageReferences": ["ghcr.io/org/*"], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A))
    report = run(policy, pod(APP), verifier)
    assert statuses(report) == [
        ("pass", f"verified image signatures for {APP}"),
        ("pass", "image verified"),
    ]
    assert report.allowed
    assert report.image_patches == (
        {"op": "replace", "path": "/spec/containers/0/image", "value": f"{APP}@{DIGEST_A}"},
    )
    # Annotations first, as Kyverno writes them; the pinned string is the key.
    paths = [p["path"] for p in report.patches]
    assert paths == [
        "/metadata/annotations",
        "/metadata/annotations/kyverno.io~1verify-images",
        "/metadata/annotations/kyverno.io~1verify-images-scoped",
        "/spec/containers/0/image",
    ]
    assert report.patches[1]["value"] == f'{{"ghcr.io/org/app@{DIGEST_A}":"pass"}}'
    assert verifier.resolved == [APP]
    (request,) = verifier.signature_requests
    assert request.reference == f"ghcr.io/org/app@{DIGEST_A}"


def test_unsigned_image_fails_with_kyverno_message_and_is_blocked() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by())
    report = run(policy, pod(APP), verifier)
    assert statuses(report) == [
        (
            "fail",
            f"failed to verify image {APP}: .attestors[0].entries[0].keys: no matching signatures",
        ),
        # Not pinned (a failed image never is), so the digest check fails first.
        ("fail", f"missing digest for {APP}"),
    ]
    assert report.blocked
    assert report.image_patches == ()
    assert "was blocked due to the following policies" in report.message


def test_audit_reports_failures_without_blocking() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "mutateDigest": False,
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ],
        action="Audit",
    )
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by()))
    assert [r.status for r in report.results] == [RuleStatus.FAIL, RuleStatus.FAIL]
    assert not report.blocked
    assert all(r.action == "Audit" for r in report.results)
    assert len(report.warnings) == 2


def test_entry_failure_action_enforce_overrides_the_policy_audit() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "failureAction": "Enforce",
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ],
        action="Audit",
    )
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by()))
    assert report.blocked


def test_action_overrides_apply_by_namespace() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "mutateDigest": False,
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ],
        action="Audit",
        spec={"validationFailureActionOverrides": [{"action": "Enforce", "namespaces": ["te*"]}]},
    )
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by())
    assert run(policy, pod(APP), verifier).blocked
    other = pod(APP)
    other["metadata"]["namespace"] = "prod"
    assert not run(policy, other, verifier).blocked


# ------------------------------------------------------------------------------------------
# attestor counts, nesting, multi-key PEM


@pytest.mark.parametrize(
    ("count", "signers", "passes"),
    [
        (None, (KEY_A, KEY_B, KEY_C), True),
        (None, (KEY_A, KEY_B), False),  # count unset: every entry
        (2, (KEY_A, KEY_C), True),  # 2 of 3
        (2, (KEY_B,), False),
        (1, (KEY_C,), True),  # 1 = any
    ],
)
def test_attestor_count(count: int | None, signers: tuple[str, ...], passes: bool) -> None:
    attestor_set: dict[str, Any] = {"entries": [keys(KEY_A), keys(KEY_B), keys(KEY_C)]}
    if count is not None:
        attestor_set["count"] = count
    policy = make_policy([{"imageReferences": ["*"], "attestors": [attestor_set]}])
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by(*signers)))
    assert (report.results[0].status is RuleStatus.PASS) is passes


def test_count_stops_asking_once_met() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "attestors": [{"count": 1, "entries": [keys(KEY_A), keys(KEY_B)]}],
            }
        ]
    )
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A, KEY_B))
    run(policy, pod(APP), verifier)
    assert len(verifier.signature_requests) == 1


def test_attestor_sets_are_anded_and_errors_name_every_failing_entry() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "attestors": [{"entries": [keys(KEY_A)]}, {"entries": [keys(KEY_B), keys(KEY_C)]}],
            }
        ]
    )
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A)))
    assert report.results[0].message == (
        f"failed to verify image {APP}: .attestors[1].entries[0].keys: no matching signatures;"
        " .attestors[1].entries[1].keys: no matching signatures"
    )


def test_multi_key_pem_is_split_and_every_key_must_verify() -> None:
    both = f"{KEY_A}\n{KEY_B}"
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(both)]}]}])
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A))
    report = run(policy, pod(APP), verifier)
    assert report.results[0].status is RuleStatus.FAIL
    assert len(verifier.signature_requests) == 2
    assert ".attestors[0].entries[1].keys" in report.results[0].message


@pytest.mark.parametrize(("inner_count", "passes"), [(None, False), (1, True)])
def test_nested_attestor_sets(inner_count: int | None, passes: bool) -> None:
    inner: dict[str, Any] = {"entries": [keys(KEY_B), keys(KEY_C)]}
    if inner_count is not None:
        inner["count"] = inner_count
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A), {"attestor": inner}]}]}]
    )
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A, KEY_B)))
    assert (report.results[0].status is RuleStatus.PASS) is passes
    if not passes:
        assert ".attestors[0].entries[1].attestor.entries[1].keys" in report.results[0].message


# ------------------------------------------------------------------------------------------
# which images: references, skips, containers of every kind


def test_skip_image_references_skip_with_a_warning_and_required_skips_too() -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "skipImageReferences": ["ghcr.io/org/skipped*"],
                "mutateDigest": False,
                "verifyDigest": False,
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ]
    )
    skipped = "ghcr.io/org/skipped:v1"
    verifier = FakeVerifier({APP: DIGEST_A, skipped: DIGEST_B})
    report = run(policy, pod(APP, skipped), verifier)
    assert statuses(report) == [
        ("pass", f"verified image signatures for {APP}"),
        ("skip", f"skipping image reference image {skipped}, policy check ruleName verify"),
        ("pass", f"image verified, skipped images: {skipped}"),
    ]
    assert report.results[1].emit_warning
    assert skipped not in verifier.resolved


def test_image_outside_one_entry_is_skipped_by_it_but_keeps_its_pass() -> None:
    policy = make_policy(
        [
            {"imageReferences": ["ghcr.io/org/*"], "attestors": [{"entries": [keys(KEY_A)]}]},
            {"imageReferences": ["docker.io/*"], "attestors": [{"entries": [keys(KEY_B)]}]},
        ]
    )
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A)))
    assert [r.status.value for r in report.results] == ["pass", "skip", "pass"]
    assert report.results[-1].message == "image verified"
    assert report.allowed


def test_init_and_ephemeral_containers_are_verified() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    init, debug = "ghcr.io/org/init:v1", "ghcr.io/org/debug:v1"
    verifier = FakeVerifier(
        {APP: DIGEST_A, init: DIGEST_B, debug: "sha256:" + "c" * 64},
        decide=lambda r: None if r.image != debug else VerifierOutcome.failed("unsigned"),
    )
    report = run(policy, pod(APP, init=(init,), ephemeral=(debug,)), verifier)
    assert [r.image for r in report.results if r.step == "verify"] == [init, APP, debug]
    assert report.blocked
    paths = [p["path"] for p in report.image_patches]
    assert paths == ["/spec/initContainers/0/image", "/spec/containers/0/image"]


def test_tag_plus_digest_verifies_the_digest_not_the_tag() -> None:
    smuggled = f"ghcr.io/org/app:signed@{DIGEST_B}"
    tag_pattern = make_policy(
        [{"imageReferences": ["ghcr.io/org/app:signed"], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    verifier = FakeVerifier()
    # The normalised string drops the tag: a tag pattern does not select the image at all.
    assert run(tag_pattern, pod(smuggled), verifier).results == ()
    repo_pattern = make_policy(
        [{"imageReferences": ["ghcr.io/org/*"], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    report = run(repo_pattern, pod(smuggled), verifier)
    (request,) = verifier.signature_requests
    assert request.digest == DIGEST_B
    assert verifier.resolved == []  # nothing resolved: the digest given is what runs
    assert report.image_patches == ()


def test_prefix_glob_without_separator_matches_look_alike_hosts_as_in_kyverno() -> None:
    loose = make_policy(
        [{"imageReferences": ["ghcr.io*"], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    strict = make_policy(
        [{"imageReferences": ["ghcr.io/*"], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    evil = "ghcr.io.evil.com/org/app:v1"
    verifier = FakeVerifier({evil: DIGEST_A}, decide=signed_by())
    assert run(loose, pod(evil), verifier).blocked  # selected, and unsigned
    assert run(strict, pod(evil), verifier).results == ()  # not selected


# ------------------------------------------------------------------------------------------
# digests: one resolution, the verified digest pinned


class FlippingResolver(FakeVerifier):
    """Answers digest A on the first resolution and B afterwards (a TOCTOU registry)."""

    def resolve_digest(self, reference: str) -> str:
        super().resolve_digest(reference)
        return DIGEST_A if len(self.resolved) == 1 else DIGEST_B


def test_tag_is_resolved_once_and_the_verified_digest_is_pinned() -> None:
    policy = make_policy(
        [
            {"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]},
            {
                "imageReferences": ["*"],
                "mutateDigest": True,
                "attestors": [{"entries": [keys(KEY_B)]}],
            },
        ]
    )
    verifier = FlippingResolver({APP: DIGEST_A})
    report = run(policy, pod(APP), verifier)
    assert verifier.resolved == [APP]
    assert {r.digest for r in verifier.signature_requests} == {DIGEST_A}
    assert report.image_patches[0]["value"] == f"{APP}@{DIGEST_A}"


def test_a_verifier_answering_for_another_digest_fails() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    verifier = FakeVerifier({APP: DIGEST_A}, decide=lambda r: VerifierOutcome.passed(DIGEST_B))
    report = run(policy, pod(APP), verifier)
    assert report.results[0].status is RuleStatus.FAIL
    assert f"pinned to {DIGEST_A}" in report.results[0].message
    assert report.image_patches == ()


def test_unresolvable_tag_fails_verification() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    report = run(policy, pod(APP), FakeVerifier())
    assert report.results[0].status is RuleStatus.FAIL
    assert report.results[0].message == f"failed to verify image {APP}: no manifest for {APP}"


def test_mutate_digest_lookup_failure_is_an_error() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "mutateDigest": True, "verifyDigest": False, "required": False}]
    )
    report = run(policy, pod(APP), FakeVerifier())
    assert statuses(report) == [("error", f"failed to update digest: no manifest for {APP}")]
    assert report.blocked  # an error under failurePolicy Fail


# ------------------------------------------------------------------------------------------
# errors and failure policy


class Unreachable(FakeVerifier):
    def verify_signatures(self, request: SignatureRequest) -> VerifierOutcome:
        raise RegistryConnectionError("cannot reach ghcr.io")


@pytest.mark.parametrize(("failure_policy", "blocked"), [("Fail", True), ("Ignore", False)])
def test_network_error_is_error_and_blocks_only_with_failure_policy_fail(
    failure_policy: str, blocked: bool
) -> None:
    policy = make_policy(
        [
            {
                "imageReferences": ["*"],
                "mutateDigest": False,
                "required": False,
                "verifyDigest": False,
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ],
        action="Audit",
        spec={"failurePolicy": failure_policy},
    )
    report = run(policy, pod(APP), Unreachable({APP: DIGEST_A}))
    assert report.results[0].status is RuleStatus.ERROR
    assert report.results[0].message.endswith("keys: cannot reach ghcr.io")
    assert report.blocked is blocked


def test_required_never_trusts_an_annotation_on_the_incoming_object() -> None:
    policy = make_policy([{"imageReferences": ["*"], "mutateDigest": False, "verifyDigest": False}])
    forged = pod(APP)
    forged["metadata"]["annotations"] = {
        "kyverno.io/verify-images": f'{{"{APP}":"pass"}}',
        "kyverno.io/verify-images-scoped": (
            f'{{"version":1,"policies":{{"/check":{{"verify":{{"{APP}":"pass"}}}}}}}}'
        ),
    }
    report = run(policy, forged, FakeVerifier(), operation="UPDATE", old_object=forged)
    assert statuses(report) == [("fail", f"unverified image {APP}")]
    assert report.blocked


def test_delete_requests_are_not_evaluated() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    verifier = FakeVerifier()
    report = run(policy, pod(APP), verifier, operation="DELETE")
    assert report.results == ()
    assert verifier.calls == 0


def test_namespace_selector_without_labels_is_an_error_not_a_silent_skip() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}],
        rule={
            "match": {
                "any": [
                    {
                        "resources": {
                            "kinds": ["Pod"],
                            "namespaceSelector": {"matchLabels": {"env": "prod"}},
                        }
                    }
                ]
            }
        },
    )
    with PolicyEvaluator(policy, verifier=FakeVerifier()) as evaluator:
        report = evaluator.evaluate(pod(APP))
    assert report.results[0].status is RuleStatus.ERROR
    assert report.blocked


# ------------------------------------------------------------------------------------------
# rule context, preconditions, variables


def test_preconditions_not_met_skip_the_rule() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}],
        rule={
            "preconditions": {
                "all": [
                    {
                        "key": "{{ request.operation }}",
                        "operator": "Equals",
                        "value": "UPDATE",
                        "message": "only updates",
                    }
                ]
            }
        },
    )
    verifier = FakeVerifier()
    report = run(policy, pod(APP), verifier)
    assert statuses(report) == [
        ("skip", "preconditions not met; only updates"),
        ("skip", "preconditions not met; only updates"),
    ]
    assert verifier.calls == 0
    assert report.allowed


def test_variable_context_entries_feed_keys() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys("{{ trusted }}")]}]}],
        rule={"context": [{"name": "trusted", "variable": {"value": KEY_A}}]},
    )
    verifier = FakeVerifier({APP: DIGEST_A}, decide=signed_by(KEY_A))
    report = run(policy, pod(APP), verifier)
    assert report.results[0].status is RuleStatus.PASS
    assert verifier.signature_requests[0].attestor.keys.public_keys == KEY_A  # type: ignore[union-attr]


def test_cluster_context_entries_are_an_error() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}],
        rule={"context": [{"name": "keys", "configMap": {"name": "keys", "namespace": "kyverno"}}]},
    )
    report = run(policy, pod(APP), FakeVerifier())
    assert report.results[0].status is RuleStatus.ERROR
    assert report.results[0].message.startswith("failed to load context: context entry keys:")


def test_unresolvable_variable_in_keys_is_an_error() -> None:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys("{{ missing }}")]}]}]
    )
    report = run(policy, pod(APP), FakeVerifier())
    assert report.results[0].status is RuleStatus.ERROR
    assert report.results[0].message.startswith("failed to substitute variables:")


def test_apply_rules_one_stops_after_the_first_rule_that_applied() -> None:
    document = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "one"},
        "spec": {
            "validationFailureAction": "Enforce",
            "applyRules": "One",
            "rules": [
                {
                    "name": f"rule-{n}",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "verifyImages": [
                        {
                            "imageReferences": ["*"],
                            "mutateDigest": False,
                            "required": True,
                            "verifyDigest": False,
                            "attestors": [{"entries": [keys(KEY_A)]}],
                        }
                    ],
                }
                for n in (1, 2)
            ],
        },
    }
    policy = policy_from_dict(document)
    report = run(policy, pod(APP), FakeVerifier({APP: DIGEST_A}))
    assert [(r.rule, r.step) for r in report.results] == [
        ("rule-1", "verify"),
        ("rule-1", "validate"),
    ]


# ------------------------------------------------------------------------------------------
# attestations and validate.deny


STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "predicateType": "https://slsa.dev/provenance/v1",
    "subject": [{"name": "ghcr.io/org/app", "digest": {"sha256": "a" * 64}}],
    "predicate": {"builder": {"id": "https://github.com/org/builder"}, "level": 3},
}


def attestation_entry(conditions: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "imageReferences": ["*"],
        "attestations": [
            {
                "type": "https://slsa.dev/provenance/v1",
                "name": "provenance",
                "attestors": [{"entries": [keys(KEY_A)]}],
                "conditions": conditions,
            }
        ],
        **extra,
    }


def test_attestation_conditions_read_the_predicate_at_the_context_root() -> None:
    good = [
        {
            "all": [
                {
                    "key": "{{ builder.id }}",
                    "operator": "Equals",
                    "value": "https://github.com/org/*",
                },
                {"key": "{{ level }}", "operator": "GreaterThanOrEquals", "value": 3},
            ]
        }
    ]
    verifier = FakeVerifier({APP: DIGEST_A}, statements=[STATEMENT])
    report = run(make_policy([attestation_entry(good)]), pod(APP), verifier)
    assert report.results[0].message == f"verified image attestations for {APP}"
    assert report.allowed


def test_missing_attestation_type_fails() -> None:
    other = dict(STATEMENT, predicateType="https://cyclonedx.org/bom")
    report = run(
        make_policy([attestation_entry([])]),
        pod(APP),
        FakeVerifier({APP: DIGEST_A}, statements=[other]),
    )
    assert report.results[0].status is RuleStatus.FAIL
    assert (
        "attestions not found for predicate type https://slsa.dev/provenance/v1"
        in report.results[0].message
    )


def test_validate_deny_uses_the_named_predicate() -> None:
    deny = {
        "message": "needs level 4",
        "deny": {
            "conditions": {
                "any": [{"key": "{{ provenance.level }}", "operator": "LessThan", "value": 4}]
            }
        },
    }
    verifier = FakeVerifier({APP: DIGEST_A}, statements=[STATEMENT])
    report = run(make_policy([attestation_entry([], validate=deny)]), pod(APP), verifier)
    assert report.results[0].status is RuleStatus.FAIL
    assert report.results[0].message == "validation in verifyImages failed: needs level 4"
    allow = {
        "deny": {
            "conditions": {
                "any": [{"key": "{{ provenance.level }}", "operator": "LessThan", "value": 3}]
            }
        }
    }
    report = run(make_policy([attestation_entry([], validate=allow)]), pod(APP), verifier)
    assert report.results[0].message == "verifyImages validation is passed in verify rule"


# ------------------------------------------------------------------------------------------
# autogen: controllers get their own rules and pointers


def test_deployment_and_cronjob_are_checked_through_autogen_rules() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    template = {"spec": {"containers": [{"name": "app", "image": APP}]}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "team"},
        "spec": {"template": template},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {"jobTemplate": {"spec": {"template": template}}},
    }
    verifier = FakeVerifier({APP: DIGEST_A})
    report = run(policy, deployment, verifier)
    assert {r.rule for r in report.results} == {"autogen-verify"}
    assert report.image_patches[0]["path"] == "/spec/template/spec/containers/0/image"
    report = run(policy, cronjob, verifier)
    assert {r.rule for r in report.results} == {"autogen-cronjob-verify"}
    assert (
        report.image_patches[0]["path"] == "/spec/jobTemplate/spec/template/spec/containers/0/image"
    )
    assert (
        report.patched_resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == f"{APP}@{DIGEST_A}"
    )  # type: ignore[index]


def test_pinning_by_one_policy_satisfies_verify_digest_of_the_next() -> None:
    pinning = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}], name="pin"
    )
    digest_only = make_policy(
        [
            {
                "imageReferences": ["*"],
                "mutateDigest": False,
                "required": False,
                "verifyDigest": True,
            }
        ],
        name="digest",
    )
    report = run([pinning, digest_only], pod(APP), FakeVerifier({APP: DIGEST_A}))
    assert report.results_for("digest")[0].message == "image verified"
    assert report.allowed


# ------------------------------------------------------------------------------------------
# hostile inputs and scale


def test_ten_thousand_containers_are_evaluated_in_bounded_time() -> None:
    images = tuple(f"ghcr.io/org/app{i}@sha256:{i:064x}" for i in range(10_000))
    policy = make_policy(
        [
            {
                "imageReferences": ["ghcr.io/org/*"],
                "mutateDigest": False,
                "attestors": [{"entries": [keys(KEY_A)]}],
            }
        ]
    )
    started = time.perf_counter()
    report = run(policy, pod(*images), FakeVerifier())
    assert time.perf_counter() - started < 30
    assert sum(r.status is RuleStatus.PASS for r in report.results) == 10_001


def test_hostile_pattern_matches_in_linear_time() -> None:
    pattern = "*a" * 5_000 + "b"
    policy = make_policy(
        [{"imageReferences": [pattern], "attestors": [{"entries": [keys(KEY_A)]}]}]
    )
    started = time.perf_counter()
    report = run(policy, pod("ghcr.io/" + "a" * 200 + ":v1"), FakeVerifier())
    assert time.perf_counter() - started < 5
    assert report.results == ()


class SlowVerifier(FakeVerifier):
    """Yields a short sleep before answering, so concurrent flows interleave."""

    def resolve_digest(self, reference: str) -> Flow[str]:  # type: ignore[override]
        yield Sleep(0.001 * (hash(reference) % 5))
        return super().resolve_digest(reference)

    def verify_signatures(self, request: SignatureRequest) -> Flow[VerifierOutcome]:  # type: ignore[override]
        yield Sleep(0.001 * (hash(request.image) % 7))
        return super().verify_signatures(request)


async def test_200_concurrent_evaluations_keep_each_image_its_own_digest() -> None:
    images = [f"ghcr.io/org/app{i}:v1" for i in range(200)]
    digests = {image: f"sha256:{i:064x}" for i, image in enumerate(images)}
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    verifier = SlowVerifier(digests)
    async with AsyncPolicyEvaluator(policy, verifier=verifier) as evaluator:
        reports = await asyncio.gather(*(evaluator.evaluate(pod(image)) for image in images))
    for image, report in zip(images, reports, strict=True):
        (patch,) = report.image_patches
        assert patch["value"] == f"{image}@{digests[image]}"
        assert report.results[0].digest == digests[image]
        assert report.allowed


async def test_images_of_one_pod_are_verified_concurrently_in_async() -> None:
    images = tuple(f"ghcr.io/org/app{i}:v1" for i in range(3))
    digests = {image: f"sha256:{i + 1:064x}" for i, image in enumerate(images)}

    class Timed(FakeVerifier):
        active = 0
        peak = 0

        def verify_signatures(self, request: SignatureRequest) -> Flow[VerifierOutcome]:  # type: ignore[override]
            Timed.active += 1
            Timed.peak = max(Timed.peak, Timed.active)
            yield Sleep(0.02)
            Timed.active -= 1
            return VerifierOutcome.passed(request.digest)

    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    async with AsyncPolicyEvaluator(policy, verifier=Timed(digests)) as evaluator:
        report = await evaluator.evaluate(pod(*images))
    assert Timed.peak == 3
    assert [p["value"] for p in report.image_patches] == [f"{i}@{digests[i]}" for i in images]


async def test_sync_evaluation_works_inside_a_running_event_loop() -> None:
    policy = make_policy([{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}]}])
    report = evaluate(policy, pod(APP), verifier=FakeVerifier({APP: DIGEST_A}))
    assert report.allowed


def test_policy_evaluate_shortcut_and_type_errors() -> None:
    policy = make_policy([{"imageReferences": ["*"], "mutateDigest": False, "required": False}])
    report = policy.evaluate(pod(f"ghcr.io/org/app@{DIGEST_A}"), verifier=FakeVerifier())
    assert report.results[0].message == "image verified"
    with pytest.raises(TypeError):
        PolicyEvaluator(policy).evaluate(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PolicyEvaluator([object()])  # type: ignore[list-item]


def test_policy_errors_from_matching_are_policy_errors() -> None:
    assert issubclass(PolicyError, Exception)
