"""Image extraction (built-in and custom extractors) and autogen of pod-controller rules."""

from __future__ import annotations

import time
from typing import Any

import attrs
import pytest

from imagesig.errors import ImageExtractionError
from imagesig.policy.images import (
    ExtractedImage,
    autogen_rules,
    can_autogen,
    compute_rules,
    extract_images,
    image_matches,
    json_pointer,
    rule_images,
)
from imagesig.policy.load import policy_from_dict
from imagesig.policy.match import rule_matches
from imagesig.policy.model import (
    AUTOGEN_CONTROLLERS_ANNOTATION,
    ImageExtractorConfig,
    KyvernoPolicy,
    Rule,
)

DIGEST = "sha256:" + "a" * 64


def pod_spec() -> dict[str, Any]:
    return {
        "imagePullSecrets": [{"name": "regcred"}],
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [
            {"name": "app", "image": "ghcr.io/org/app:v1"},
            {"name": "side", "image": f"nginx@{DIGEST}"},
        ],
        "ephemeralContainers": [{"name": "debug", "image": "ghcr.io/org/debug"}],
    }


def controller(kind: str) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec()}
    if kind == "CronJob":
        spec: dict[str, Any] = {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": template}},
        }
    else:
        spec = {"template": template}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "n"},
        "spec": spec,
    }


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "n"},
        "spec": pod_spec(),
    }


PREFIXES = {
    "Pod": "/spec",
    "Deployment": "/spec/template/spec",
    "StatefulSet": "/spec/template/spec",
    "DaemonSet": "/spec/template/spec",
    "ReplicaSet": "/spec/template/spec",
    "ReplicationController": "/spec/template/spec",
    "Job": "/spec/template/spec",
    "CronJob": "/spec/jobTemplate/spec/template/spec",
}


@pytest.mark.parametrize("kind", list(PREFIXES))
def test_all_container_lists_of_every_workload(kind: str) -> None:
    # Catalogue item 31: initContainers and ephemeralContainers count too.
    resource = pod() if kind == "Pod" else controller(kind)
    images = extract_images(resource)
    prefix = PREFIXES[kind]
    assert [(i.group, i.key, i.pointer, i.reference) for i in images] == [
        ("initContainers", "init", f"{prefix}/initContainers/0/image", "docker.io/busybox:1.36"),
        ("containers", "app", f"{prefix}/containers/0/image", "ghcr.io/org/app:v1"),
        ("containers", "side", f"{prefix}/containers/1/image", f"docker.io/nginx@{DIGEST}"),
        (
            "ephemeralContainers",
            "debug",
            f"{prefix}/ephemeralContainers/0/image",
            "ghcr.io/org/debug:latest",
        ),
    ]
    assert all(image.pull_secrets == ("regcred",) for image in images)


def test_only_ephemeral_containers() -> None:
    resource = {
        "kind": "Pod",
        "spec": {"ephemeralContainers": [{"name": "d", "image": "evil.io/x:1"}]},
    }
    assert [image.reference for image in extract_images(resource)] == ["evil.io/x:1"]


def test_other_kinds_have_no_images() -> None:
    task = {"kind": "Task", "spec": {"steps": [{"name": "s", "image": "ubuntu"}]}}
    assert extract_images(task) == ()


@pytest.mark.parametrize("value", ["", " ", "\t\n", None, 5])
def test_empty_and_non_string_images_are_skipped(value: object) -> None:
    resource = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": value}]}}
    assert extract_images(resource) == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"containers": [{"name": "c", "image": "++"}]}, r"invalid image '\+\+'"),
        ({"containers": [{"name": "c", "image": "Nginx:latest:x"}]}, "invalid image"),
        ({"containers": [{"image": "nginx"}]}, "invalid key"),
        ({"containers": ["nginx"]}, "invalid image config"),
        ({"containers": "nginx"}, "invalid type"),
    ],
)
def test_extraction_failures(spec: dict[str, Any], message: str) -> None:
    resource = {"kind": "Pod", "spec": spec}
    with pytest.raises(ImageExtractionError, match=message):
        extract_images(resource)


