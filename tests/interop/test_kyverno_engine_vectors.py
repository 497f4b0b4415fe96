"""Every case of ``vectors/kyverno`` (README cases 1-19) through the evaluation engine.

Signatures are answered by a scripted verifier (``tests.support.fake_verifier``) where the
README says they are treated as verified; the mutateDigest case resolves its tag through the
same fake, answering the digest the README gives. CRD defaults are applied to the policies of
cases 1-16 and not to those of cases 17-19, as the README says. The CLI test files (cases
1-6) also run through ``imagesig policy test``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import shared_dir
from tests.support.fake_verifier import FakeVerifier

from imagesig.cli import main
from imagesig.policy import PolicyEvaluator, RuleStatus
from imagesig.policy.load import load_policies, load_policy, read_documents
from imagesig.policy.model import KyvernoPolicy
from imagesig.policy.report import PolicyReport

VECTORS = shared_dir() / "vectors" / "kyverno"
DIGEST_445 = "sha256:445a99db22e9add9bfb15ddb1980861a329e5dff5c88d7eec9cbf08b6b2f4eb1"
PAUSE2 = "ghcr.io/jimbugwadia/pause2:latest"
PAUSE2_DIGEST = "sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason="Kyverno vectors not present")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for _, document in read_documents(path)]


def _resource(path: Path) -> dict[str, Any]:
    (document,) = _documents(path)
    return document


def _review(resource: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    metadata = resource.get("metadata", {})
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": resource["kind"]},
            "operation": operation,
            "namespace": metadata.get("namespace", ""),
            "name": metadata.get("name", ""),
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": resource,
        },
    }


def _evaluate(
    policies: KyvernoPolicy | list[KyvernoPolicy], resource: dict[str, Any], verifier: FakeVerifier
) -> PolicyReport:
    with PolicyEvaluator(policies, verifier=verifier) as evaluator:
        return evaluator.evaluate(resource, namespace_labels={})


def _statuses(report: PolicyReport) -> list[tuple[str, str, str]]:
    return [(r.rule, r.status.value, r.message) for r in report.results]


# ------------------------------------------------------------------------------------------
# cases 1-3: cli-digest (verifyDigest only, Audit)


def test_case_1_3_digest_policy_fails_the_pod_without_digest_and_passes_the_pinned_one() -> None:
    policies = load_policies(VECTORS / "cli-digest" / "policies.yaml")
    pods = {d["metadata"]["name"]: d for d in _documents(VECTORS / "cli-digest/resources.yaml")}
    verifier = FakeVerifier()

    no_digest = _evaluate(policies, pods["no-digest"], verifier)
    assert _statuses(no_digest) == [
        ("check-digest", "fail", "missing digest for docker.io/nginx:latest")
    ]
    assert not no_digest.blocked  # Audit: reported, not blocked
    assert no_digest.warnings == (
        "policy require-image-digest.check-digest: missing digest for docker.io/nginx:latest",
    )

    with_digest = _evaluate(policies, pods["with-digest"], verifier)
    assert _statuses(with_digest) == [("check-digest", "pass", "image verified")]
    assert not with_digest.blocked
    assert with_digest.patches == ()
    assert verifier.calls == 0


# ------------------------------------------------------------------------------------------
# cases 4-6: cli-secure-images (required, no attestors, Enforce)


def test_case_4_6_required_without_attestors_is_an_unverified_image() -> None:
    policies = load_policies(VECTORS / "cli-secure-images" / "policies.yaml")
    pod = _resource(VECTORS / "cli-secure-images" / "resources.yaml")
    report = _evaluate(policies, pod, FakeVerifier())
    assert _statuses(report) == [
        (
            "enforce-signatures",
            "fail",
            "unverified image ghcr.io/jimbugwadia/demo-java-tomcat:v0.0.15",
        )
    ]
    assert report.blocked
    assert report.status_of("secure-images", "enforce-signatures") is RuleStatus.FAIL


@pytest.mark.parametrize("directory", ["cli-digest", "cli-secure-images"])
def test_case_1_6_kyverno_cli_test_files_pass_through_imagesig_policy_test(
    directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["policy", "test", str(VECTORS / directory), "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["passed"] is True
    expected = {"cli-digest": 2, "cli-secure-images": 1}[directory]
    assert len(document["results"]) == expected
    assert all(result["ok"] for result in document["results"])


# ------------------------------------------------------------------------------------------
# cases 7-9: verifyDigest in admission (Enforce)


def test_case_7_8_good_pod_is_admitted_unchanged() -> None:
    policy = load_policy(VECTORS / "verifydigest-admission" / "policy.yaml")
    pod = _resource(VECTORS / "verifydigest-admission" / "good-pod.yaml")
    report = _evaluate(policy, _review(pod), FakeVerifier())
    assert _statuses(report) == [("mutatedigest-rule", "pass", "image verified")]
    response = report.to_admission_response()["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert report.patched_resource == pod


def test_case_9_bad_pod_is_denied_with_the_missing_digest_message() -> None:
    policy = load_policy(VECTORS / "verifydigest-admission" / "policy.yaml")
    pod = _resource(VECTORS / "verifydigest-admission" / "bad-pod.yaml")
    report = _evaluate(policy, _review(pod), FakeVerifier())
    message = "missing digest for ghcr.io/kyverno/test-verify-image:signed-keyless"
    assert _statuses(report) == [("mutatedigest-rule", "fail", message)]
    review = report.to_admission_response()
    assert review["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert review["response"]["allowed"] is False
    assert review["response"]["status"] == {
        "status": "Failure",
        "message": "\n\nresource Pod/default/testpod was blocked due to the following policies"
        f" \n\nmutatedigest-policy:\n  mutatedigest-rule: {message}\n",
    }


# ------------------------------------------------------------------------------------------
# cases 10-12: mutateDigest against a stub resolver


def test_case_10_12_mutate_digest_pins_the_resolved_digest_and_keeps_the_tag() -> None:
    directory = VECTORS / "mutatedigest-stub-registry"
    policy = load_policy(directory / "policy.yaml")
    pod = _resource(directory / "pod.yaml")
    tag = "ghcr.io/kyverno/test-verify-image:signed-keyless"
    verifier = FakeVerifier({tag: DIGEST_445})
    report = _evaluate(policy, _review(pod), verifier)
    assert report.patches == (
        {"op": "replace", "path": "/spec/containers/0/image", "value": f"{tag}@{DIGEST_445}"},
    )
    assert report.patched_resource == _resource(directory / "expected-pod.yaml")
    assert _statuses(report) == [("mutatedigest-rule", "pass", "mutated image digest")]
    assert verifier.resolved == [tag]  # once
    assert not report.blocked
    # No attestors: no kyverno.io/verify-images annotation.
    assert all("annotations" not in str(p["path"]) for p in report.patches)
    response = report.to_admission_response()["response"]
    assert response["patchType"] == "JSONPatch"


# ------------------------------------------------------------------------------------------
# cases 13-16: no images, no response


def test_case_13_14_whitespace_image_in_a_deployment_gives_no_response() -> None:
    policy = load_policy(VECTORS / "empty-image" / "policy.yaml")
    assert [rule.name for rule in policy.computed_rules()] == [
        "keyed-basic-rule",
        "autogen-keyed-basic-rule",
        "autogen-cronjob-keyed-basic-rule",
    ]
    deployment = _resource(VECTORS / "empty-image" / "deployment.yaml")
    verifier = FakeVerifier()
    report = _evaluate(policy, _review(deployment), verifier)
    assert report.results == ()
    assert report.allowed
    assert report.patches == ()
    assert verifier.calls == 0


def test_case_15_16_kind_without_extractor_gives_no_response() -> None:
    policy = load_policy(VECTORS / "imageextractors-none" / "policy.yaml")
    task = _resource(VECTORS / "imageextractors-none" / "task.yaml")
    verifier = FakeVerifier()
    report = _evaluate(policy, task, verifier)
    assert report.results == ()
    assert report.allowed
    assert verifier.calls == 0


# ------------------------------------------------------------------------------------------
# case 17: required with a non-matching init container (no CRD defaults)


def test_case_17_required_fails_the_matching_image_and_ignores_the_other() -> None:
    documents = _documents(VECTORS / "required-nonmatching" / "cases.yaml")
    policy_document, pod = documents
    (policy,) = load_policies(policy_document, apply_defaults=False)
    verifier = FakeVerifier()
    report = _evaluate(policy, pod, verifier)
    assert _statuses(report) == [
        ("verify-image", "fail", "unverified image ghcr.io/verified/app:v1")
    ]
    assert report.results[0].step == "validate"
    assert verifier.calls == 0


# ------------------------------------------------------------------------------------------
# cases 18-19: attestations with conditions (signatures treated as verified, no defaults)


def _mock_attestations() -> tuple[list[KyvernoPolicy], dict[str, Any], FakeVerifier]:
    directory = VECTORS / "mock-attestations"
    documents = _documents(directory / "policies-and-pod.yaml")
    policies = load_policies(*documents[:2], apply_defaults=False)
    pod = documents[2]
    data = json.loads((directory / "statements.json").read_text())
    assert data["image"] == PAUSE2
    statements = [envelope["statement"] for envelope in data["envelopes"]]
    return policies, pod, FakeVerifier({PAUSE2: PAUSE2_DIGEST}, statements=statements)


def test_case_18_19_good_attestation_passes_and_records_the_image() -> None:
    policies, pod, verifier = _mock_attestations()
    good = next(p for p in policies if p.name == "attest-good")
    report = _evaluate(good, pod, verifier)
    assert _statuses(report) == [
        ("attest", "pass", f"verified image attestations for {PAUSE2}"),
    ]
    assert report.results[0].digest == PAUSE2_DIGEST
    # The image is recorded as verified by this policy and rule.
    annotations = report.patched_resource["metadata"]["annotations"]  # type: ignore[index]
    scoped = json.loads(annotations["kyverno.io/verify-images-scoped"])
    assert scoped == {"policies": {"/attest-good": {"attest": {PAUSE2: "pass"}}}, "version": 1}
    assert json.loads(annotations["kyverno.io/verify-images"]) == {PAUSE2: "pass"}
    # The attestation was asked with the attestation's own attestor, at the pinned digest.
    (request,) = verifier.attestation_requests
    assert request.digest == PAUSE2_DIGEST
    assert request.predicate_type == "https://example.com/CodeReview/v1"
    assert request.attestor.keys is not None
    assert verifier.signature_requests == []  # Convert() dropped the deprecated key


def test_case_18_19_bad_attestation_fails_on_the_branch_condition() -> None:
    policies, pod, verifier = _mock_attestations()
    bad = next(p for p in policies if p.name == "attest-bad")
    report = _evaluate(bad, pod, verifier)
    ((rule, status, message),) = _statuses(report)
    assert (rule, status) == ("attest", "fail")
    assert message.startswith(
        "image attestations verification failed, verifiedCount: 0, requiredCount: 1, error:"
    )
    assert (
        f"attestation checks failed for {PAUSE2} and predicate https://example.com/CodeReview/v1"
        in message
    )
    # No attestors on the attestation: Kyverno's implicit empty attestor was asked.
    (request,) = verifier.attestation_requests
    assert request.attestor.kind == ""


def test_case_18_19_every_statement_of_the_type_must_meet_the_conditions() -> None:
    policies, pod, _ = _mock_attestations()
    good = next(p for p in policies if p.name == "attest-good")
    data = json.loads((VECTORS / "mock-attestations" / "statements.json").read_text())
    statements = [envelope["statement"] for envelope in data["envelopes"]]
    statements[2] = json.loads(json.dumps(statements[2]))
    statements[2]["predicate"]["repo"]["branch"] = "feature"
    verifier = FakeVerifier({PAUSE2: PAUSE2_DIGEST}, statements=statements)
    report = _evaluate(good, pod, verifier)
    assert [r.status for r in report.results] == [RuleStatus.FAIL]


# ------------------------------------------------------------------------------------------
# the seed's check-image policy (deprecated image/key with a gcpkms:// key, enforce, Fail)

SEED_POLICY = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  validationFailureAction: enforce
  background: false
  webhookTimeoutSeconds: 30
  failurePolicy: Fail
  rules:
    - name: check-image
      match:
        resources:
          kinds:
            - Pod
      verifyImages:
      - image: "*"
        key: "gcpkms://projects/shaped-shuttle-342907/locations/global/keyRings/test/cryptoKeys/cosign/versions/1"
"""


