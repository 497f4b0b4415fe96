"""The JSON Patch subset the evaluator writes: applied to a copy, parents created on add."""

from __future__ import annotations

import copy

import pytest

from imagesig.policy._jsonpatch import apply_patches, escape, patch


def test_patches_leave_the_input_unchanged_and_copy_only_patched_paths() -> None:
    document = {"metadata": {"name": "p"}, "spec": {"containers": [{"image": "a"}, {"image": "b"}]}}
    before = copy.deepcopy(document)
    result = apply_patches(
        document,
        [
            patch("add", "/metadata/annotations", {}),
            patch("add", f"/metadata/annotations/{escape('kyverno.io/verify-images')}", "{}"),
            patch("replace", "/spec/containers/1/image", "b@sha256:1"),
        ],
    )
    assert document == before
    assert result["metadata"]["annotations"] == {"kyverno.io/verify-images": "{}"}
    assert result["spec"]["containers"][1]["image"] == "b@sha256:1"
    assert result["spec"]["containers"][0] is document["spec"]["containers"][0]


def test_add_creates_missing_parents_and_remove_ignores_missing_paths() -> None:
    result = apply_patches(
        {"a": [1]},
        [
            patch("add", "/x/y", 1),
            patch("add", "/a/-", 2),
            patch("add", "/a/0", 0),
            patch("remove", "/nope"),
            patch("remove", "/a/9"),
        ],
    )
    assert result == {"a": [0, 1, 2], "x": {"y": 1}}
    assert apply_patches({"a": [1, 2]}, [patch("remove", "/a/0")]) == {"a": [2]}


@pytest.mark.parametrize(
    "operation",
    [
        patch("replace", "/missing/x", 1),
        patch("replace", "/missing", 1),
        patch("move", "/a", 1),
        patch("add", "", 1),
        {"op": "add", "path": "no-slash", "value": 1},
        patch("replace", "/a/b/c", 1),
    ],
)
def test_bad_operations_are_refused(operation: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        apply_patches({"a": "text"}, [operation])


def test_escape_follows_rfc_6901() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert apply_patches({"m": {"a/b~c": 1}}, [patch("replace", "/m/a~1b~0c", 2)]) == {
        "m": {"a/b~c": 2}
    }
