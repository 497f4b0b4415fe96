"""Safe YAML for policies: limits, alias bombs, duplicate keys, foreign tags."""

from __future__ import annotations

import time

import pytest

from imagesig.errors import PolicyParseError
from imagesig.policy._yaml import MAX_YAML_BYTES, MAX_YAML_DEPTH, load_yaml_documents

BILLION_LAUGHS = (
    "a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join(["*" + chr(97 + i)] * 9) + "]\n"
        for i in range(9)
    )
)


def test_multi_document_stream() -> None:
    docs = load_yaml_documents("a: 1\n---\n---\nb: [x, 2.5, null, true]\n")
    assert docs == [{"a": 1}, None, {"b": ["x", 2.5, None, True]}]


def test_timestamps_stay_text_and_keys_become_strings() -> None:
    (doc,) = load_yaml_documents("when: 2024-01-01\n1: one\ntrue: yes-key\n")
    assert doc == {"when": "2024-01-01", "1": "one", "true": "yes-key"}


def test_benign_aliases_and_merge_keys_load() -> None:
    (doc,) = load_yaml_documents("base: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n")
    assert doc == {"base": {"x": 1}, "use": {"x": 1}, "merged": {"x": 1, "y": 2}}


def test_billion_laughs_is_refused_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(PolicyParseError, match="alias bomb"):
        load_yaml_documents(BILLION_LAUGHS)
    assert time.perf_counter() - started < 3.0


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(PolicyParseError, match="contains it"):
        load_yaml_documents("a: &a [1, *a]\n")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(PolicyParseError, match="duplicate key 'mutateDigest'"):
        load_yaml_documents("mutateDigest: false\nmutateDigest: true\n")


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x}\n",
        "a: !!python/object:os.system x\n",
        "a: !custom x\n",
    ],
)
def test_foreign_tags_are_refused(text: str) -> None:
    with pytest.raises(PolicyParseError):
        load_yaml_documents(text)


def test_size_limit() -> None:
    with pytest.raises(PolicyParseError, match="more than"):
        load_yaml_documents(b"#" * (MAX_YAML_BYTES + 1))


@pytest.mark.parametrize("text", ["[" * 100_000, "- " * 5_000 + "x"])
def test_deep_nesting_is_refused(text: str) -> None:
    with pytest.raises(PolicyParseError):
        load_yaml_documents(text)


def test_depth_through_aliases_is_bounded() -> None:
    lines = ["a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_YAML_DEPTH + 5)]
    with pytest.raises(PolicyParseError, match="nesting deeper"):
        load_yaml_documents("\n".join(lines) + "\n")


def test_invalid_yaml_and_encoding() -> None:
    with pytest.raises(PolicyParseError, match="invalid YAML"):
        load_yaml_documents("a: [1, 2\n", source="broken.yaml")
    with pytest.raises(PolicyParseError, match="not UTF-8"):
        load_yaml_documents(b"\xff\xfe\x00")


def test_byte_order_mark_is_accepted() -> None:
    assert load_yaml_documents("\ufeffa: 1\n".encode()) == [{"a": 1}]
