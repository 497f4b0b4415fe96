"""in-toto statements: cosign's bytes on build, protobuf-JSON strictness and caps on parse."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from imagesig.errors import SizeLimitExceededError, StatementError
from imagesig.reference import Digest
from imagesig.signatures import intoto
from imagesig.signatures.intoto import (
    MAX_SUBJECT_DIGESTS,
    MAX_SUBJECTS,
    STATEMENT_TYPE_V01,
    STATEMENT_TYPE_V1,
    Statement,
    Subject,
)

DIGEST = Digest.from_bytes(b"manifest")
OTHER = Digest.from_bytes(b"other")


def statement(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": "r.example/app", "digest": {"sha256": DIGEST.hex}}],
        "predicateType": "https://example.com/p/v1",
        "predicate": {"k": "v"},
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not ...}


def parse(document: dict[str, Any]) -> Statement:
    return Statement.parse(json.dumps(document).encode())


def test_build_writes_the_statement_cosign_sign_signs() -> None:
    assert intoto.build(DIGEST) == (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"'
        + DIGEST.hex.encode()
        + b'"},"annotations":{}}],"predicateType":"https://sigstore.dev/cosign/sign/v1",'
        b'"predicate":{}}'
    )


def test_build_writes_annotations_sorted_without_html_escaping() -> None:
    raw = intoto.build(str(DIGEST), {"z": "1", "a": "<&>"})
    assert b'"annotations":{"a":"<&>","z":"1"}' in raw
    parsed = Statement.parse(raw)
    assert parsed.subject_matches(DIGEST)
    assert dict(parsed.subjects[0].annotations or {}) == {"a": "<&>", "z": "1"}
    assert parsed.to_json() == raw


def test_to_json_orders_fields_as_protobuf_declares_them() -> None:
    subject = Subject(
        digest={"sha512": "b" * 128, "sha256": "a" * 64},
        name="n",
        annotations={"b": 1, "a": [True, None]},
        uri="u",
        download_location="d",
        media_type="m",
        content=b"\x00",
    )
    predicate = {"y": 1.5, "x": {"b": 1, "a": 2}}
    raw = Statement(STATEMENT_TYPE_V01, [subject], "p", predicate).to_json()
    assert raw == (
        b'{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"n","uri":"u",'
        b'"digest":{"sha256":"' + b"a" * 64 + b'","sha512":"' + b"b" * 128 + b'"},"content":"AA==",'
        b'"downloadLocation":"d","mediaType":"m","annotations":{"a":[true,null],"b":1}}],'
        b'"predicateType":"p","predicate":{"x":{"a":2,"b":1},"y":1.5}}'
    )
    assert Statement.parse(raw) == Statement(STATEMENT_TYPE_V01, [subject], "p", predicate)
    assert Statement.parse(raw) != Statement(STATEMENT_TYPE_V01, [subject], "p", {})


@pytest.mark.parametrize("kind", [STATEMENT_TYPE_V1, STATEMENT_TYPE_V01])
def test_parse_reads_both_statement_types(kind: str) -> None:
    parsed = parse(statement(_type=kind))
    assert parsed.type == kind
    assert parsed.predicate_type == "https://example.com/p/v1"
    assert parsed.predicate == {"k": "v"}
    assert parsed.subjects[0].name == "r.example/app"
    assert parsed.subject_matches(DIGEST)
    assert not parsed.subject_matches(OTHER)


def test_subject_match_compares_the_digest_algorithm_and_exact_hex() -> None:
    parsed = parse(
        statement(
            subject=[
                {"digest": {"sha512": DIGEST.hex}},
                {"digest": {"sha256": DIGEST.hex.upper()}},
                {"name": "second", "digest": {"sha256": DIGEST.hex, "sha1": "0" * 40}},
            ]
        )
    )
    assert parsed.matching_subject(DIGEST) == parsed.subjects[2]


def test_parse_accepts_proto_field_names_and_null_as_unset() -> None:
    parsed = parse(
        {
            "type": STATEMENT_TYPE_V1,
            "subject": [{"digest": {"sha256": DIGEST.hex}, "media_type": "m", "uri": None}],
            "predicate_type": "p",
            "predicate": None,
        }
    )
    assert parsed.subjects[0].media_type == "m"
    assert parsed.predicate is None


def test_parse_accepts_a_legacy_string_predicate() -> None:
    assert parse(statement(predicate="SPDXVersion: SPDX-2.2")).predicate == "SPDXVersion: SPDX-2.2"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (statement(_type="https://in-toto.io/Statement/v0.2"), "_type"),
        (statement(_type=...), "_type"),
        (statement(predicateType=...), "predicateType"),
        (statement(predicateType=""), "predicateType"),
        (statement(subject=[]), "subject"),
        (statement(subject=None), "subject"),
        (statement(subject=[None]), "subject[0]"),
        (statement(subject=[{"name": "x"}]), "subject[0].digest"),
        (statement(subject=[{"digest": {"sha256": 5}}]), "subject[0].digest"),
        (
            statement(subject=[{"digest": {"sha256": DIGEST.hex}, "annotations": []}]),
            "subject[0].annotations",
        ),
        (statement(subject=[{"digest": {"sha256": DIGEST.hex}, "Name": "x"}]), "Name"),
        (statement(predicate=[1]), "predicate"),
        (statement(predicate=5), "predicate"),
        (statement(extra=1), "extra"),
        (statement(predicate_type="p"), "predicateType"),
        (statement(type=STATEMENT_TYPE_V1), "_type"),
    ],
)
def test_parse_refuses_malformed_statements(document: dict[str, Any], field: str) -> None:
    with pytest.raises(StatementError) as info:
        parse(document)
    assert info.value.context.get("field") == field


def test_parse_refuses_duplicate_keys() -> None:
    raw = (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"%s",'
        b'"sha256":"%s"}}],"predicateType":"p"}' % (DIGEST.hex.encode(), OTHER.hex.encode())
    )
    with pytest.raises(StatementError, match="duplicate"):
        Statement.parse(raw)


def test_parse_refuses_2000_subjects_quickly() -> None:
    subjects = [{"digest": {"sha256": DIGEST.hex}}] * 2000
    raw = json.dumps(statement(subject=subjects)).encode()
    start = time.perf_counter()
    with pytest.raises(SizeLimitExceededError) as info:
        Statement.parse(raw)
    assert time.perf_counter() - start < 3.0
    assert info.value.context["limit"] == MAX_SUBJECTS


def test_parse_accepts_exactly_the_subject_cap() -> None:
    subjects = [{"digest": {"sha256": DIGEST.hex}}] * MAX_SUBJECTS
    assert len(parse(statement(subject=subjects)).subjects) == MAX_SUBJECTS


def test_parse_refuses_100_digests_per_subject() -> None:
    digests = {f"alg{i}": "00" for i in range(100)}
    with pytest.raises(SizeLimitExceededError) as info:
        parse(statement(subject=[{"digest": digests}]))
    assert info.value.context["limit"] == MAX_SUBJECT_DIGESTS


def test_parse_refuses_deep_predicates_and_large_statements() -> None:
    nested = json.loads('{"a":' * 50 + "1" + "}" * 50)
    with pytest.raises(SizeLimitExceededError, match="nests deeper"):
        parse(statement(predicate=nested))
    big = json.dumps(statement(predicate={"pad": "A" * 10_000_000})).encode()
    with pytest.raises(SizeLimitExceededError):
        Statement.parse(big, max_bytes=1024 * 1024)


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("custom", "https://cosign.sigstore.dev/attestation/v1"),
        ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("spdx", "https://spdx.dev/Document"),
        ("spdxjson", "https://spdx.dev/Document"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", "https://openvex.dev/ns"),
        ("link", "https://in-toto.io/Link/v1"),
    ],
)
def test_predicate_type_short_names_map_as_cosign_maps_them(name: str, uri: str) -> None:
    assert intoto.resolve_predicate_type(name) == uri
    assert intoto.resolve_predicate_type(uri) == uri


def test_predicate_type_table_has_exactly_cosigns_names() -> None:
    assert set(intoto.PREDICATE_TYPES) == {
        "custom",
        "slsaprovenance",
        "slsaprovenance02",
        "slsaprovenance1",
        "spdx",
        "spdxjson",
        "cyclonedx",
        "link",
        "vuln",
        "openvex",
    }


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/predicate/v1?x=1#frag",
        "http://[::1]:8080/p",
        "urn:example:predicate",
        "/absolute/path",
        "https://example.com:/p",
    ],
)
def test_predicate_type_uris_are_used_verbatim(value: str) -> None:
    assert intoto.resolve_predicate_type(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Custom",
        "SLSAProvenance",
        "relative/path",
        "http://a b/",
        "https://h:8x/",
        "https://example.com/%zz",
        "1http://x",
        ":nothing",
        "https://x/\n",
        "a" * 5000,
    ],
)
def test_predicate_type_refuses_names_cosign_refuses(value: str) -> None:
    with pytest.raises(StatementError, match="invalid predicate type"):
        intoto.resolve_predicate_type(value)
