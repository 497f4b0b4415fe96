"""Loading policies: sources, CRD defaults, Convert(), v2beta1, and Kyverno's rejections."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagesig.errors import PolicyParseError, PolicyValidationError
from imagesig.policy import load_policies as lazy_load_policies
from imagesig.policy.load import load_policies, load_policy, parse_policies, policy_from_dict
from imagesig.policy.model import ClusterPolicy, KyvernoPolicy, Policy, StaticKeyAttestor

KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
-----END PUBLIC KEY-----"""

# The seed's policy: deprecated image/key, lower-case enforce, a KMS key.
SEED = """
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
        key: "gcpkms://projects/p/locations/global/keyRings/test/cryptoKeys/cosign/versions/1"
"""


def base(**entry: Any) -> dict[str, Any]:
    """A valid Enforce policy with one verifyImages entry, updated with ``entry``."""
    verify: dict[str, Any] = {
        "imageReferences": ["ghcr.io/org/*"],
        "failureAction": "Enforce",
        "attestors": [{"entries": [{"keys": {"publicKeys": KEY}}]}],
    }
    verify.update(entry)
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "rules": [
                {
                    "name": "r",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "verifyImages": [verify],
                }
            ]
        },
    }


def test_base_policy_loads_with_crd_defaults() -> None:
    policy = policy_from_dict(base())
    assert isinstance(policy, ClusterPolicy)
    assert policy.kind == "ClusterPolicy"
    assert policy.key == "/p"
    spec = policy.spec
    assert spec.validation_failure_action == "Audit"
    assert spec.background is True
    assert spec.admission is True
    assert spec.emit_warning is False
    entry = spec.rules[0].verify_images[0]
    assert (entry.mutate_digest, entry.verify_digest, entry.required, entry.use_cache) == (
        True,
        True,
        True,
        True,
    )
    attestor = entry.attestors[0].entries[0]
    assert attestor.signature_algorithm == "sha256"
    assert attestor.keys is not None
    assert attestor.keys.signature_algorithm == "sha256"
    assert entry.verifier_type == "Cosign"
    assert policy.failure_policy == "Fail"
    assert policy.webhook_timeout_seconds == 10
    assert spec.rules[0].failure_action() == "Enforce"


def test_without_defaults_fields_stay_unset() -> None:
    policy = policy_from_dict(base(failureAction=None), apply_defaults=False)
    entry = policy.spec.rules[0].verify_images[0]
    assert (entry.mutate_digest, entry.verify_digest, entry.required, entry.use_cache) == (
        False,
        False,
        False,
        False,
    )
    assert policy.spec.validation_failure_action == ""
    assert policy.spec.background is None
    assert policy.background is True  # absent means true
    assert entry.attestors[0].entries[0].signature_algorithm == ""


def test_explicit_false_survives_defaults() -> None:
    entry = policy_from_dict(base(mutateDigest=False, required=False)).spec.rules[0]
    assert entry.verify_images[0].mutate_digest is False
    assert entry.verify_images[0].required is False
    assert entry.verify_images[0].verify_digest is True


def test_seed_policy_converts_deprecated_fields() -> None:
    policy = load_policy(SEED.encode())
    assert policy.enforce
    assert policy.spec.failure_policy == "Fail"
    assert policy.webhook_timeout_seconds == 30
    assert policy.background is False
    assert any("deprecated" in warning for warning in policy.warnings)
    entry = policy.spec.rules[0].verify_images[0]
    assert entry.image_references == ("*",)
    assert entry.deprecated is not None
    assert entry.deprecated.key.startswith("gcpkms://")
    (attestor_set,) = entry.attestors
    (attestor,) = attestor_set.entries
    assert attestor.keys == StaticKeyAttestor(public_keys=entry.deprecated.key)
    assert attestor_set.required_count == 1


def test_deprecated_issuer_becomes_keyless() -> None:
    document = base(attestors=None, issuer="https://token.actions.githubusercontent.com")
    document["spec"]["rules"][0]["verifyImages"][0].update(
        subject="https://github.com/org/*", roots=KEY
    )
    entry = policy_from_dict(document).spec.rules[0].verify_images[0]
    keyless = entry.attestors[0].entries[0].keyless
    assert keyless is not None
    assert keyless.issuer == "https://token.actions.githubusercontent.com"
    assert keyless.subject == "https://github.com/org/*"
    assert keyless.roots == KEY


