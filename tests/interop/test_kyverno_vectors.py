"""The Kyverno vectors (``vectors/kyverno``): policies load as Kyverno loads them, and the
matching, extraction and normalisation tables hold.

Verdicts that need signature verification belong to the evaluation engine; here every
scenario is checked up to what decides it without a registry: which rules apply, which images
they see and how those images read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import shared_dir

from imagesig.errors import PolicyValidationError
from imagesig.policy.conditions import evaluate_conditions
from imagesig.policy.images import extract_images, image_matches, rule_images
from imagesig.policy.load import load_policies, load_policy, read_documents
from imagesig.policy.match import rule_matches
from imagesig.policy.model import ImageExtractorConfig, KyvernoPolicy, Rule
from imagesig.policy.wildcard import match
from imagesig.reference import kyverno_add_default_registry, kyverno_image_info

VECTORS = shared_dir() / "vectors" / "kyverno"
TABLES = VECTORS / "matching-tables.yaml"
DIGEST_445 = "sha256:445a99db22e9add9bfb15ddb1980861a329e5dff5c88d7eec9cbf08b6b2f4eb1"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason="Kyverno vectors not present")


def _tables() -> dict[str, Any]:
    if not TABLES.is_file():
        return {}
    data = yaml.safe_load(TABLES.read_text())
    assert isinstance(data, dict)
    return data


def _cases(section: str) -> list[Any]:
    tables = _tables()
    if not tables:
        return []
    block = tables[section]
    return list(block["cases"] if "cases" in block else block["inputs"])


def _resources(path: Path) -> list[dict[str, Any]]:
    return [
        doc
        for _, doc in read_documents(path)
        if doc.get("apiVersion", "").startswith("v1")
        or "kyverno.io" not in doc.get("apiVersion", "")
    ]


def _rule(policy: KyvernoPolicy, name: str) -> Rule:
    return next(rule for rule in policy.computed_rules() if rule.name == name)


def _applying(policy: KyvernoPolicy, resource: dict[str, Any]) -> list[str]:
    return [
        rule.name for rule in policy.computed_rules() if rule_matches(rule, resource, policy=policy)
    ]


# ------------------------------------------------------------------------------------------
# policies that rely on CRD defaulting (README cases 1, 4, 7, 10, 13, 15)


CRD_DEFAULTED = [
    "cli-digest/policies.yaml",
    "cli-secure-images/policies.yaml",
    "verifydigest-admission/policy.yaml",
    "mutatedigest-stub-registry/policy.yaml",
    "empty-image/policy.yaml",
    "imageextractors-none/policy.yaml",
]


@pytest.mark.parametrize("name", CRD_DEFAULTED)
def test_policies_load_with_crd_defaults(name: str) -> None:
    (policy,) = load_policies(VECTORS / name)
    assert policy.kind == "ClusterPolicy"
    assert policy.spec.validation_failure_action == "Audit"
    assert policy.admission
    assert policy.background is (policy.spec.background is not False)
    for rule in policy.spec.rules:
        for entry in rule.verify_images:
            assert entry.use_cache is True
            assert entry.failure_action in ("Audit", "Enforce")


def test_cli_digest_policy() -> None:
    policy = load_policy(VECTORS / "cli-digest/policies.yaml")
    assert policy.name == "require-image-digest"
    assert [rule.name for rule in policy.computed_rules()] == ["check-digest"]  # autogen none
    entry = policy.spec.rules[0].verify_images[0]
    assert (entry.verify_digest, entry.mutate_digest, entry.required) == (True, False, False)
    assert entry.failure_action == "Audit"
    assert not entry.verifies_signatures
    assert policy.spec.rules[0].failure_action() == "Audit"
    pods = {
        doc["metadata"]["name"]: doc for doc in _resources(VECTORS / "cli-digest/resources.yaml")
    }
    for name, digest in (
        ("no-digest", ""),
        ("with-digest", "sha256:859ab6768a6f26a79bc42b231664111317d095a4f04e4b6fe79ce37b3d199097"),
    ):
        assert _applying(policy, pods[name]) == ["check-digest"]
        (image,) = rule_images(pods[name], policy.spec.rules[0]).images
        assert image_matches(image, policy.spec.rules[0].verify_images)
        assert image.info.digest == digest
    (no_digest,) = extract_images(pods["no-digest"])
    # The message Kyverno prints names this string: "missing digest for docker.io/nginx:latest".
    assert no_digest.reference == "docker.io/nginx:latest"


def test_cli_secure_images_policy() -> None:
    policy = load_policy(VECTORS / "cli-secure-images/policies.yaml")
    entry = policy.spec.rules[0].verify_images[0]
    assert (entry.required, entry.verify_digest, entry.mutate_digest) == (True, False, False)
    assert entry.attestors == ()
    assert entry.attestations == ()
    assert policy.failure_policy == "Fail"
    assert policy.webhook_timeout_seconds == 30
    assert policy.spec.rules[0].failure_action() == "Enforce"
    (pod,) = _resources(VECTORS / "cli-secure-images/resources.yaml")
    assert _applying(policy, pod) == ["enforce-signatures"]
    (image,) = rule_images(pod, policy.spec.rules[0]).images
    # "unverified image ghcr.io/jimbugwadia/demo-java-tomcat:v0.0.15"
    assert image.reference == "ghcr.io/jimbugwadia/demo-java-tomcat:v0.0.15"


def test_verify_digest_admission() -> None:
    policy = load_policy(VECTORS / "verifydigest-admission/policy.yaml")
    assert [rule.name for rule in policy.computed_rules()] == [
        "mutatedigest-rule",
        "autogen-mutatedigest-rule",
        "autogen-cronjob-mutatedigest-rule",
    ]
    entry = policy.spec.rules[0].verify_images[0]
    assert (entry.verify_digest, entry.mutate_digest, entry.required) == (True, False, False)
    good = yaml.safe_load((VECTORS / "verifydigest-admission/good-pod.yaml").read_text())
    bad = yaml.safe_load((VECTORS / "verifydigest-admission/bad-pod.yaml").read_text())
    for pod in (good, bad):
        assert _applying(policy, pod) == ["mutatedigest-rule"]
    (good_image,) = rule_images(good, policy.spec.rules[0]).images
    # The star crosses "@sha256:" because the normalised string drops the tag.
    assert good_image.reference == f"ghcr.io/kyverno/test-verify-image@{DIGEST_445}"
    assert image_matches(good_image, policy.spec.rules[0].verify_images)
    (bad_image,) = rule_images(bad, policy.spec.rules[0]).images
    assert bad_image.info.digest == ""
    assert bad_image.reference == "ghcr.io/kyverno/test-verify-image:signed-keyless"


def test_mutate_digest_patch_target() -> None:
    policy = load_policy(VECTORS / "mutatedigest-stub-registry/policy.yaml")
    entry = policy.spec.rules[0].verify_images[0]
    assert (entry.mutate_digest, entry.verify_digest, entry.required) == (True, False, False)
    pod = yaml.safe_load((VECTORS / "mutatedigest-stub-registry/pod.yaml").read_text())
    expected = yaml.safe_load(
        (VECTORS / "mutatedigest-stub-registry/expected-pod.yaml").read_text()
    )
    (image,) = rule_images(pod, policy.spec.rules[0]).images
    assert image.pointer == "/spec/containers/0/image"
    # The patch keeps the tag: String() + "@" + the digest.
    assert f"{image.reference}@{DIGEST_445}" == expected["spec"]["containers"][0]["image"]


def test_empty_image_deployment_has_no_images() -> None:
    policy = load_policy(VECTORS / "empty-image/policy.yaml")
    entry = policy.spec.rules[0].verify_images[0]
    assert entry.attestors[0].entries[0].keys is not None
    assert entry.attestors[0].entries[0].keys.rekor is not None
    assert entry.attestors[0].entries[0].keys.rekor.ignore_tlog is True
    deployment = yaml.safe_load((VECTORS / "empty-image/deployment.yaml").read_text())
    assert _applying(policy, deployment) == ["autogen-keyed-basic-rule"]
    rule = _rule(policy, "autogen-keyed-basic-rule")
    extraction = rule_images(deployment, rule)
    assert extraction.images == ()
    assert extraction.error is None


def test_imageextractors_none_task_has_no_images() -> None:
    policy = load_policy(VECTORS / "imageextractors-none/policy.yaml")
    rule = policy.spec.rules[0]
    entry = rule.verify_images[0]
    assert entry.image_references == ("*",)
    assert entry.attestors[0].entries[0].keys is not None
    task = yaml.safe_load((VECTORS / "imageextractors-none/task.yaml").read_text())
    assert [r.name for r in policy.computed_rules()] == ["verify-images"]  # no pod kinds
    assert _applying(policy, task) == ["verify-images"]
    assert rule.preconditions is not None
    for operation, expected in (("CREATE", True), ("DELETE", False)):
        holds, _ = evaluate_conditions(rule.preconditions, {"request": {"operation": operation}})
        assert holds is expected
    assert rule_images(task, rule).images == ()


# ------------------------------------------------------------------------------------------
# Go-test-derived cases: no CRD defaulting (README cases 17-19)


@pytest.mark.parametrize(
    "name", ["required-nonmatching/cases.yaml", "mock-attestations/policies-and-pod.yaml"]
)
def test_no_defaulting_cases_load_without_defaults(name: str) -> None:
    policies = load_policies(VECTORS / name, apply_defaults=False, skip_other_kinds=True)
    assert policies
    for policy in policies:
        for rule in policy.spec.rules:
            for entry in rule.verify_images:
                assert (entry.mutate_digest, entry.use_cache) == (False, False)
    # With the CRD defaults they are policies Kyverno would reject (Audit + mutateDigest).
    with pytest.raises(PolicyValidationError) as caught:
        load_policies(VECTORS / name, skip_other_kinds=True)
    assert caught.value.field_path == "spec.rules[0].verifyImages[0].mutateDigest"


def test_required_nonmatching_images() -> None:
    (policy,) = load_policies(
        VECTORS / "required-nonmatching/cases.yaml", apply_defaults=False, skip_other_kinds=True
    )
    pod = next(
        doc
        for _, doc in read_documents(VECTORS / "required-nonmatching/cases.yaml")
        if doc["kind"] == "Pod"
    )
    rule = policy.spec.rules[0]
    assert rule_matches(rule, pod, policy=policy)
    images = rule_images(pod, rule).images
    assert [(image.reference, image_matches(image, rule.verify_images)) for image in images] == [
        ("docker.io/busybox:1.36", False),
        ("ghcr.io/verified/app:v1", True),
    ]


def test_mock_attestation_policies() -> None:
    policies = load_policies(
        VECTORS / "mock-attestations/policies-and-pod.yaml",
        apply_defaults=False,
        skip_other_kinds=True,
    )
    assert [policy.name for policy in policies] == ["attest-good", "attest-bad"]
    for policy in policies:
        entry = policy.spec.rules[0].verify_images[0]
        # Convert() drops the deprecated key because the entry has attestations.
        assert entry.attestors == ()
        assert entry.image_references == ("*",)
        assert entry.attestations[0].effective_type == "https://example.com/CodeReview/v1"
        assert any("predicateType has been deprecated" in w for w in policy.warnings)
    good, bad = policies
    assert len(good.spec.rules[0].verify_images[0].attestations[0].attestors) == 1
    assert bad.spec.rules[0].verify_images[0].attestations[0].attestors == ()
    pod = next(
        doc
        for _, doc in read_documents(VECTORS / "mock-attestations/policies-and-pod.yaml")
        if doc["kind"] == "Pod"
    )
    for policy in policies:
        assert _applying(policy, pod) == ["attest"]
        (image,) = rule_images(pod, policy.spec.rules[0]).images
        assert image.reference == "ghcr.io/jimbugwadia/pause2:latest"


@pytest.mark.parametrize(
    "name", ["cli-digest/kyverno-test.yaml", "cli-secure-images/kyverno-test.yaml"]
)
def test_cli_test_files_name_loaded_rules(name: str) -> None:
    ((_, test),) = read_documents(VECTORS / name)
    assert test["kind"] == "Test"
    folder = (VECTORS / name).parent
    policies = {
        policy.name: policy for path in test["policies"] for policy in load_policies(folder / path)
    }
    for result in test["results"]:
        policy = policies[result["policy"]]
        assert result["rule"] in [rule.name for rule in policy.computed_rules()]


# ------------------------------------------------------------------------------------------
# matching-tables.yaml


@pytest.mark.parametrize(
    "case", _cases("image_normalization"), ids=lambda c: f"{c['input']}@{c['defaultRegistry']}"
)
def test_normalisation_table_through_extraction(case: dict[str, Any]) -> None:
    resource = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": case["input"]}]}}
    (image,) = extract_images(
        resource,
        default_registry=case["defaultRegistry"],
        enable_default_registry_mutation=case["enableDefaultRegistryMutation"],
    )
    expect = case["expect"]
    info = image.info
    assert (info.registry, info.path, info.name, info.tag, info.digest) == (
        expect["registry"],
        expect["path"],
        expect["name"],
        expect["tag"],
        expect["digest"],
    )
    assert str(info) == expect["string"]


@pytest.mark.parametrize("case", _cases("reference_fields"), ids=lambda c: str(c["input"]))
def test_reference_fields_table(case: dict[str, Any]) -> None:
    info = kyverno_image_info(
        case["input"],
        default_registry=case["defaultRegistry"],
        enable_default_registry_mutation=case["enableDefaultRegistryMutation"],
    )
    assert info.reference == case["expect"]["reference"]
    assert info.reference_with_tag == case["expect"]["referenceWithTag"]


@pytest.mark.parametrize(
    "case", _cases("add_default_registry"), ids=lambda c: f"{c['input']}@{c['defaultRegistry']}"
)
def test_add_default_registry_table(case: dict[str, Any]) -> None:
    assert (
        kyverno_add_default_registry(case["input"], case["defaultRegistry"])
        == case["expectWithRegistryPrefix"]
    )


@pytest.mark.parametrize("text", _cases("parse_errors"))
def test_parse_errors_hide_all_images(text: str) -> None:
    resource = {
        "kind": "Pod",
        "spec": {"containers": [{"name": "ok", "image": "nginx"}, {"name": "bad", "image": text}]},
    }
    extraction = rule_images(resource, Rule(name="r"))
    assert extraction.images == ()
    assert extraction.error is not None


def _extractors(case: dict[str, Any]) -> dict[str, tuple[ImageExtractorConfig, ...]] | None:
    configs = case.get("imageExtractors")
    if configs is None:
        return None
    return {
        kind: tuple(
            ImageExtractorConfig(
                path=item["path"],
                value=item.get("value", ""),
                name=item.get("name", ""),
                key=item.get("key", ""),
                jmes_path=item.get("jmesPath", ""),
            )
            for item in items
        )
        for kind, items in configs.items()
    }


_FIELDS = {
    "registry": "registry",
    "path": "path",
    "name": "name",
    "tag": "tag",
    "digest": "digest",
    "reference": "reference",
    "referenceWithTag": "reference_with_tag",
}


@pytest.mark.parametrize(
    "case", _cases("extraction"), ids=lambda c: str(c["source"]).split(" ", 1)[-1]
)
def test_extraction_table(case: dict[str, Any]) -> None:
    images = extract_images(case["resource"], _extractors(case))
    got: dict[str, dict[str, Any]] = {}
    for image in images:
        got.setdefault(image.group, {})[image.key] = image
    expected = case["expect"]
    assert set(got) == set(expected)
    for group, entries in expected.items():
        assert set(got[group]) == set(entries)
        for key, fields in entries.items():
            image = got[group][key]
            assert image.pointer == fields["pointer"]
            for field, value in fields.items():
                if field != "pointer":
                    assert getattr(image.info, _FIELDS[field]) == value, (group, key, field)


def test_extraction_table_loads_as_policy_extractors(tmp_path: Path) -> None:
    # The custom extractor shapes load through a policy too.
    for case in _cases("extraction"):
        if "imageExtractors" not in case:
            continue
        document = {
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "x"},
            "spec": {
                "rules": [
                    {
                        "name": "r",
                        "match": {"any": [{"resources": {"kinds": list(case["imageExtractors"])}}]},
                        "imageExtractors": case["imageExtractors"],
                        "verifyImages": [{"imageReferences": ["*"], "mutateDigest": False}],
                    }
                ]
            },
        }
        (policy,) = load_policies(document)
        assert rule_images(case["resource"], policy.spec.rules[0]).images == extract_images(
            case["resource"], _extractors(case)
        )


@pytest.mark.parametrize(
    "case", _cases("derived_image_patterns"), ids=lambda c: f"{c['pattern']}~{c['image']}"
)
def test_derived_patterns_against_extracted_images(case: dict[str, Any]) -> None:
    assert match(case["pattern"], case["image"]) is case["matched"]