def test_seed_policy_loads_and_passes_a_signed_pod_with_its_digest_pinned() -> None:
    policy = load_policy(SEED_POLICY.encode())
    (entry,) = policy.rules[0].verify_images
    (attestor,) = entry.attestors[0].entries
    assert attestor.keys is not None
    assert attestor.keys.public_keys.startswith("gcpkms://projects/shaped-shuttle-342907/")
    assert (entry.mutate_digest, entry.verify_digest, entry.required) == (True, True, True)
    image = "gcr.io/shaped-shuttle-342907/alpine:3.15.0"
    digest = "sha256:" + "ab" * 32
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "signed", "namespace": "default"},
        "spec": {"containers": [{"name": "signed", "image": image}]},
    }
    verifier = FakeVerifier({image: digest})
    report = _evaluate(policy, pod, verifier)
    assert _statuses(report) == [
        ("check-image", "pass", f"verified image signatures for {image}"),
        ("check-image", "pass", "image verified"),
    ]
    assert report.allowed
    assert report.image_patches == (
        {"op": "replace", "path": "/spec/containers/0/image", "value": f"{image}@{digest}"},
    )
    (request,) = verifier.signature_requests
    assert request.reference == f"gcr.io/shaped-shuttle-342907/alpine@{digest}"
    # Autogen: the same policy covers a Deployment's template.
    assert {rule.name for rule in policy.computed_rules()} >= {"autogen-check-image"}