def test_deprecated_key_is_dropped_when_attestations_exist() -> None:
    document = base(
        attestors=None, key=KEY, attestations=[{"type": "https://slsa.dev/provenance/v1"}]
    )
    policy = policy_from_dict(document)
    entry = policy.spec.rules[0].verify_images[0]
    assert entry.attestors == ()
    assert entry.attestations[0].attestors == ()
    assert any("ignored" in warning for warning in policy.warnings)


def test_deprecated_annotations_alone_are_not_converted() -> None:
    document = base(attestors=None, annotations={"team": "a"})
    entry = policy_from_dict(document, validate=False).spec.rules[0].verify_images[0]
    assert entry.attestors == ()


def test_deprecated_image_with_annotations_only_is_rejected() -> None:
    document = base(attestors=None, image="ghcr.io/x/*", annotations={"team": "a"})
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(document)
    assert caught.value.field_path == "spec.rules[0].verifyImages[0].attestors[0].entries[0]"


def test_multi_key_public_keys_expand() -> None:
    keys = StaticKeyAttestor(public_keys=KEY + "\n" + KEY + "\n")
    expanded = keys.expand()
    assert len(expanded) == 2
    assert all(item.public_keys.strip().endswith("-----END PUBLIC KEY-----") for item in expanded)
    assert StaticKeyAttestor(public_keys=KEY).expand() == (StaticKeyAttestor(public_keys=KEY),)


def test_namespaced_policy_defaults_to_default_namespace() -> None:
    document = base()
    document["kind"] = "Policy"
    policy = policy_from_dict(document)
    assert isinstance(policy, Policy)
    assert policy.namespace == "default"
    assert policy.is_namespaced
    assert policy.key == "default/p"


def test_webhook_configuration_wins() -> None:
    document = base()
    document["spec"]["webhookConfiguration"] = {"failurePolicy": "Ignore", "timeoutSeconds": 7}
    policy = policy_from_dict(document)
    assert policy.failure_policy == "Ignore"
    assert policy.webhook_timeout_seconds == 7


def test_rules_of_other_types_load() -> None:
    document = base()
    document["spec"]["rules"].append(
        {
            "name": "other",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"pattern": {"metadata": {"labels": {"app": "?*"}}}},
        }
    )
    policy = policy_from_dict(document)
    assert not policy.spec.rules[1].has_verify_images
    assert "validate" in policy.spec.rules[1].other_operations


def test_v2beta1_loads_and_refuses_v1_only_fields() -> None:
    document = base()
    document["apiVersion"] = "kyverno.io/v2beta1"
    assert policy_from_dict(document).api_version == "kyverno.io/v2beta1"
    for field, value in (("image", "x"), ("key", KEY), ("cosignOCI11", True)):
        changed = copy.deepcopy(document)
        changed["spec"]["rules"][0]["verifyImages"][0][field] = value
        with pytest.raises(PolicyParseError) as caught:
            policy_from_dict(changed)
        assert caught.value.field_path == f"spec.rules[0].verifyImages[0].{field}"
    bare = copy.deepcopy(document)
    bare["spec"]["rules"][0]["match"] = {"resources": {"kinds": ["Pod"]}}
    with pytest.raises(PolicyParseError) as caught:
        policy_from_dict(bare)
    assert caught.value.field_path == "spec.rules[0].match.resources"
    listed = copy.deepcopy(document)
    listed["spec"]["rules"][0]["preconditions"] = [
        {"key": "{{request.operation}}", "operator": "Equals", "value": "CREATE"}
    ]
    with pytest.raises(PolicyParseError):
        policy_from_dict(listed)


def test_list_preconditions_become_all_in_v1() -> None:
    document = base()
    document["spec"]["rules"][0]["preconditions"] = [
        {"key": "{{request.operation}}", "operator": "NotEquals", "value": "DELETE"}
    ]
    rule = policy_from_dict(document).spec.rules[0]
    assert rule.preconditions is not None
    assert rule.preconditions.any is None
    assert rule.preconditions.all is not None
    assert rule.preconditions.all[0].operator == "NotEquals"