def test_rule_sees_no_images_when_one_is_unparsable() -> None:
    # Kyverno's behaviour: one bad image hides all of them and the rule does not apply.
    resource = {
        "kind": "Pod",
        "spec": {
            "containers": [{"name": "a", "image": "ghcr.io/ok/app:1"}, {"name": "b", "image": "++"}]
        },
    }
    extraction = rule_images(resource, Rule(name="r"))
    assert extraction.images == ()
    assert extraction.error is not None
    assert "invalid image '++'" in extraction.error


def test_duplicate_names_keep_every_image() -> None:
    resource = {
        "kind": "Pod",
        "spec": {
            "containers": [
                {"name": "a", "image": "ghcr.io/one:1"},
                {"name": "a", "image": "ghcr.io/two:1"},
            ]
        },
    }
    extraction = rule_images(resource, Rule(name="r"))
    assert [image.reference for image in extraction.images] == ["ghcr.io/one:1", "ghcr.io/two:1"]
    # Kyverno's context keeps the last one per key.
    assert extraction.context()["containers"]["a"]["reference"] == "ghcr.io/two:1"
    assert extraction.context()["containers"]["a"]["jsonPointer"] == "/spec/containers/1/image"


def test_custom_extractor_replaces_built_in_for_its_kind() -> None:
    extractors = {"Pod": (ImageExtractorConfig(path="/spec/containers/*/image"),)}
    images = extract_images(pod(), extractors)
    assert [(image.group, image.key) for image in images] == [
        ("custom", "/spec/containers/0/image"),
        ("custom", "/spec/containers/1/image"),
    ]


def test_custom_extractor_over_maps_and_pointer_escaping() -> None:
    resource = {
        "kind": "Thing",
        "spec": {"images": {"a/b": {"ref": "ghcr.io/x:1"}, "c~d": {"ref": "ghcr.io/y:1"}}},
    }
    extractors = {
        "Thing": (ImageExtractorConfig(path="/spec/images/*", value="ref", name="things"),)
    }
    images = extract_images(resource, extractors)
    assert [image.pointer for image in images] == ["/spec/images/a~1b/ref", "/spec/images/c~0d/ref"]
    assert json_pointer(["a/b", "c~d"]) == "/a~1b/c~0d"


def test_empty_extractor_list_is_an_error() -> None:
    with pytest.raises(ImageExtractionError, match="no extractors found for Task"):
        extract_images({"kind": "Task"}, {"Task": ()})


def test_jmespath_extractor() -> None:
    resource = {
        "kind": "DataVolume",
        "spec": {"source": {"registry": {"url": "docker://kubevirt/disk"}}},
    }
    config = ImageExtractorConfig(
        path="/spec/source/registry/url", jmes_path="trim_prefix(@, 'docker://')"
    )
    (image,) = extract_images(resource, {"DataVolume": (config,)})
    assert image.reference == "docker.io/kubevirt/disk:latest"
    bad = ImageExtractorConfig(path="/spec/source/registry/url", jmes_path="length(@)")
    with pytest.raises(ImageExtractionError, match="must produce a string"):
        extract_images(resource, {"DataVolume": (bad,)})


def test_default_registry_settings() -> None:
    resource = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "team/app:1"}]}}
    (image,) = extract_images(resource, default_registry="registry.example.com")
    assert image.reference == "registry.example.com/team/app:1"
    (image,) = extract_images(
        resource, default_registry="registry.example.com", enable_default_registry_mutation=False
    )
    assert image.reference == "team/app:1"


def test_ten_thousand_containers_in_bounded_time() -> None:
    containers = [{"name": f"c{i}", "image": f"ghcr.io/org/app{i}:v1"} for i in range(10_000)]
    resource = {"kind": "Pod", "spec": {"containers": containers}}
    started = time.perf_counter()
    images = extract_images(resource)
    assert len(images) == 10_000
    assert time.perf_counter() - started < 5.0


def test_image_matches_uses_normalised_string() -> None:
    (image,) = extract_images(
        {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}
    )
    loaded = _policy({"any": [{"resources": {"kinds": ["Pod"]}}]}, references=["nginx:*"])
    assert not image_matches(image, loaded.spec.rules[0].verify_images)
    loaded = _policy({"any": [{"resources": {"kinds": ["Pod"]}}]}, references=["docker.io/nginx:*"])
    assert image_matches(image, loaded.spec.rules[0].verify_images)
    assert isinstance(image, ExtractedImage)
    # A tag plus a digest: the tag is gone from the string patterns see.
    assert not image_matches(
        f"ghcr.io/org/app@{DIGEST}",
        _policy({}, references=["ghcr.io/org/app:*"]).spec.rules[0].verify_images,
    )


