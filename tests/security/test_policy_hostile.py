"""Hostile inputs to the policy evaluator, end to end: YAML in, AdmissionReview out.

Catalogue items 31-34 of the bad-input suite (images hidden in other container lists and pod
templates, hostile patterns, growing or mistyped variables, concurrent verifications), tag
plus digest smuggling, look-alike hosts against prefix globs, an unparsable image next to an
unsigned one, a YAML bomb and a 10,000-container pod. Verification answers come from
:class:`tests.support.fake_verifier.FakeVerifier`, so every test is offline and counts what
the evaluator asked.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest
from tests.support.fake_verifier import FakeVerifier

from imagesig._flow import Flow, Sleep
from imagesig.errors import PolicyParseError
from imagesig.policy import AsyncPolicyEvaluator, PolicyEvaluator, RuleStatus
from imagesig.policy.cache import VerificationCache
from imagesig.policy.load import parse_policies, read_documents
from imagesig.policy.model import KyvernoPolicy
from imagesig.policy.verifier import SignatureRequest, VerifierOutcome

KEY = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
DIGEST_SIGNED = "sha256:" + "a" * 64
DIGEST_EVIL = "sha256:" + "e" * 64


def policy_yaml(patterns: list[str], *, extra_entry: str = "", context: str = "") -> str:
    references = "\n".join(f"            - {json.dumps(p)}" for p in patterns)
    pem = "\n".join("                      " + line for line in KEY.splitlines())
    return f"""\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  validationFailureAction: Enforce
  failurePolicy: Fail
  rules:
    - name: verify
      match:
        any:
          - resources:
              kinds: [Pod]
{context}      verifyImages:
        - imageReferences:
{references}
{extra_entry}          attestors:
            - entries:
                - keys:
                    publicKeys: |-
{pem}
"""


def load(text: str) -> KyvernoPolicy:
    (policy,) = parse_policies(text)
    return policy


def review(obj: Mapping[str, Any], *, uid: str = "7d2c") -> dict[str, Any]:
    kind = str(obj["kind"])
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
            "namespace": "team",
            "operation": "CREATE",
            "userInfo": {"username": "attacker"},
            "object": obj,
        },
    }


def containers(images: tuple[str, ...], prefix: str = "c") -> list[dict[str, str]]:
    return [{"name": f"{prefix}{i}", "image": image} for i, image in enumerate(images)]


def pod(*images: str, **lists: tuple[str, ...]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers(images)}
    for field, values in lists.items():
        spec[field] = containers(values, field[:1])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": spec,
    }


def signed_only(*digests: str) -> Any:
    def decide(request: SignatureRequest) -> VerifierOutcome | None:
        return None if request.digest in digests else VerifierOutcome.failed("no signatures")

    return decide


def answer(
    policy: KyvernoPolicy, obj: Mapping[str, Any], verifier: FakeVerifier, **options: Any
) -> dict[str, Any]:
    with PolicyEvaluator(policy, verifier=verifier, **options) as evaluator:
        report = evaluator.evaluate(review(obj), namespace_labels={})
    response: dict[str, Any] = report.to_admission_response()["response"]
    return response


# ------------------------------------------------------------------------------------------
# 31: every container list, every pod template


UNSIGNED = "ghcr.io/org/miner:v1"
SIGNED = "ghcr.io/org/app:v1"


def template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": spec}


def controller(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    if kind == "CronJob":
        body: dict[str, Any] = {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": template(spec)}},
        }
    else:
        body = {"template": template(spec)}
        if kind != "Job":
            body["selector"] = {"matchLabels": {"app": "x"}}
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "w", "namespace": "team"},
        "spec": body,
    }


@pytest.mark.parametrize("field", ["initContainers", "ephemeralContainers"])
@pytest.mark.parametrize(
    "kind", ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
)
def test_an_unsigned_image_hidden_outside_containers_is_denied(kind: str, field: str) -> None:
    policy = load(policy_yaml(["ghcr.io/org/*"]))
    spec = pod(SIGNED, **{field: (UNSIGNED,)})["spec"]
    obj = {**pod(), "spec": spec} if kind == "Pod" else controller(kind, spec)
    verifier = FakeVerifier(
        {SIGNED: DIGEST_SIGNED, UNSIGNED: DIGEST_EVIL}, decide=signed_only(DIGEST_SIGNED)
    )
    response = answer(policy, obj, verifier)
    assert response["allowed"] is False
    assert UNSIGNED in response["status"]["message"]
    assert {r.image for r in verifier.signature_requests} == {SIGNED, UNSIGNED}


def test_an_unparsable_image_does_not_hide_an_unsigned_one() -> None:
    # Kyverno sees no images at all when one is unparsable; the runtime would still pull
    # the other containers' images.
    policy = load(policy_yaml(["*"]))
    verifier = FakeVerifier({UNSIGNED: DIGEST_EVIL}, decide=signed_only())
    for bad in ("INVALID::ref", "ghcr.io/org/app@sha256:../../x", "a" * 1_000_000):
        response = answer(policy, pod(UNSIGNED, initContainers=(bad,)), verifier)
        assert response["allowed"] is False
        assert "failed to extract images" in response["status"]["message"]
        assert len(response["status"]["message"]) < 4_096


def test_a_container_without_a_name_does_not_hide_its_siblings() -> None:
    policy = load(policy_yaml(["*"]))
    obj = pod(UNSIGNED)
    obj["spec"]["containers"].append({"image": "ghcr.io/org/other:v1"})
    response = answer(policy, obj, FakeVerifier({UNSIGNED: DIGEST_EVIL}, decide=signed_only()))
    assert response["allowed"] is False


# ------------------------------------------------------------------------------------------
# 32: hostile patterns


@pytest.mark.parametrize(
    "pattern",
    [
        "*" * 10_000,
        "*a" * 5_000 + "b",
        "(a+)+$",
        "?" * 5_000 + "*",
        "*" + "?*" * 3_000 + "x",
    ],
)
def test_hostile_patterns_from_yaml_are_matched_in_linear_time(pattern: str) -> None:
    policy = load(policy_yaml([pattern]))
    image = "ghcr.io/" + "a" * 200 + ":v1"
    verifier = FakeVerifier({image: DIGEST_SIGNED})
    with PolicyEvaluator(policy, verifier=verifier) as evaluator:
        for _ in range(3):
            report = evaluator.evaluate(review(pod(image)), namespace_labels={})
    # Only the all-star pattern selects the image; the answer is exact, not a timeout.
    expected = 1 if pattern == "*" * 10_000 else 0
    assert len(verifier.signature_requests) == expected
    assert report.allowed


# ------------------------------------------------------------------------------------------
# 33: variables that grow or have the wrong type


def test_exponentially_growing_variables_give_an_error_not_a_crash() -> None:
    doubling = "".join(
        f"""\
        - name: v{i + 1}
          variable:
            value: "{{{{ v{i} }}}}{{{{ v{i} }}}}"
