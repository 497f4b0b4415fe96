"""Kyverno's wildcard: the upstream table, a reference port as oracle, and hostile patterns."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import shared_dir

from imagesig.policy.wildcard import WildcardPattern, contains_wildcard, match, match_any

TABLES = shared_dir() / "vectors" / "kyverno" / "matching-tables.yaml"


def _tables() -> dict[str, object]:
    if not TABLES.is_file():
        return {}
    data = yaml.safe_load(TABLES.read_text())
    assert isinstance(data, dict)
    return data


def _cases(section: str) -> list[dict[str, object]]:
    data = _tables()
    if not data:
        return []
    block = data[section]
    assert isinstance(block, dict)
    return list(block["cases"])


def _reference(pattern: str, text: str) -> bool:
    """Backtracking matcher with go-wildcard v1.0.3's rules (exponential; short inputs only)."""
    if pattern == "":
        return text == ""
    if pattern == "*":
        return True

    def deep(s: str, p: str) -> bool:
        while p:
            head = p[0]
            if head == "*":
                return deep(s, p[1:]) or (len(s) > 0 and deep(s[1:], p))
            if head == "?":
                if not s:
                    return False
            elif not s or s[0] != head:
                return False
            s, p = s[1:], p[1:]
        return not s and not p

    return deep(text, pattern)


@pytest.mark.parametrize(
    "case",
    _cases("wildcard_match"),
    ids=lambda c: f"{c['pattern']!r}~{c['text']!r}",
)
def test_upstream_wildcard_table(case: dict[str, object]) -> None:
    assert match(str(case["pattern"]), str(case["text"])) is case["matched"]


@pytest.mark.parametrize(
    "case", _cases("derived_image_patterns"), ids=lambda c: f"{c['pattern']}~{c['image']}"
)
def test_derived_image_patterns(case: dict[str, object]) -> None:
    assert match(str(case["pattern"]), str(case["image"])) is case["matched"]


@pytest.mark.parametrize("case", _cases("image_matches"), ids=lambda c: str(c["name"]))
def test_image_matches_table(case: dict[str, object]) -> None:
    patterns = case["patterns"]
    assert isinstance(patterns, list)
    assert match_any(patterns, str(case["image"])) is case["matched"]


def test_upstream_table_is_complete() -> None:
    if not TABLES.is_file():
        pytest.skip("vectors not present")
    assert len(_cases("wildcard_match")) == 52
    assert len(_cases("derived_image_patterns")) == 9


_ALPHABET = st.sampled_from("ab*?/:")


@settings(max_examples=600, deadline=None)
@given(st.text(_ALPHABET, max_size=8), st.text(st.sampled_from("ab/:"), max_size=10))
def test_agrees_with_backtracking_reference(pattern: str, text: str) -> None:
    assert match(pattern, text) is _reference(pattern, text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_agrees_with_reference_on_any_characters(pattern: str, text: str) -> None:
    assert match(pattern, text) is _reference(pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("**", "", True),
        ("?", "", False),
        ("?", "é", True),  # one code point, like a Go rune
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("*/nginx:*", "docker.io/nginx:latest", True),
        ("ghcr.io/*", "GHCR.io/x:1", False),
        ("a?c*", "abcdef", True),
        ("*?", "", False),
        ("*??*", "a", False),
        ("*??*", "ab", True),
    ],
)
def test_semantics(pattern: str, text: str, expected: bool) -> None:
    assert match(pattern, text) is expected
    assert WildcardPattern.compile(pattern).matches(text) is expected


def test_contains_wildcard() -> None:
    assert contains_wildcard("a*")
    assert contains_wildcard("a?")
    assert not contains_wildcard("abc")


# Catalogue item 32: hostile patterns finish in bounded time (a backtracking matcher needs
# hours or more on these).
@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("*" * 10_000 + "b", "a" * 100_000),
        ("*a" * 5_000 + "b", "a" * 100_000),
        ("*a?" * 3_000 + "b", "a" * 100_000),
        ("*" + "?" * 5_000 + "*b", "a" * 50_000),
        ("(a+)+$", "a" * 50_000 + "!"),
        ("ghcr.io/*/*/*/*/*/*/*/*/*/*/*/*/*/*/x", "ghcr.io/" + "a/" * 20_000 + "y"),
    ],
    ids=["10k-stars", "star-a-chain", "star-a-any-chain", "many-any", "redos-text", "segments"],
)
def test_hostile_patterns_are_linear(pattern: str, text: str) -> None:
    started = time.perf_counter()
    assert match(pattern, text) is False
    assert time.perf_counter() - started < 2.0


def test_long_matching_pattern_is_fast() -> None:
    pattern = "*a" * 5_000 + "*"
    started = time.perf_counter()
    assert match(pattern, "a" * 20_000)
    assert time.perf_counter() - started < 2.0
