"""Reports and their renderings: AdmissionReview responses and wgpolicyk8s.io PolicyReports."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.support.fake_verifier import FakeVerifier
from tests.unit.policy.test_engine import APP, DIGEST_A, KEY_A, keys, make_policy, pod

from imagesig.errors import AdmissionReviewError
from imagesig.policy import PolicyEvaluator, RuleStatus
from imagesig.policy.admission import AdmissionRequest, admission_response
from imagesig.policy.report import PolicyReport, RuleResult
from imagesig.policy.verifier import VerifierOutcome

UID = "d595e125-9ab2-4c2c-b5cb-0ae4d34b25b2"


def review(resource: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {
        "apiVersion": request.pop("api_version", "admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": "team",
            "userInfo": {"username": "alice", "groups": ["devs"]},
            "object": resource,
            **request,
        },
    }


def evaluate(resource: dict[str, Any], verifier: FakeVerifier, **entry: Any) -> PolicyReport:
    policy = make_policy(
        [{"imageReferences": ["*"], "attestors": [{"entries": [keys(KEY_A)]}], **entry}],
        annotations={
            "policies.kyverno.io/category": "Supply Chain",
            "policies.kyverno.io/severity": "high",
        },
    )
    with PolicyEvaluator(policy, verifier=verifier) as evaluator:
        return evaluator.evaluate(resource, namespace_labels={})


def test_allowed_review_carries_base64_json_patches_and_the_uid() -> None:
    report = evaluate(review(pod(APP)), FakeVerifier({APP: DIGEST_A}))
    document = report.to_admission_response()
    assert document["apiVersion"] == "admission.k8s.io/v1"
    assert document["kind"] == "AdmissionReview"
    response = document["response"]
    assert response["uid"] == UID
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    patches = json.loads(base64.b64decode(response["patch"]))
    assert patches == [dict(p) for p in report.patches]
    assert patches[-1]["value"] == f"{APP}@{DIGEST_A}"
    assert "status" not in response


def test_denied_review_carries_kyverno_blocked_message() -> None:
    unsigned = FakeVerifier({APP: DIGEST_A}, decide=lambda r: VerifierOutcome.failed("unsigned"))
    report = evaluate(review(pod(APP)), unsigned)
    response = report.to_admission_response()["response"]
    assert response["allowed"] is False
    assert "patch" not in response
    message = response["status"]["message"]
    assert response["status"]["status"] == "Failure"
    assert message.startswith(
        "\n\nresource Pod/team/p was blocked due to the following policies \n\ncheck:\n  verify: "
    )
    # One message per rule survives: the last one (the validate step's).
    assert message.endswith(f"verify: missing digest for {APP}\n")
    assert response["warnings"][0].startswith("policy check.verify: failed to verify image")


def test_review_namespace_fills_a_created_object_without_one() -> None:
    resource = pod(APP)
    del resource["metadata"]["namespace"]
    report = evaluate(review(resource), FakeVerifier({APP: DIGEST_A}))
    assert report.namespace == "team"
    assert report.uid == UID


def test_v1beta1_reviews_are_answered_in_v1beta1() -> None:
    report = evaluate(
        review(pod(APP), api_version="admission.k8s.io/v1beta1"), FakeVerifier({APP: DIGEST_A})
    )
    assert report.to_admission_response()["apiVersion"] == "admission.k8s.io/v1beta1"


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2", "request": {"uid": "x"}},
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"},
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {}},
        {
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": {"uid": "x", "operation": "PATCH"},
        },
        {
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": {"uid": "x", "object": []},
        },
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": 7}},
    ],
)
def test_malformed_reviews_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(AdmissionReviewError):
        AdmissionRequest.from_review(document)


def test_admission_request_reads_user_kind_and_old_object() -> None:
    old = pod(APP)
    request = AdmissionRequest.from_review(
        review(
            pod(APP),
            operation="UPDATE",
            oldObject=old,
            subResource="ephemeralcontainers",
            dryRun=True,
        )
    )
    assert request.operation == "UPDATE"
    assert request.old_object == old
    assert request.user is not None
    assert request.user.groups == ("devs",)
    assert request.identity is not None
    assert request.identity.subresource == "ephemeralcontainers"
    assert request.dry_run
    deleting = AdmissionRequest.from_review(review(None, operation="DELETE", oldObject=old))  # type: ignore[arg-type]
    assert deleting.resource == old


def test_admission_response_helper() -> None:
    assert admission_response("u", allowed=True) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u", "allowed": True},
    }


def test_policy_report_shape() -> None:
    resource = pod(APP)
    resource["metadata"]["uid"] = "1234-abcd"
    report = evaluate(resource, FakeVerifier({APP: DIGEST_A}))
    document = report.to_policy_report(timestamp=1_700_000_000)
    assert document["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
    assert document["kind"] == "PolicyReport"
    assert document["metadata"] == {
        "name": "1234-abcd",
        "labels": {"app.kubernetes.io/managed-by": "imagesig"},
        "namespace": "team",
    }
    assert document["scope"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "p",
        "namespace": "team",
        "uid": "1234-abcd",
    }
    assert document["summary"] == {"pass": 2, "fail": 0, "warn": 0, "error": 0, "skip": 0}
    first = document["results"][0]
    assert first == {
        "policy": "check",
        "rule": "verify",
        "result": "pass",
        "message": f"verified image signatures for {APP}",
        "scored": True,
        "source": "imagesig",
        "timestamp": {"seconds": 1_700_000_000, "nanos": 0},
        "category": "Supply Chain",
        "severity": "high",
        "properties": {"image": APP, "digest": DIGEST_A},
    }


def test_cluster_scoped_resources_get_a_cluster_policy_report() -> None:
    report = PolicyReport(
        resource={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Team_1"}},
        results=(),
    )
    document = report.to_policy_report()
    assert document["kind"] == "ClusterPolicyReport"
    assert document["metadata"]["name"] == "namespace-team-1"
    assert "namespace" not in document["metadata"]


def test_report_helpers() -> None:
    report = evaluate(pod(APP), FakeVerifier({APP: DIGEST_A}))
    assert report.status_of("check", "verify") is RuleStatus.PASS
    assert report.status_of("check", "other") is None
    assert len(report.results_for(rule="verify")) == 2
    assert report.to_dict()["allowed"] is True
    assert "PolicyReport(Pod/team/p: allowed, pass=2" in repr(report)
    assert "<table>" in report._repr_html_()
    assert report.message == ""


def test_rule_result_blocking() -> None:
    def result(status: RuleStatus, action: str, failure_policy: str) -> RuleResult:
        return RuleResult(
            policy="p",
            rule="r",
            status=status,
            message="m",
            action=action,
            failure_policy=failure_policy,
        )  # type: ignore[arg-type]

    assert result(RuleStatus.FAIL, "Enforce", "Ignore").blocking
    assert not result(RuleStatus.FAIL, "Audit", "Fail").blocking
    assert result(RuleStatus.ERROR, "Audit", "Fail").blocking
    assert not result(RuleStatus.ERROR, "Enforce", "Ignore").blocking
    assert not result(RuleStatus.SKIP, "Enforce", "Fail").blocking
    namespaced = RuleResult(
        policy="p", policy_namespace="ns", rule="r", status=RuleStatus.PASS, message=""
    )
    assert namespaced.policy_key == "ns/p"