"""
        for i in range(40)
    )
    context = f"""\
      context:
        - name: v0
          variable:
            value: "{"x" * 64}"
{doubling}"""
    extra = '          repository: "ghcr.io/sigs/{{ v40 }}"\n'
    policy = load(policy_yaml(["*"], context=context, extra_entry=extra))
    verifier = FakeVerifier({SIGNED: DIGEST_SIGNED})
    response = answer(policy, pod(SIGNED), verifier)
    assert response["allowed"] is False
    assert verifier.signature_requests == []
    assert "failed to load context" in response["status"]["message"]
    assert len(response["status"]["message"]) < 10_000


def test_null_where_a_list_is_expected_gives_an_error_not_a_crash() -> None:
    preconditions = """\
      preconditions:
        all:
          - key: "{{ request.object.metadata.labels.nothing }}"
            operator: AnyIn
            value: "{{ request.object.spec.nothing }}"
"""
    policy = load(policy_yaml(["*"], context=preconditions))
    verifier = FakeVerifier({SIGNED: DIGEST_SIGNED})
    with PolicyEvaluator(policy, verifier=verifier) as evaluator:
        report = evaluator.evaluate(review(pod(SIGNED)), namespace_labels={})
    assert report.results[0].status in (RuleStatus.ERROR, RuleStatus.SKIP)
    assert verifier.signature_requests == []


# ------------------------------------------------------------------------------------------
# 34: concurrent verifications keep their own digests


class InterleavingVerifier(FakeVerifier):
    """Sleeps a little before each answer so the flows of one pod interleave."""

    def resolve_digest(self, reference: str) -> Flow[str]:  # type: ignore[override]
        yield Sleep(0.0005 * (len(self.resolved) % 4))
        return super().resolve_digest(reference)

    def verify_signatures(self, request: SignatureRequest) -> Flow[VerifierOutcome]:  # type: ignore[override]
        yield Sleep(0.0005 * (len(self.signature_requests) % 3))
        return super().verify_signatures(request)


async def test_200_images_verified_concurrently_keep_their_own_digests() -> None:
    images = tuple(f"ghcr.io/org/app{i}:v1" for i in range(200))
    digests = {image: f"sha256:{i:064x}" for i, image in enumerate(images)}
    odd = {digest for i, digest in enumerate(digests.values()) if i % 2}
    policy = load(policy_yaml(["ghcr.io/org/*"]))
    verifier = InterleavingVerifier(digests, decide=signed_only(*odd))
    cache = VerificationCache()
    async with AsyncPolicyEvaluator(policy, verifier=verifier, cache=cache) as evaluator:
        reports = await asyncio.gather(
            *(evaluator.evaluate(review(pod(*images))) for _ in range(2))
        )
    for report in reports:
        verdicts = {r.image: r for r in report.results if r.step == "verify"}
        for i, image in enumerate(images):
            result = verdicts[image]
            assert result.status is (RuleStatus.PASS if i % 2 else RuleStatus.FAIL)
            if i % 2:
                assert result.digest == digests[image]
        for operation in report.image_patches:
            image = operation["value"].split("@")[0]
            assert operation["value"] == f"{image}@{digests[image]}"
            assert digests[image] in odd
    for request in verifier.signature_requests:
        assert request.digest == digests[request.image]


# ------------------------------------------------------------------------------------------
# tag + digest smuggling


SMUGGLED = f"ghcr.io/org/app:1.0@{DIGEST_EVIL}"


def test_tag_plus_digest_is_verified_at_the_digest_not_the_tag() -> None:
    policy = load(policy_yaml(["ghcr.io/org/app*"]))
    # The tag 1.0 points at the signed digest; the digest in the reference is what runs.
    verifier = FakeVerifier(
        {"ghcr.io/org/app:1.0": DIGEST_SIGNED}, decide=signed_only(DIGEST_SIGNED)
    )
    response = answer(policy, pod(SMUGGLED), verifier)
    assert response["allowed"] is False
    assert [r.digest for r in verifier.signature_requests] == [DIGEST_EVIL]
    assert verifier.resolved == []
    assert "patch" not in response


def test_a_cached_pass_for_the_tag_does_not_cover_a_smuggled_digest() -> None:
    policy = load(policy_yaml(["ghcr.io/org/app*"]))
    verifier = FakeVerifier(
        {"ghcr.io/org/app:1.0": DIGEST_SIGNED}, decide=signed_only(DIGEST_SIGNED)
    )
    cache = VerificationCache()
    assert answer(policy, pod("ghcr.io/org/app:1.0"), verifier, cache=cache)["allowed"]
    assert len(cache) == 1
    response = answer(policy, pod(SMUGGLED), verifier, cache=cache)
    assert response["allowed"] is False
    assert verifier.signature_requests[-1].digest == DIGEST_EVIL


def test_a_tag_only_pattern_never_selects_a_digest_pinned_image() -> None:
    # Kyverno's image string drops the tag when a digest is present, so a rule written
    # for the tag does not see the image; only a repository pattern does. Documented.
    tag_rule = load(policy_yaml(["ghcr.io/org/app:1.0"]))
    verifier = FakeVerifier(decide=signed_only())
    with PolicyEvaluator(tag_rule, verifier=verifier) as evaluator:
        report = evaluator.evaluate(review(pod(SMUGGLED)), namespace_labels={})
    assert report.results == ()
    assert verifier.calls == 0


def test_mutate_digest_never_rewrites_a_smuggled_digest_to_the_tag_digest() -> None:
    policy = load(policy_yaml(["ghcr.io/org/app*"]))
    verifier = FakeVerifier({"ghcr.io/org/app:1.0": DIGEST_SIGNED})
    with PolicyEvaluator(policy, verifier=verifier) as evaluator:
        report = evaluator.evaluate(review(pod(SMUGGLED)), namespace_labels={})
    assert report.allowed
    assert report.image_patches == ()
    patched = report.patched_resource["spec"]["containers"][0]["image"]
    assert patched == SMUGGLED


# ------------------------------------------------------------------------------------------
# look-alike hosts and repositories


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io.evil.com/org/x:v1",
        "ghcr.io/org-evil/x:v1",
        "ghcr.io/orgx/x:v1",
        "evil.com/ghcr.io/org/x:v1",
        "ghcr.io:443/org/x:v1",
        "docker.io/ghcr.io/org/x:v1",
    ],
)
def test_look_alikes_are_not_selected_by_a_separator_anchored_glob(image: str) -> None:
    trusted = load(policy_yaml(["ghcr.io/org/*"]))
    verifier = FakeVerifier({image: DIGEST_EVIL})
    with PolicyEvaluator(trusted, verifier=verifier) as evaluator:
        report = evaluator.evaluate(review(pod(image)), namespace_labels={})
    assert report.results == ()
    assert verifier.calls == 0


@pytest.mark.parametrize("image", ["ghcr.io.evil.com/org/x:v1", "ghcr.io/org-evil/x:v1"])
def test_a_catch_all_rule_still_verifies_look_alikes(image: str) -> None:
    policy = load(policy_yaml(["ghcr.io/org/*", "*"]))
    verifier = FakeVerifier({image: DIGEST_EVIL}, decide=signed_only(DIGEST_SIGNED))
    response = answer(policy, pod(image), verifier)
    assert response["allowed"] is False


@pytest.mark.parametrize(
    ("pattern", "image"),
    [("ghcr.io*", "ghcr.io.evil.com/org/x:v1"), ("ghcr.io/org*", "ghcr.io/org-evil/x:v1")],
)
def test_prefix_globs_without_a_separator_select_look_alikes_and_verify_them(
    pattern: str, image: str
) -> None:
    # Kyverno's semantics: the loose glob selects the look-alike. It is then verified with
    # the policy's keys, never waved through.
    policy = load(policy_yaml([pattern]))
    verifier = FakeVerifier({image: DIGEST_EVIL}, decide=signed_only(DIGEST_SIGNED))
    response = answer(policy, pod(image), verifier)
    assert response["allowed"] is False
    assert [r.image for r in verifier.signature_requests] == [image]


# ------------------------------------------------------------------------------------------
# YAML bomb


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_bomb_inside_a_policy_is_refused_before_expansion() -> None:
    bombed = (
        policy_yaml(["*"])
        + "  bomb:\n"
        + "".join("    " + line + "\n" for line in BILLION_LAUGHS.splitlines())
    )
    with pytest.raises(PolicyParseError):
        parse_policies(bombed)


def test_a_yaml_bomb_resource_is_refused_by_the_cli_loader(tmp_path: Any) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(PolicyParseError):
        read_documents(path)


# ------------------------------------------------------------------------------------------
# a 10,000-container pod


def test_ten_thousand_containers_cost_one_question_per_image() -> None:
    images = tuple(f"ghcr.io/org/app{i}:v1" for i in range(10_000))
    digests = {image: f"sha256:{i:064x}" for i, image in enumerate(images)}
    policy = load(policy_yaml(["ghcr.io/org/*"]))
    verifier = FakeVerifier(digests)
    cache = VerificationCache(max_entries=20_000)
    with PolicyEvaluator(policy, verifier=verifier, cache=cache) as evaluator:
        report = evaluator.evaluate(review(pod(*images)), namespace_labels={})
        assert len(verifier.resolved) == 10_000
        assert len(verifier.signature_requests) == 10_000
        # Warm: every image comes from the cache, nothing is asked again.
        again = evaluator.evaluate(review(pod(*images)), namespace_labels={})
    assert verifier.calls == 20_000
    assert report.allowed
    assert again.allowed
    assert len(report.image_patches) == 10_000
    response = report.to_admission_response()["response"]
    patch = json.loads(base64.b64decode(response["patch"]))
    assert sum(op["path"].startswith("/spec/containers/") for op in patch) == 10_000
