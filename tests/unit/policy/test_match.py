"""match / exclude with Kyverno's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from imagesig.errors import PolicyError
from imagesig.policy.load import policy_from_dict
from imagesig.policy.match import (
    RequestInfo,
    ResourceIdentity,
    match_failures,
    parse_kind_selector,
    rule_matches,
    selector_matches,
)
from imagesig.policy.model import KyvernoPolicy, LabelSelector, LabelSelectorRequirement, Rule


def policy(
    match: dict[str, Any], exclude: dict[str, Any] | None = None, *, kind: str = "ClusterPolicy"
) -> KyvernoPolicy:
    rule: dict[str, Any] = {
        "name": "r",
        "match": match,
        "verifyImages": [{"imageReferences": ["*"], "mutateDigest": False}],
    }
    if exclude is not None:
        rule["exclude"] = exclude
    document = {
        "apiVersion": "kyverno.io/v1",
        "kind": kind,
        "metadata": {"name": "p", "namespace": "team"} if kind == "Policy" else {"name": "p"},
        "spec": {"background": False, "rules": [rule]},
    }
    return policy_from_dict(document, validate=False)


def the_rule(loaded: KyvernoPolicy) -> Rule:
    return loaded.spec.rules[0]


def pod(
    name: str = "web",
    namespace: str = "prod",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    *,
    kind: str = "Pod",
    api_version: str = "v1",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": {}}


def res(**fields: Any) -> dict[str, Any]:
    return {"resources": fields}


MATCH_TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("kind", {"any": [res(kinds=["Pod"])]}, pod(), True),
    ("other kind", {"any": [res(kinds=["Deployment"])]}, pod(), False),
    ("version/kind", {"any": [res(kinds=["v1/Pod"])]}, pod(), True),
    ("wrong version", {"any": [res(kinds=["v2/Pod"])]}, pod(), False),
    (
        "group/version/kind",
        {"any": [res(kinds=["apps/v1/Deployment"])]},
        pod(kind="Deployment", api_version="apps/v1"),
        True,
    ),
    (
        "group wildcard",
        {"any": [res(kinds=["app?/v1/Deployment"])]},
        pod(kind="Deployment", api_version="apps/v1"),
        True,
    ),
    (
        # Kyverno reads a leading "*" as the version: version "*", kind "v1".
        "leading star is a version",
        {"any": [res(kinds=["*/v1/Deployment"])]},
        pod(kind="Deployment", api_version="apps/v1"),
        False,
    ),
    (
        "crd kind",
        {"any": [res(kinds=["tekton.dev/v1beta1/Task"])]},
        pod(kind="Task", api_version="tekton.dev/v1beta1"),
        True,
    ),
    ("kind wildcard", {"any": [res(kinds=["P*"])]}, pod(), True),
    (
        "subresource kind does not match the object",
        {"any": [res(kinds=["Pod/status"])]},
        pod(),
        False,
    ),
    ("names wildcard", {"any": [res(kinds=["Pod"], names=["we?"])]}, pod(), True),
    ("names miss", {"any": [res(kinds=["Pod"], names=["api-*"])]}, pod(), False),
    ("deprecated name", {"resources": {"kinds": ["Pod"], "name": "w*"}}, pod(), True),
    ("namespaces", {"any": [res(kinds=["Pod"], namespaces=["pr*"])]}, pod(), True),
    ("namespaces miss", {"any": [res(kinds=["Pod"], namespaces=["dev"])]}, pod(), False),
    (
        "namespace object by name",
        {"any": [res(kinds=["Namespace"], namespaces=["prod"])]},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}},
        True,
    ),
    (
        "annotations wildcard",
        {"any": [res(kinds=["Pod"], annotations={"team/*": "a*"})]},
        pod(annotations={"team/owner": "alice"}),
        True,
    ),
    (
        "annotations miss",
        {"any": [res(kinds=["Pod"], annotations={"team/*": "b*"})]},
        pod(annotations={"team/owner": "alice"}),
        False,
    ),
    (
        "selector matchLabels",
        {"any": [res(kinds=["Pod"], selector={"matchLabels": {"app": "web"}})]},
        pod(labels={"app": "web"}),
        True,
    ),
    (
        "selector wildcard",
        {"any": [res(kinds=["Pod"], selector={"matchLabels": {"app*": "w?b"}})]},
        pod(labels={"application": "web"}),
        True,
    ),
    (
        "selector wildcard miss",
        {"any": [res(kinds=["Pod"], selector={"matchLabels": {"app*": "x*"}})]},
        pod(labels={"application": "web"}),
        False,
    ),
    (
        "selector expressions",
        {
            "any": [
                res(
                    kinds=["Pod"],
                    selector={
                        "matchExpressions": [
                            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                            {"key": "legacy", "operator": "DoesNotExist"},
                        ]
                    },
                )
            ]
        },
        pod(labels={"tier": "fe"}),
        True,
    ),
    (
        "selector NotIn absent key",
        {
            "any": [
                res(
                    kinds=["Pod"],
                    selector={
                        "matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["1"]}]
                    },
                )
            ]
        },
        pod(labels={}),
        True,
    ),
    ("operations", {"any": [res(kinds=["Pod"], operations=["CREATE"])]}, pod(), True),
    ("operations miss", {"any": [res(kinds=["Pod"], operations=["UPDATE"])]}, pod(), False),
    (
        "any: one filter is enough",
        {"any": [res(kinds=["Deployment"]), res(kinds=["Pod"])]},
        pod(),
        True,
    ),
    (
        "all: every filter",
        {"all": [res(kinds=["Pod"]), res(namespaces=["dev"])]},
        pod(),
        False,
    ),
    (
        "all: every filter holds",
        {"all": [res(kinds=["Pod"]), res(namespaces=["prod"])]},
        pod(),
        True,
    ),
    ("bare form", {"resources": {"kinds": ["Pod"]}}, pod(), True),
    ("empty filter", {"any": [{"resources": {}}]}, pod(), False),
    (
        "user info ignored without request info",
        {"any": [{"resources": {"kinds": ["Pod"]}, "roles": ["ns:admin"]}]},
        pod(),
        True,
    ),
    (
        "only user info without request info is empty",
        {"any": [{"clusterRoles": ["admin"]}]},
        pod(),
        False,
    ),
]


@pytest.mark.parametrize(
    ("match", "resource", "expected"),
    [case[1:] for case in MATCH_TABLE],
    ids=[case[0] for case in MATCH_TABLE],
)
def test_match_table(match: dict[str, Any], resource: dict[str, Any], expected: bool) -> None:
    loaded = policy(match)
    assert rule_matches(the_rule(loaded), resource, policy=loaded, namespace_labels={}) is expected


EXCLUDE_TABLE: list[tuple[str, dict[str, Any], bool]] = [
    ("exclude any matching", {"any": [res(namespaces=["kube-*"]), res(names=["web"])]}, False),
    ("exclude any not matching", {"any": [res(namespaces=["kube-*"]), res(names=["api"])]}, True),
    ("exclude all partly matching", {"all": [res(namespaces=["prod"]), res(names=["api"])]}, True),
    ("exclude all matching", {"all": [res(namespaces=["prod"]), res(names=["web"])]}, False),
    ("exclude bare", {"resources": {"namespaces": ["prod"]}}, False),
    ("exclude empty", {}, True),
    ("exclude by roles without request info", {"any": [{"roles": ["ns:admin"]}]}, True),
]


@pytest.mark.parametrize(
    ("exclude", "applies"),
    [case[1:] for case in EXCLUDE_TABLE],
    ids=[case[0] for case in EXCLUDE_TABLE],
)
def test_exclude_table(exclude: dict[str, Any], applies: bool) -> None:
    loaded = policy({"any": [res(kinds=["Pod"])]}, exclude)
    assert rule_matches(the_rule(loaded), pod(), policy=loaded) is applies


def test_user_info_with_request_info() -> None:
    loaded = policy(
        {
            "any": [
                {
                    "resources": {"kinds": ["Pod"]},
                    "subjects": [
                        {"kind": "User", "name": "alice*"},
                        {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"},
                    ],
                }
            ]
        }
    )
    rule = the_rule(loaded)
    assert rule_matches(rule, pod(), user=RequestInfo(username="alice@example.com"))
    assert rule_matches(rule, pod(), user=RequestInfo(username="system:serviceaccount:ci:deployer"))
    assert not rule_matches(rule, pod(), user=RequestInfo(username="bob"))
    roles = policy({"any": [{"resources": {"kinds": ["Pod"]}, "clusterRoles": ["cluster-admin"]}]})
    assert rule_matches(
        the_rule(roles), pod(), user=RequestInfo(username="x", cluster_roles=("cluster-admin",))
    )
    assert not rule_matches(
        the_rule(roles), pod(), user=RequestInfo(username="x", cluster_roles=("view",))
    )
    groups = policy(
        {
            "any": [
                {"resources": {"kinds": ["Pod"]}, "subjects": [{"kind": "Group", "name": "devs"}]}
            ]
        }
    )
    assert rule_matches(the_rule(groups), pod(), user=RequestInfo(username="x", groups=("devs",)))


def test_exclude_by_user() -> None:
    loaded = policy(
        {"any": [res(kinds=["Pod"])]},
        {"any": [{"subjects": [{"kind": "Group", "name": "system:masters"}]}]},
    )
    rule = the_rule(loaded)
    assert not rule_matches(
        rule, pod(), user=RequestInfo(username="admin", groups=("system:masters",))
    )
    assert rule_matches(rule, pod(), user=RequestInfo(username="dev", groups=("devs",)))


def test_namespace_selector_needs_caller_labels() -> None:
    loaded = policy(
        {"any": [res(kinds=["Pod"], namespaceSelector={"matchLabels": {"env": "prod"}})]}
    )
    rule = the_rule(loaded)
    assert rule_matches(rule, pod(), namespace_labels={"env": "prod"})
    assert not rule_matches(rule, pod(), namespace_labels={"env": "dev"})
    assert not rule_matches(rule, pod(), namespace_labels={})
    with pytest.raises(PolicyError, match="labels of namespace 'prod'"):
        rule_matches(rule, pod())
    # A cluster-scoped object has no namespace labels to ask for.
    node = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}
    assert not rule_matches(rule, node)


def test_namespace_selector_not_applicable_to_namespaces() -> None:
    loaded = policy(
        {"any": [res(kinds=["Namespace"], namespaceSelector={"matchLabels": {"a": "b"}})]}
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    failures = match_failures(the_rule(loaded), namespace, namespace_labels={"a": "b"})
    assert failures == ["no resource matched"]


def test_namespaced_policy_applies_only_in_its_namespace() -> None:
    loaded = policy({"any": [res(kinds=["Pod"])]}, kind="Policy")
    assert rule_matches(the_rule(loaded), pod(namespace="team"), policy=loaded)
    assert match_failures(the_rule(loaded), pod(namespace="prod"), policy=loaded) == [
        "policy and resource namespaces mismatch"
    ]


def test_ephemeral_containers_subresource_counts_as_pod() -> None:
    loaded = policy({"any": [res(kinds=["Pod"])]})
    identity = ResourceIdentity(
        group="", version="v1", kind="Pod", subresource="ephemeralcontainers"
    )
    assert rule_matches(the_rule(loaded), pod(), identity=identity)
    other = ResourceIdentity(group="", version="v1", kind="Pod", subresource="exec")
    assert not rule_matches(the_rule(loaded), pod(), identity=other)
    explicit = policy({"any": [res(kinds=["Pod/exec"])]})
    assert rule_matches(the_rule(explicit), pod(), identity=other)


def test_generate_name_is_used_without_name() -> None:
    loaded = policy({"any": [res(kinds=["Pod"], names=["web-*"])]})
    resource = pod()
    del resource["metadata"]["name"]
    resource["metadata"]["generateName"] = "web-"
    assert rule_matches(the_rule(loaded), resource)


def test_empty_resource_never_matches() -> None:
    loaded = policy({"any": [res(kinds=["Pod"])]})
    assert match_failures(the_rule(loaded), {}) == ["resource is empty"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("Pod", ("*", "*", "Pod", "")),
        ("v1/Pod", ("*", "v1", "Pod", "")),
        ("apps/v1/Deployment", ("apps", "v1", "Deployment", "")),
        ("Pod/status", ("*", "*", "Pod", "status")),
        ("Pod.status", ("*", "*", "Pod", "status")),
        ("v1/Pod/status", ("*", "v1", "Pod", "status")),
        ("apps/v1/Deployment/scale", ("apps", "v1", "Deployment", "scale")),
        ("*/*", ("*", "*", "*", "*")),
        ("*/status", ("*", "*", "*", "status")),
        ("v1beta1/Thing", ("*", "v1beta1", "Thing", "")),
        ("a/b/c/d/e", ("", "", "", "")),
    ],
)
def test_parse_kind_selector(selector: str, expected: tuple[str, str, str, str]) -> None:
    assert parse_kind_selector(selector) == expected


def test_selector_semantics() -> None:
    assert selector_matches(LabelSelector(), {"a": "b"})
    exists = LabelSelector(
        match_expressions=(LabelSelectorRequirement(key="a", operator="Exists"),)
    )
    assert selector_matches(exists, {"a": ""})
    assert not selector_matches(exists, {})
    with pytest.raises(PolicyError):
        selector_matches(
            LabelSelector(match_expressions=(LabelSelectorRequirement(key="a", operator="Like"),)),
            {},
        )
    with pytest.raises(PolicyError):
        selector_matches(LabelSelector(match_labels={"a": "not valid"}), {})