def test_sources(tmp_path: Path) -> None:
    text = yaml.safe_dump(base())
    (tmp_path / "one.yaml").write_text(text)
    sub = tmp_path / "nested"
    sub.mkdir()
    other = base()
    other["metadata"]["name"] = "q"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}
    (sub / "two.yml").write_text(yaml.safe_dump_all([other, pod]))
    (tmp_path / ".hidden.yaml").write_text("not: [valid")
    (tmp_path / "notes.txt").write_text("ignored")

    # Directories: sorted paths, other kinds and hidden files skipped.
    assert [p.name for p in load_policies(tmp_path)] == ["q", "p"]
    assert [p.name for p in load_policies(tmp_path / "one.yaml", base())] == ["p", "p"]
    assert [p.name for p in parse_policies(text)] == ["p"]
    assert load_policy(str(tmp_path / "one.yaml")).source.endswith("one.yaml#0")
    with pytest.raises(PolicyParseError, match=r"not a kyverno\.io ClusterPolicy"):
        load_policies(sub / "two.yml")
    assert [p.name for p in load_policies(sub / "two.yml", skip_other_kinds=True)] == ["q"]
    (tmp_path / "both.json").write_text(yaml.safe_dump_all([base(), other]))
    with pytest.raises(PolicyParseError, match="exactly one policy"):
        load_policy(tmp_path / "both.json")
    with pytest.raises(PolicyParseError, match="cannot read"):
        load_policies(tmp_path / "missing.yaml")
    assert lazy_load_policies is load_policies


def test_dict_is_not_modified() -> None:
    document = base()
    snapshot = copy.deepcopy(document)
    policy = policy_from_dict(document)
    assert document == snapshot
    assert isinstance(policy, KyvernoPolicy)


# ------------------------------------------------------------------------------------------
# schema errors (PolicyParseError) with field paths


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = document
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return document


_DELETE = object()
_VI = "spec.rules.0.verifyImages.0"

SCHEMA_ERRORS = [
    ("apiVersion", "kyverno.io/v9", "apiVersion"),
    ("metadata.name", _DELETE, "metadata.name"),
    ("spec.rules.0.name", _DELETE, "spec.rules[0].name"),
    ("spec.rules.0.match", _DELETE, "spec.rules[0].match"),
    (
        "spec.rules.0.verifyImages.0.mutatedigest",
        False,
        "spec.rules[0].verifyImages[0].mutatedigest",
    ),
    (f"{_VI}.mutateDigest", "no", "spec.rules[0].verifyImages[0].mutateDigest"),
    (f"{_VI}.imageReferences", "ghcr.io/*", "spec.rules[0].verifyImages[0].imageReferences"),
    (f"{_VI}.failureAction", "enforce", "spec.rules[0].verifyImages[0].failureAction"),
    (f"{_VI}.type", "Sigstore", "spec.rules[0].verifyImages[0].type"),
    ("spec.validationFailureAction", "Block", "spec.validationFailureAction"),
    ("spec.failurePolicy", "fail", "spec.failurePolicy"),
    ("spec.webhookTimeoutSeconds", "30s", "spec.webhookTimeoutSeconds"),
    (f"{_VI}.attestors.0.count", "two", "spec.rules[0].verifyImages[0].attestors[0].count"),
    (
        f"{_VI}.attestors.0.entries.0.keys.secret",
        {"name": "k"},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.secret.namespace",
    ),
    (
        "spec.rules.0.match.any.0.resources.operations",
        ["create"],
        "spec.rules[0].match.any[0].resources.operations[0]",
    ),
    (
        "spec.rules.0.imageExtractors",
        {"Task": [{"value": "image"}]},
        "spec.rules[0].imageExtractors.Task[0].path",
    ),
    (
        "spec.rules.0.imageExtractors",
        {"Task": [{"path": "/ / "}]},
        "spec.rules[0].imageExtractors.Task[0].path",
    ),
    (
        f"{_VI}.imageRegistryCredentials",
        {"providers": ["quay"]},
        "spec.rules[0].verifyImages[0].imageRegistryCredentials.providers[0]",
    ),
]


@pytest.mark.parametrize(("path", "value", "field_path"), SCHEMA_ERRORS)
def test_schema_errors_name_the_field(path: str, value: Any, field_path: str) -> None:
    document = _set(base(), path, value)
    with pytest.raises(PolicyParseError) as caught:
        policy_from_dict(document)
    assert caught.value.field_path == field_path
    assert field_path in str(caught.value)


# ------------------------------------------------------------------------------------------
# admission rejections (PolicyValidationError)

