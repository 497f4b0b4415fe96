"""Conditions: variable substitution, Kyverno's operators and any/all blocks."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import shared_dir

from imagesig.errors import ConditionError
from imagesig.policy.conditions import (
    MAX_SUBSTITUTED_BYTES,
    evaluate_condition,
    evaluate_condition_blocks,
    evaluate_conditions,
    go_sprint,
    parse_duration,
    parse_quantity,
    substitute,
)
from imagesig.policy.load import load_policies
from imagesig.policy.model import AnyAllConditions, Condition

CONTEXT: dict[str, Any] = {
    "request": {
        "operation": "CREATE",
        "object": {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 3}},
    },
    "image": {"registry": "ghcr.io", "tag": "v1.2.3"},
    "items": ["a", "b"],
}


def check(key: Any, operator: str, value: Any, context: dict[str, Any] | None = None) -> bool:
    holds, _ = evaluate_condition(
        Condition(key=key, operator=operator, value=value), context or CONTEXT
    )
    return holds


# ------------------------------------------------------------------------------------------
# substitution


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{request.operation}}", "CREATE"),
        ("{{ request.object.spec.replicas }}", 3),
        ("{{request.object.metadata.labels}}", {"app": "web"}),
        ("name={{request.object.metadata.name}}", "name=web"),
        ("r={{request.object.spec.replicas}}!", "r=3!"),
        ("{{items}}-x", '["a","b"]-x'),
        ("\\{{request.operation}}", "{{request.operation}}"),
        ("{{ to_upper(request.operation) }}", "CREATE"),
        ("{{ trim_prefix('docker://x', 'docker://') }}", "x"),
        ("no variables", "no variables"),
        ("{{request.object.metadata.name}}/{{image.registry}}", "web/ghcr.io"),
    ],
)
def test_substitution(text: str, expected: Any) -> None:
    assert substitute(text, CONTEXT) == expected


def test_nested_variables_resolve_inside_out() -> None:
    context = {"which": "name", "meta": {"name": "web"}}
    assert substitute("{{ meta.{{which}} }}", context) == "web"


def test_substitution_in_structures_and_keys() -> None:
    assert substitute({"{{request.operation}}": ["{{image.tag}}", 1]}, CONTEXT) == {
        "CREATE": ["v1.2.3", 1]
    }


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(ConditionError, match="not found"):
        substitute("{{ request.object.metadata.missing }}", CONTEXT)
    with pytest.raises(ConditionError):
        substitute("{{ request.[ }}", CONTEXT)


def test_unknown_function_is_an_error() -> None:
    with pytest.raises(ConditionError, match="regex_match"):
        substitute("{{ regex_match('a', 'b') }}", CONTEXT)


def test_growing_substitution_is_capped() -> None:
    # Catalogue item 33: a value that doubles on every reference stops at the size limit.
    context: dict[str, Any] = {"v": "x" * 1024}
    text = "{{v}}" * 4096
    started = time.perf_counter()
    with pytest.raises(ConditionError, match="more than"):
        substitute(text, context)
    amplified = "{{ replace_all(replace_all(replace_all(v, 'x', v), 'x', v), 'x', v) }}"
    with pytest.raises(ConditionError):
        substitute(amplified, context)
    assert time.perf_counter() - started < 5.0
    assert MAX_SUBSTITUTED_BYTES == 2 * 1024 * 1024


def test_self_referencing_variables_stop() -> None:
    with pytest.raises(ConditionError, match="nest more than"):
        substitute("x{{loop}}", {"loop": "again {{loop}}"})


def test_null_where_a_list_is_expected_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConditionError):
        check("{{ nothing }}", "AnyIn", ["a"])


# ------------------------------------------------------------------------------------------
# operators

OPERATORS: list[tuple[Any, str, Any, bool]] = [
    ("{{request.operation}}", "Equals", "CREATE", True),
    ("{{request.operation}}", "equals", "CREATE", True),
    ("{{request.operation}}", "NotEquals", "DELETE", True),
    ("{{request.operation}}", "NotEquals", "CREATE", False),
    ("{{request.operation}}", "In", ["CREATE", "UPDATE"], True),
    ("{{request.operation}}", "In", ["DELETE"], False),
    ("{{request.operation}}", "NotIn", ["DELETE", "CONNECT"], True),
    ("{{request.operation}}", "AnyIn", ["CREATE", "UPDATE"], True),
    ("{{request.operation}}", "AnyNotIn", ["DELETE"], True),
    ("{{request.operation}}", "AllNotIn", ["DELETE"], True),
    ("{{request.operation}}", "AllIn", ["CR*"], True),
    ("ghcr.io/org/app", "Equals", "ghcr.io/*", True),
    ("ghcr.io/org/app", "Equals", "docker.io/*", False),
    ("1h", "Equals", "60m", True),
    ("1h", "NotEquals", "60m", False),
    ("1Gi", "Equals", "1024Mi", True),
    ("1Gi", "NotEquals", "1Gi", False),
    (3, "Equals", 3.0, True),
    (3, "Equals", "3", True),
    (3, "NotEquals", "4", True),
    (True, "Equals", True, True),
    (True, "Equals", "true", False),
    ([1, 2], "Equals", [1, 2], True),
    ({"a": 1}, "Equals", {"a": 1}, True),
    ({"a": 1}, "NotEquals", {"a": 2}, True),
    (["a", "b"], "AnyIn", ["b", "c"], True),
    (["a", "b"], "AllIn", ["b", "c"], False),
    (["a", "b"], "AllIn", ["a", "b", "c"], True),
    (["a", "b"], "AnyNotIn", ["a"], True),
    (["a", "b"], "AllNotIn", ["c"], True),
    (["a", "b"], "In", ["a", "b", "c"], True),
    (["a", "z"], "NotIn", ["a", "b"], True),
    ("b", "AnyIn", '["a","b"]', True),
    ("b", "In", '["a","b"]', True),
    ("3", "AnyIn", "1-5", True),
    ("7", "AnyIn", "1-5", False),
    ("7", "AnyNotIn", "1-5", True),
    ([2, 3], "AllIn", "1-5", True),
    ([2, 9], "AllIn", "1-5", False),
    (5, "AnyIn", [5], True),
    ("5", "GreaterThan", "4", True),
    (5, "GreaterThanOrEquals", 5, True),
    (5, "LessThan", "4", False),
    ("2h", "GreaterThan", "90m", True),
    ("1h", "DurationGreaterThan", "30m", True),
    (30, "LessThan", "1m", True),  # a number counts as seconds against a duration
    ("30", "LessThan", "1m", False),  # a string is not: both are quantities, 1m = 0.001
    ("500Mi", "LessThan", "1Gi", True),
    ("1.10.0", "GreaterThan", "1.9.3", True),
    ("v1.2.3", "LessThan", "v1.2.4", True),
    ("1.2.3-rc.1", "LessThan", "1.2.3", True),
    ("abc", "GreaterThan", "abd", False),
    ("{{image.tag}}", "GreaterThan", "v1.2.0", True),
]


@pytest.mark.parametrize(("key", "operator", "value", "expected"), OPERATORS)
def test_operators(key: Any, operator: str, value: Any, expected: bool) -> None:
    assert check(key, operator, value) is expected


def test_unknown_operator_is_an_error() -> None:
    with pytest.raises(ConditionError, match="unknown condition operator"):
        check("a", "Matches", "b")


def test_any_all_blocks() -> None:
    equal = Condition(
        key="{{request.operation}}", operator="Equals", value="CREATE", message="is create"
    )
    differ = Condition(
        key="{{request.operation}}", operator="Equals", value="DELETE", message="is delete"
    )
    assert evaluate_conditions(AnyAllConditions(any=(differ, equal)), CONTEXT) == (
        True,
        "is create",
    )
    assert evaluate_conditions(AnyAllConditions(all=(equal, differ)), CONTEXT) == (
        False,
        "is delete",
    )
    assert evaluate_conditions(AnyAllConditions(), CONTEXT) == (True, "")
    # An empty any-list, like Kyverno's, holds for nothing.
    assert evaluate_conditions(AnyAllConditions(any=()), CONTEXT)[0] is False
    assert evaluate_condition_blocks(
        [AnyAllConditions(all=(equal,)), AnyAllConditions(any=(differ,))], CONTEXT
    ) == (False, "is delete")
    assert evaluate_condition_blocks([AnyAllConditions(all=(equal,))] * 2, CONTEXT) == (
        True,
        "is create;is create",
    )


def test_any_short_circuits_before_errors() -> None:
    first = Condition(key="a", operator="Equals", value="a")
    broken = Condition(key="{{ missing }}", operator="Equals", value="x")
    assert evaluate_conditions(AnyAllConditions(any=(first, broken)), CONTEXT)[0] is True
    with pytest.raises(ConditionError, match="condition key"):
        evaluate_conditions(AnyAllConditions(all=(first, broken)), CONTEXT)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("1h30m", 5400.0),
        ("-1.5s", -1.5),
        ("300ms", 0.3),
        ("1h1h", 7200.0),
        ("2µs", 2e-6),
        ("1.s", 1.0),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", ".s", "abc", "1h-2m"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Ki", Decimal(1024)),
        ("1.5", Decimal("1.5")),
        ("100m", Decimal("0.1")),
        ("2e3", Decimal(2000)),
        ("-1G", Decimal(-(10**9))),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1KiB", "abc", "1.2.3", "Ki"])
def test_not_quantities(text: str) -> None:
    assert parse_quantity(text) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.5, "1.5"),
        (True, "true"),
        (1e21, "1e+21"),
        (0.00001, "1e-05"),
        (None, "<nil>"),
        (["a", 1], "[a 1]"),
    ],
)
def test_go_sprint(value: Any, text: str) -> None:
    assert go_sprint(value) == text


# ------------------------------------------------------------------------------------------
# the mock-attestation statements of the shared vectors: conditions only, no signatures

VECTORS = shared_dir() / "vectors" / "kyverno" / "mock-attestations"


def _statements() -> list[dict[str, Any]]:
    data = json.loads((VECTORS / "statements.json").read_text())
    items = (
        data if isinstance(data, list) else next(v for v in data.values() if isinstance(v, list))
    )
    return [item["statement"] for item in items]


@pytest.mark.skipif(not VECTORS.is_dir(), reason="vectors not present")
@pytest.mark.parametrize(
    ("policy_name", "expected"), [("attest-good", True), ("attest-bad", False)]
)
def test_mock_attestation_conditions(policy_name: str, expected: bool) -> None:
    policies = {
        policy.name: policy
        for policy in load_policies(
            Path(VECTORS / "policies-and-pod.yaml"), apply_defaults=False, skip_other_kinds=True
        )
    }
    attestation = policies[policy_name].spec.rules[0].verify_images[0].attestations[0]
    matching = [s for s in _statements() if s.get("predicateType") == attestation.effective_type]
    assert len(matching) == 2
    results = []
    for statement in matching:
        context = {**CONTEXT, **statement["predicate"]}
        results.append(evaluate_condition_blocks(attestation.conditions, context)[0])
    # Every statement of the type must satisfy the conditions.
    assert all(results) is expected