# ------------------------------------------------------------------------------------------
# autogen


def _policy(
    match: dict[str, Any],
    *,
    exclude: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    references: list[str] | None = None,
    preconditions: Any = None,
    extra_rules: list[dict[str, Any]] | None = None,
) -> KyvernoPolicy:
    rule: dict[str, Any] = {
        "name": "check",
        "match": match or {"any": [{"resources": {"kinds": ["Pod"]}}]},
        "verifyImages": [
            {
                "imageReferences": references or ["*"],
                "mutateDigest": False,
                "attestations": [
                    {
                        "type": "t",
                        "conditions": [
                            {
                                "all": [
                                    {
                                        "key": "{{ request.object.spec.x }}",
                                        "operator": "Equals",
                                        "value": "y",
                                    }
                                ]
                            }
                        ],
                    }
                ],
            }
        ],
    }
    if exclude is not None:
        rule["exclude"] = exclude
    if preconditions is not None:
        rule["preconditions"] = preconditions
    metadata: dict[str, Any] = {"name": "p"}
    if annotations is not None:
        metadata["annotations"] = annotations
    document = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": metadata,
        "spec": {"rules": [rule, *(extra_rules or [])]},
    }
    return policy_from_dict(document, validate=False)


POD_MATCH = {"any": [{"resources": {"kinds": ["Pod"]}}]}


def test_autogen_rules_for_a_pod_rule() -> None:
    loaded = _policy(
        POD_MATCH,
        preconditions={
            "all": [
                {"key": "{{ request.object.metadata.name }}", "operator": "NotEquals", "value": ""}
            ]
        },
    )
    rules = compute_rules(loaded)
    assert [rule.name for rule in rules] == ["check", "autogen-check", "autogen-cronjob-check"]
    controllers = rules[1].match.any[0].resources.kinds
    assert controllers == (
        "apps/v1/DaemonSet",
        "apps/v1/Deployment",
        "batch/v1/Job",
        "apps/v1/ReplicaSet",
        "v1/ReplicationController",
        "apps/v1/StatefulSet",
    )
    assert rules[2].match.any[0].resources.kinds == ("batch/v1/CronJob",)
    # References shift into the pod template.
    assert rules[1].preconditions is not None
    assert rules[1].preconditions.all is not None
    assert rules[1].preconditions.all[0].key == "{{ request.object.spec.template.metadata.name }}"
    assert rules[2].preconditions is not None
    assert rules[2].preconditions.all is not None
    assert (
        rules[2].preconditions.all[0].key
        == "{{ request.object.spec.jobTemplate.spec.template.metadata.name }}"
    )
    condition = rules[1].verify_images[0].attestations[0].conditions[0].all
    assert condition is not None
    assert condition[0].key == "{{ request.object.spec.template.spec.x }}"
    assert loaded.spec.rules[0].preconditions.all[0].key == "{{ request.object.metadata.name }}"  # type: ignore[union-attr]
    assert loaded.computed_rules() == rules


def test_autogen_rules_match_their_controllers() -> None:
    rules = compute_rules(_policy(POD_MATCH))
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        resource = controller(kind)
        resource["apiVersion"] = "batch/v1" if kind == "Job" else "apps/v1"
        assert [rule.name for rule in rules if rule_matches(rule, resource)] == ["autogen-check"]
    cronjob = controller("CronJob")
    cronjob["apiVersion"] = "batch/v1"
    assert [rule.name for rule in rules if rule_matches(rule, cronjob)] == ["autogen-cronjob-check"]
    assert [rule.name for rule in rules if rule_matches(rule, pod())] == ["check"]


@pytest.mark.parametrize(
    ("annotation", "names"),
    [
        ("none", ["check"]),
        ("Deployment", ["check", "autogen-check"]),
        ("Deployment,CronJob", ["check", "autogen-check", "autogen-cronjob-check"]),
        ("CronJob", ["check", "autogen-cronjob-check"]),
        ("Deployment,StatefulSet", ["check", "autogen-check"]),
    ],
)
def test_autogen_annotation(annotation: str, names: list[str]) -> None:
    loaded = _policy(POD_MATCH, annotations={AUTOGEN_CONTROLLERS_ANNOTATION: annotation})
    rules = compute_rules(loaded)
    assert [rule.name for rule in rules] == names
    if annotation == "Deployment,StatefulSet":
        assert rules[1].match.any[0].resources.kinds == (
            "apps/v1/Deployment",
            "apps/v1/StatefulSet",
        )