KEYLESS_NO_URL = {"keyless": {"rekor": {}, "issuer": "x", "subject": "y"}}

REJECTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "count above the number of entries",
        {"attestors": [{"count": 2, "entries": [{"keys": {"publicKeys": KEY}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0]",
        "Count cannot exceed length of entries",
    ),
    (
        "count zero",
        {"attestors": [{"count": 0, "entries": [{"keys": {"publicKeys": KEY}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].count",
        "greater than or equal to 1",
    ),
    (
        "mutateDigest with Audit",
        {"failureAction": "Audit"},
        "spec.rules[0].verifyImages[0].mutateDigest",
        "mutateDigest must be set to false",
    ),
    (
        "no image reference",
        {"imageReferences": []},
        "spec.rules[0].verifyImages[0]",
        "An image reference is required",
    ),
    (
        "variables in image references",
        {"imageReferences": ["{{ request.object.metadata.name }}"]},
        "spec.rules[0]",
        "should not have variables in image reference section",
    ),
    (
        "attestor set without entries",
        {"attestors": [{"entries": []}]},
        "spec.rules[0].verifyImages[0].attestors[0]",
        "An entry is required",
    ),
    (
        "empty attestor",
        {"attestors": [{"entries": [{}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0]",
        "keys, certificates, keyless, or a nested attestor is required",
    ),
    (
        "two kinds in one attestor",
        {
            "attestors": [
                {"entries": [{"keys": {"publicKeys": KEY}, "certificates": {"cert": "x"}}]}
            ]
        },
        "spec.rules[0].verifyImages[0].attestors[0].entries[0]",
        "keys, certificates, keyless, or a nested attestor is required",
    ),
    (
        "empty static key",
        {"attestors": [{"entries": [{"keys": {}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].keys",
        "A public key, kms key or secret is required",
    ),
    (
        "bad signature algorithm",
        {"attestors": [{"entries": [{"keys": {"publicKeys": KEY, "signatureAlgorithm": "md5"}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].keys",
        "Invalid signature algorithm provided",
    ),
    (
        "keyless rekor without url",
        {"attestors": [{"entries": [KEYLESS_NO_URL]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless",
        "An URL is required",
    ),
    (
        "keyless without rekor or roots",
        {"attestors": [{"entries": [{"keyless": {"issuer": "x"}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless",
        "Either Rekor URL or roots are required",
    ),
    (
        "certificates without cert",
        {"attestors": [{"entries": [{"certificates": {}}]}]},
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].certificates",
        "cert or certChain required",
    ),
    (
        "nested attestor count",
        {
            "attestors": [
                {
                    "entries": [
                        {"attestor": {"count": 3, "entries": [{"keys": {"publicKeys": KEY}}]}}
                    ]
                }
            ]
        },
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].attestor",
        "Count cannot exceed length of entries",
    ),
    (
        "attestation attestors are checked",
        {"attestations": [{"type": "t", "attestors": [{"entries": [{}]}]}]},
        "spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries[0]",
        "keys, certificates, keyless, or a nested attestor is required",
    ),
    (
        "notary with keys",
        {"type": "Notary"},
        "spec.rules[0].verifyImages[0].attestors",
        "Keys field is not allowed for type notary",
    ),
    (
        "unknown attestation condition operator",
        {
            "attestations": [
                {
                    "type": "t",
                    "conditions": [{"all": [{"key": "a", "operator": "Like", "value": "b"}]}],
                }
            ]
        },
        "spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].operator",
        "entered value of `operator` is invalid",
    ),
]


@pytest.mark.parametrize(
    ("entry", "field_path", "message"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_kyverno_rejections(entry: dict[str, Any], field_path: str, message: str) -> None:
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(base(**entry))
    error = caught.value
    assert (field_path, message) in [(p, m) for p, m in error.errors] or any(
        p == field_path and message in m for p, m in error.errors
    ), error.errors
    assert error.field_path == error.errors[0][0]
    # The same policy loads when validation is off.
    policy_from_dict(base(**entry), validate=False)


def _rule_change(change: dict[str, Any], *, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    document = base()
    document["spec"]["rules"][0].update(change)
    document["spec"].update(spec or {})
    return document


RULE_REJECTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "wildcard kind with verifyImages",
        _rule_change(
            {"match": {"any": [{"resources": {"kinds": ["*"]}}]}}, spec={"background": False}
        ),
        "spec.rules[0].match.any[0].kinds",
        "wildcard policy does not support rule type",
    ),
    (
        "wildcard kind in background mode",
        _rule_change({"match": {"any": [{"resources": {"kinds": ["*"]}}]}}),
        "spec.rules[0].match.any[0].kinds",
        "wildcard policy not allowed in background mode",
    ),
    (
        "wildcard kind among others",
        _rule_change(
            {"match": {"any": [{"resources": {"kinds": ["*", "Pod"]}}]}}, spec={"background": False}
        ),
        "spec.rules[0].match.any[0].kinds",
        "wildcard policy can not deal with more than one kind",
    ),
    (
        "admission disabled",
        _rule_change({}, spec={"admission": False}),
        "spec.admission",
        "disabling admission processing is only allowed with validation policies",
    ),
    (
        "admission and background disabled",
        _rule_change({}, spec={"admission": False, "background": False}),
        "spec.admission",
        "disabling both admission and background processing is not allowed",
    ),
    (
        "timeout out of range",
        _rule_change({}, spec={"webhookTimeoutSeconds": 31}),
        "spec.webhookTimeoutSeconds",
        "the timeout value must be between 1 and 30 seconds",
    ),
    (
        "deprecated and current timeout",
        _rule_change(
            {}, spec={"webhookTimeoutSeconds": 5, "webhookConfiguration": {"timeoutSeconds": 5}}
        ),
        "spec.webhookTimeoutSeconds",
        "remove the deprecated field",
    ),
    (
        "any and all together",
        _rule_change(
            {
                "match": {
                    "any": [{"resources": {"kinds": ["Pod"]}}],
                    "all": [{"resources": {"kinds": ["Pod"]}}],
                }
            }
        ),
        "spec.rules[0].match",
        "Can't specify any and all together",
    ),
    (
        "any with bare resources",
        _rule_change(
            {"match": {"any": [{"resources": {"kinds": ["Pod"]}}], "resources": {"kinds": ["Pod"]}}}
        ),
        "spec.rules[0].match",
        "can't specify any/all together with match resources",
    ),
    (
        "filter without kinds",
        _rule_change({"match": {"any": [{"resources": {"namespaces": ["prod"]}}]}}),
        "spec.rules[0].match.any[0].resources",
        "the kind attribute is mandatory",
    ),
    (
        "empty match",
        _rule_change({"match": {"any": [{"resources": {}}]}}),
        "spec.rules[0].match.any[0].resources",
        "match resources not specified",
    ),
    (
        "name and names",
        _rule_change(
            {"match": {"any": [{"resources": {"kinds": ["Pod"], "name": "a", "names": ["b"]}}]}}
        ),
        "spec.rules[0].match.any[0].resources",
        "Both name and names can not be specified together",
    ),
    (
        "selector without requirements",
        _rule_change({"match": {"any": [{"resources": {"kinds": ["Pod"], "selector": {}}}]}}),
        "spec.rules[0].match.any[0].resources.selector",
        "The requirements are not specified in selector",
    ),
    (
        "variables in match",
        _rule_change({"match": {"any": [{"resources": {"kinds": ["Pod"], "names": ["{{ x }}"]}}]}}),
        "spec.rules[0]",
        "should not have variables in match section",
    ),
    (
        "duplicate rule names",
        {
            **base(),
            "spec": {"rules": [base()["spec"]["rules"][0], base()["spec"]["rules"][0]]},
        },
        "spec.rules[1].name",
        "Duplicate rule name: 'r'",
    ),
    (
        "rule name too long",
        _rule_change({"name": "r" * 64}),
        "spec.rules[0].name",
        "may not be more than 63 bytes",
    ),
    (
        "two operations in one rule",
        _rule_change({"validate": {"pattern": {"metadata": {}}}}),
        "spec.rules[0]",
        "Multiple operations defined in the rule 'r'",
    ),
    (
        "imageExtractors without verifyImages",
        _rule_change(
            {
                "verifyImages": None,
                "validate": {"message": "m", "pattern": {"spec": {}}},
                "imageExtractors": {"Task": [{"path": "/spec/steps/*/image"}]},
            }
        ),
        "spec.rules[0].imageExtractors",
        "imageExtractors can only be defined for verifyImages rule",
    ),
    (
        "jmesPath extractor with mutateDigest",
        _rule_change(
            {
                "imageExtractors": {
                    "DataVolume": [
                        {
                            "path": "/spec/source/registry/url",
                            "jmesPath": "trim_prefix(@, 'docker://')",
                        }
                    ]
                }
            }
        ),
        "spec.rules[0]",
        "jmespath may not be used in an image extractor when mutating digests",
    ),
    (
        "bad request.operation value",
        _rule_change(
            {
                "preconditions": {
                    "all": [
                        {"key": "{{ request.operation }}", "operator": "Equals", "value": "create"}
                    ]
                }
            }
        ),
        "spec.rules[0].preconditions.all[0].value",
        "unknown value 'create'",
    ),
    (
        "unknown precondition operator",
        _rule_change(
            {"preconditions": {"any": [{"key": "a", "operator": "Matches", "value": "b"}]}}
        ),
        "spec.rules[0].preconditions.any[0].operator",
        "entered value of `operator` is invalid",
    ),
    (
        "exclude equal to match",
        _rule_change({"exclude": {"any": [{"resources": {"kinds": ["Pod"]}}]}}),
        "spec.rules[0]",
        "Rule is matching an empty set",
    ),
    (
        "bad role format",
        _rule_change({"match": {"any": [{"resources": {"kinds": ["Pod"]}, "roles": ["admin"]}]}}),
        "spec.rules[0].match.any[0].roles[0]",
        "Role is expected to be in namespace:name format",
    ),
    (
        "service account subject without namespace",
        _rule_change(
            {
                "match": {
                    "any": [
                        {
                            "resources": {"kinds": ["Pod"]},
                            "subjects": [{"kind": "ServiceAccount", "name": "x"}],
                        }
                    ]
                }
            }
        ),
        "spec.rules[0].match.any[0].subjects[0].namespace",
        "namespace is required when Kind is ServiceAccount",
    ),
    (
        "autogen annotation all",
        {
            **base(),
            "metadata": {
                "name": "p",
                "annotations": {"pod-policies.kyverno.io/autogen-controllers": "all"},
            },
        },
        "metadata.annotations",
        "Autogen annotation does not support 'all' anymore",
    ),
    (
        "cluster policy with namespace",
        {**base(), "metadata": {"name": "p", "namespace": "x"}},
        "metadata.namespace",
        "A clusterpolicy should not have the namespace defined",
    ),
    (
        "policy name too long",
        {**base(), "metadata": {"name": "p" * 64}},
        "name",
        "may not be more than 63 bytes",
    ),
]


@pytest.mark.parametrize(
    ("document", "field_path", "message"),
    [case[1:] for case in RULE_REJECTIONS],
    ids=[case[0] for case in RULE_REJECTIONS],
)
def test_kyverno_policy_rejections(document: dict[str, Any], field_path: str, message: str) -> None:
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(document)
    assert any(p == field_path and message in m for p, m in caught.value.errors), (
        caught.value.errors
    )


def test_namespaced_policy_cannot_filter_namespaces() -> None:
    document = _rule_change(
        {"match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["x"]}}]}}
    )
    document["kind"] = "Policy"
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(document)
    assert caught.value.field_path == "spec.rules[0].match.any[0].resources.namespaces"


def test_audit_flag_carries_over_entries() -> None:
    # Kyverno's running flag: the second entry sets nothing and inherits the first's Audit.
    document = base(failureAction="Audit", mutateDigest=False)
    second = copy.deepcopy(document["spec"]["rules"][0]["verifyImages"][0])
    second.pop("failureAction")
    second["mutateDigest"] = True
    document["spec"]["rules"][0]["verifyImages"].append(second)
    document["spec"]["validationFailureAction"] = "Enforce"
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(document)
    assert caught.value.field_path == "spec.rules[0].verifyImages[1].mutateDigest"


def test_policy_level_enforce_allows_mutate_digest() -> None:
    document = base(failureAction=None)
    document["spec"]["validationFailureAction"] = "Enforce"
    assert policy_from_dict(document).enforce


def test_default_audit_with_default_mutate_digest_is_invalid() -> None:
    # Nothing set: the CRD defaults (Audit, mutateDigest true) make the policy invalid.
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_dict(base(failureAction=None))
    assert caught.value.field_path == "spec.rules[0].verifyImages[0].mutateDigest"
