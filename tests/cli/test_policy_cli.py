"""``imagesig policy apply | test | review``: output, exit codes and Kyverno test files."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from tests.cli.conftest import CliRunner
from tests.conftest import shared_dir

from imagesig.policy.report import encode_patches

VECTORS = shared_dir() / "vectors" / "kyverno"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason="Kyverno vectors not present")
DIGEST = "sha256:" + "4" * 64

POLICY = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: require-digest
spec:
  validationFailureAction: Enforce
  rules:
  - name: digest
    match:
      any:
      - resources:
          kinds: [Pod]
    verifyImages:
    - imageReferences: ["*"]
      mutateDigest: false
      required: false
      verifyDigest: true
"""


def write_pod(path: Path, name: str, image: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        )
    )
    return path


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def test_apply_allows_a_pinned_pod(cli: CliRunner, tmp_path: Path, policy_file: Path) -> None:
    resource = write_pod(tmp_path / "pod.json", "pinned", f"nginx@{DIGEST}")
    result = cli("policy", "apply", "-p", str(policy_file), "-r", str(resource))
    assert result.code == 0, result.err
    assert "Pod/default/pinned: allowed" in result.out
    assert "PASS  require-digest/digest: image verified" in result.out
    assert "pass: 1, fail: 0, warn: 0, error: 0, skip: 0" in result.out


def test_apply_exits_1_when_an_enforce_rule_fails(
    cli: CliRunner, tmp_path: Path, policy_file: Path
) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    write_pod(resources / "a.json", "pinned", f"nginx@{DIGEST}")
    write_pod(resources / "b.json", "tagged", "nginx:1.25")
    result = cli("policy", "apply", "-p", str(policy_file), "-r", str(resources), "-o", "json")
    assert result.code == 1
    document = result.json()
    assert document["blocked"] is True
    assert document["summary"]["fail"] == 1
    tagged = next(r for r in document["reports"] if r["resource"]["name"] == "tagged")
    assert tagged["allowed"] is False
    assert tagged["results"][0]["message"] == "missing digest for docker.io/nginx:1.25"
    assert "was blocked due to the following policies" in tagged["message"]


def test_apply_usage_errors_exit_2(cli: CliRunner, tmp_path: Path, policy_file: Path) -> None:
    missing = cli("policy", "apply", "-p", str(tmp_path / "nope.yaml"), "-r", str(policy_file))
    assert missing.code == 2
    assert "no such file or directory" in missing.err
    no_resources = cli("policy", "apply", "-p", str(policy_file), "-r", str(policy_file))
    assert no_resources.code == 2
    assert "no resources found" in no_resources.err
    assert cli("policy").code == 2
    assert cli("policy", "apply").code == 2


def test_review_answers_with_an_admission_review(
    cli: CliRunner, tmp_path: Path, policy_file: Path
) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "abc",
            "operation": "CREATE",
            "namespace": "default",
            "object": json.loads(
                write_pod(tmp_path / "p.json", "tagged", "nginx:1.25").read_text()
            ),
        },
    }
    path = tmp_path / "review.json"
    path.write_text(json.dumps(review))
    denied = cli("policy", "review", str(path), "-p", str(policy_file))
    assert denied.code == 1
    response = json.loads(denied.out)["response"]
    assert response == {
        "uid": "abc",
        "allowed": False,
        "status": {"status": "Failure", "message": response["status"]["message"]},
        "warnings": ["policy require-digest.digest: missing digest for docker.io/nginx:1.25"],
    }
    assert "missing digest for docker.io/nginx:1.25" in denied.err
    review["request"]["object"]["spec"]["containers"][0]["image"] = f"nginx@{DIGEST}"  # type: ignore[index]
    path.write_text(json.dumps(review))
    allowed = cli("policy", "review", str(path), "-p", str(policy_file), "--output", "json")
    assert allowed.code == 0
    assert allowed.json()["response"] == {"uid": "abc", "allowed": True}
    not_a_review = cli("policy", "review", str(policy_file), "-p", str(policy_file))
    assert not_a_review.code == 2


@needs_vectors
def test_test_runs_every_kyverno_test_file_under_a_directory(
    cli: CliRunner, tmp_path: Path
) -> None:
    for directory in ("cli-digest", "cli-secure-images"):
        shutil.copytree(VECTORS / directory, tmp_path / directory)
    result = cli("policy", "test", str(tmp_path))
    assert result.code == 0, result.out + result.err
    assert "3 of 3 expectations met" in result.out
    assert "PASS  secure-images/enforce-signatures  tomcat  expected fail, got fail" in result.out


@needs_vectors
def test_test_exits_1_when_an_expectation_is_not_met(cli: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "digest"
    shutil.copytree(VECTORS / "cli-digest", directory)
    test_file = directory / "kyverno-test.yaml"
    test_file.write_text(test_file.read_text().replace("result: fail", "result: pass"))
    result = cli("policy", "test", str(directory), "-o", "json")
    assert result.code == 1
    failed = [r for r in result.json()["results"] if not r["ok"]]
    assert failed == [
        {
            "test": str(test_file),
            "policy": "require-image-digest",
            "rule": "check-digest",
            "resource": "test/no-digest",
            "expected": "pass",
            "actual": "fail",
            "ok": False,
        }
    ]


def test_test_compares_patched_resources(cli: CliRunner, tmp_path: Path, policy_file: Path) -> None:
    write_pod(tmp_path / "pod.json", "pinned", f"nginx@{DIGEST}")
    shutil.copy(tmp_path / "pod.json", tmp_path / "patched.json")
    (tmp_path / "kyverno-test.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\n"
        "kind: Test\n"
        "metadata: {name: t}\n"
        f"policies: [{policy_file.name}]\n"
        "resources: [pod.json]\n"
        "results:\n"
        "- {policy: require-digest, rule: digest, resources: [pinned], kind: Pod,"
        " result: pass, patchedResource: patched.json}\n"
        "- {policy: require-digest, rule: other, resources: [default/pinned], result: skip}\n"
        "- {policy: require-digest, rule: digest, resources: [missing], result: pass}\n"
    )
    result = cli("policy", "test", str(tmp_path), "-o", "json")
    outcomes = {
        (r["rule"], r["resource"]): (r["ok"], r["actual"]) for r in result.json()["results"]
    }
    assert outcomes == {
        ("digest", "pinned"): (True, "pass"),
        ("other", "default/pinned"): (True, "skip"),
        ("digest", "missing"): (False, "not found"),
    }
    assert result.code == 1


def test_test_without_test_files_is_a_usage_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("policy", "test", str(tmp_path))
    assert result.code == 2
    assert "no kyverno-test.yaml found" in result.err


def test_patch_in_review_response_is_base64_json() -> None:
    # The encoding the review command prints is the one Kubernetes expects.
    encoded = encode_patches([{"op": "add", "path": "/a", "value": 1}])
    assert json.loads(base64.b64decode(encoded)) == [{"op": "add", "path": "/a", "value": 1}]


def test_missing_oci_layout_is_a_usage_error(
    cli: CliRunner, tmp_path: Path, policy_file: Path
) -> None:
    resource = write_pod(tmp_path / "pod.json", "pinned", f"nginx@{DIGEST}")
    result = cli(
        "policy", "apply", "-p", str(policy_file), "-r", str(resource),
        "--oci-layout", str(tmp_path / "missing"),
    )  # fmt: skip
    assert result.code == 2
    assert "not a directory" in result.err