@pytest.mark.parametrize(
    "match",
    [
        {"any": [{"resources": {"kinds": ["Pod"], "names": ["x"]}}]},
        {"any": [{"resources": {"kinds": ["Pod"], "selector": {"matchLabels": {"a": "b"}}}}]},
        {"any": [{"resources": {"kinds": ["Pod"], "annotations": {}}}]},
        {"any": [{"resources": {"kinds": ["Pod", "Deployment"]}}]},
        {"any": [{"resources": {"kinds": ["Service"]}}]},
    ],
    ids=["names", "selector", "empty-annotations", "mixed-kinds", "no-pods"],
)
def test_no_autogen(match: dict[str, Any]) -> None:
    loaded = _policy(match)
    assert can_autogen(loaded)[0] is False
    assert [rule.name for rule in compute_rules(loaded)] == ["check"]


def test_one_unsupported_rule_stops_autogen_for_the_policy() -> None:
    other = {
        "name": "named",
        "match": {"any": [{"resources": {"kinds": ["Pod"], "names": ["x"]}}]},
        "verifyImages": [{"imageReferences": ["*"], "mutateDigest": False}],
    }
    loaded = _policy(POD_MATCH, extra_rules=[other])
    assert [rule.name for rule in compute_rules(loaded)] == ["check", "named"]


def test_json_patch_or_generate_disables_autogen() -> None:
    mutate = {"name": "m", "match": POD_MATCH, "mutate": {"patchesJson6902": "- op: add"}}
    assert can_autogen(_policy(POD_MATCH, extra_rules=[mutate])) == (False, frozenset({"none"}))


def test_exclude_without_pod_stops_autogen_of_that_rule() -> None:
    loaded = _policy(POD_MATCH, exclude={"any": [{"resources": {"kinds": ["Service"]}}]})
    assert [rule.name for rule in compute_rules(loaded)] == ["check"]
    loaded = _policy(
        POD_MATCH,
        exclude={"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["kube-system"]}}]},
    )
    rules = compute_rules(loaded)
    assert rules[1].exclude is not None
    assert rules[1].exclude.any[0].resources.kinds[0] == "apps/v1/DaemonSet"
    assert rules[1].exclude.any[0].resources.namespaces == ("kube-system",)


def test_bare_match_form_and_long_names() -> None:
    loaded = _policy({"resources": {"kinds": ["Pod"]}})
    rules = compute_rules(loaded)
    assert rules[1].match.resources.kinds[0] == "apps/v1/DaemonSet"
    long_rule = loaded.spec.rules[0]

    long_policy = attrs.evolve(
        loaded, spec=attrs.evolve(loaded.spec, rules=(attrs.evolve(long_rule, name="x" * 60),))
    )
    names = [rule.name for rule in compute_rules(long_policy)]
    assert all(len(name) <= 63 for name in names)
    assert names[1] == ("autogen-" + "x" * 60)[:63]


def test_autogen_drops_image_extractors() -> None:
    loaded = _policy(POD_MATCH)
    with_extractors = attrs.evolve(
        loaded,
        spec=attrs.evolve(
            loaded.spec,
            rules=(
                attrs.evolve(
                    loaded.spec.rules[0],
                    image_extractors={"Pod": (ImageExtractorConfig(path="/spec/x"),)},
                ),
            ),
        ),
    )
    generated = autogen_rules(with_extractors, "Deployment")
    assert generated[0].image_extractors is None


def test_written_autogen_rules_are_replaced() -> None:
    stale = {
        "name": "autogen-check",
        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
        "verifyImages": [{"imageReferences": ["stale/*"], "mutateDigest": False}],
    }
    rules = compute_rules(_policy(POD_MATCH, extra_rules=[stale]))
    assert [rule.name for rule in rules] == [
        "check",
        "autogen-check",
        "autogen-cronjob-check",
    ]
    assert rules[1].verify_images[0].image_references == ("*",)
