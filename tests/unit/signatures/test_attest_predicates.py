"""Typed predicate views (lenient) and predicate files turned into predicates as cosign does."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagesig.errors import SizeLimitExceededError, StatementError
from imagesig.signatures.intoto import (
    COSIGN_CUSTOM_PREDICATE_TYPE,
    CYCLONEDX_PREDICATE_TYPE,
    OPENVEX_PREDICATE_TYPE,
    SLSA_PROVENANCE_V02_PREDICATE_TYPE,
    SLSA_PROVENANCE_V1_PREDICATE_TYPE,
    SPDX_PREDICATE_TYPE,
    Statement,
)
from imagesig.signatures.predicates import (
    MAX_PREDICATE_FILE_BYTES,
    PREDICATE_CLASSES,
    CosignCustom,
    CosignVuln,
    CycloneDXBOM,
    ResourceDescriptor,
    SLSAProvenanceV02,
    SLSAProvenanceV1,
    SPDXDocument,
    build_predicate,
    parse_predicate,
    predicate_of,
)

SLSA_V02 = {
    "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/generic@v1"},
    "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
    "invocation": {
        "configSource": {
            "uri": "git+https://github.com/team/app@refs/tags/v1.4",
            "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"},
            "entryPoint": ".github/workflows/release.yml",
        },
        "parameters": {"version": "1.4"},
        "environment": {"github_run_id": "42"},
    },
    "buildConfig": {"steps": []},
    "metadata": {
        "buildInvocationId": "42-1",
        "buildStartedOn": "2025-02-28T19:18:11Z",
        "buildFinishedOn": "2025-02-28T19:20:00Z",
        "completeness": {"parameters": True},
        "reproducible": False,
    },
    "materials": [
        {"uri": "git+https://github.com/team/app", "digest": {"sha1": "0123"}},
        {"uri": "pkg:docker/golang@1.22", "digest": {"sha256": "abcd"}},
    ],
}

SLSA_V1 = {
    "buildDefinition": {
        "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
        "externalParameters": {"workflow": {"ref": "refs/tags/v1.4", "path": "release.yml"}},
        "internalParameters": {"github": {"event_name": "push"}},
        "resolvedDependencies": [
            {
                "uri": "git+https://github.com/team/app@refs/tags/v1.4",
                "digest": {"gitCommit": "0123"},
                "name": "source",
                "annotations": {"x": 1},
            }
        ],
    },
    "runDetails": {
        "builder": {
            "id": "https://github.com/actions/runner/github-hosted",
            "version": {"runner": "2.300"},
            "builderDependencies": [{"uri": "pkg:github/actions/checkout@v4"}],
        },
        "metadata": {
            "invocationId": "https://github.com/team/app/actions/runs/42/attempts/1",
            "startedOn": "2025-02-28T19:18:11Z",
            "finishedOn": "2025-02-28T19:20:00Z",
        },
        "byproducts": [{"name": "log", "digest": {"sha256": "ff"}}],
    },
}


def test_slsa_v02_fields() -> None:
    view = parse_predicate(SLSA_PROVENANCE_V02_PREDICATE_TYPE, SLSA_V02)
    assert isinstance(view, SLSAProvenanceV02)
    assert view.builder_id == SLSA_V02["builder"]["id"]  # type: ignore[index]
    assert view.build_type.endswith("generic@v1")
    assert view.config_source == ResourceDescriptor(
        uri="git+https://github.com/team/app@refs/tags/v1.4",
        digest={"sha1": "0123456789abcdef0123456789abcdef01234567"},
    )
    assert view.entry_point == ".github/workflows/release.yml"
    assert view.parameters == {"version": "1.4"}
    assert view.environment == {"github_run_id": "42"}
    assert view.invocation_id == "42-1"
    assert view.started_on == "2025-02-28T19:18:11Z"
    assert view.reproducible is False
    assert [m.uri for m in view.materials] == [
        "git+https://github.com/team/app",
        "pkg:docker/golang@1.22",
    ]
    assert view.version == "0.2"
    assert view.raw is SLSA_V02
    data = view.to_dict()
    assert data["builderId"] == view.builder_id
    assert data["materials"][1] == {"uri": "pkg:docker/golang@1.22", "digest": {"sha256": "abcd"}}
    assert data["parameters"] == {"version": "1.4"}
    assert json.loads(json.dumps(data)) == data


def test_slsa_v1_fields() -> None:
    view = parse_predicate(SLSA_PROVENANCE_V1_PREDICATE_TYPE, SLSA_V1)
    assert isinstance(view, SLSAProvenanceV1)
    assert view.builder_id == "https://github.com/actions/runner/github-hosted"
    assert view.build_type.endswith("workflow/v1")
    assert view.external_parameters["workflow"]["ref"] == "refs/tags/v1.4"
    assert view.parameters is view.external_parameters
    assert view.internal_parameters == {"github": {"event_name": "push"}}
    (dependency,) = view.resolved_dependencies
    assert dependency.name == "source"
    assert dependency.digest == {"gitCommit": "0123"}
    assert dependency.annotations == {"x": 1}
    assert view.materials == view.resolved_dependencies
    assert view.builder_version == {"runner": "2.300"}
    assert [d.uri for d in view.builder_dependencies] == ["pkg:github/actions/checkout@v4"]
    assert view.invocation_id.endswith("/attempts/1")
    assert view.finished_on == "2025-02-28T19:20:00Z"
    assert [b.name for b in view.byproducts] == ["log"]
    data = view.to_dict()
    assert data["version"] == "1"
    assert data["materials"] == data["resolvedDependencies"]
    assert data["materials"][0]["annotations"] == {"x": 1}
    assert json.loads(json.dumps(data)) == data


def test_slsa_v1_reads_the_older_invocation_id_spelling() -> None:
    view = SLSAProvenanceV1.from_predicate({"runDetails": {"metadata": {"invocationID": "7"}}})
    assert view.invocation_id == "7"


@pytest.mark.parametrize(
    "predicate",
    [
        None,
        "text",
        [],
        42,
        {"builder": "not an object", "materials": "nope", "metadata": []},
        {"buildDefinition": {"resolvedDependencies": [1, "x", None, {"digest": {"a": 1}}]}},
        {"runDetails": {"builder": {"id": 5}}, "invocation": {"parameters": [1]}},
    ],
)
@pytest.mark.parametrize("predicate_type", sorted(PREDICATE_CLASSES))
def test_views_are_lenient_and_never_raise(predicate_type: str, predicate: Any) -> None:
    view = parse_predicate(predicate_type, predicate)
    assert view is not None
    data = view.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["predicateType"] == predicate_type


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_views_never_raise_on_random_json(predicate: Any) -> None:
    for predicate_type in PREDICATE_CLASSES:
        view = parse_predicate(predicate_type, predicate)
        assert view is not None
        view.to_dict()


def test_wrongly_typed_fields_read_as_empty() -> None:
    view = SLSAProvenanceV1.from_predicate(
        {
            "buildDefinition": {"buildType": 1, "externalParameters": "x"},
            "runDetails": {"builder": {"id": ["x"]}, "metadata": {"startedOn": 3}},
        }
    )
    assert view.build_type == ""
    assert view.external_parameters == {}
    assert view.builder_id == ""
    assert view.started_on is None
    digests = ResourceDescriptor.from_json({"digest": {"sha256": "ab", "bad": 1}})
    assert digests.digest == {"sha256": "ab"}


def test_unknown_types_have_no_view() -> None:
    assert parse_predicate(OPENVEX_PREDICATE_TYPE, {"@context": "x"}) is None
    assert parse_predicate("https://example.com/custom", {}) is None


def test_cosign_vuln() -> None:
    predicate = {
        "invocation": {
            "parameters": ["--severity", "HIGH"],
            "uri": "https://ci.example.com/runs/1",
            "event_id": "1",
            "builder.id": "https://ci.example.com",
        },
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@0.50.0",
            "version": "0.50.0",
            "db": {"uri": "pkg:trivy-db", "version": "2"},
            "result": {"Results": []},
        },
        "metadata": {
            "scanStartedOn": "2025-01-01T00:00:00Z",
            "scanFinishedOn": "2025-01-01T00:01:00Z",
        },
    }
    view = parse_predicate("https://cosign.sigstore.dev/attestation/vuln/v1", predicate)
    assert isinstance(view, CosignVuln)
    assert view.scanner_uri.startswith("pkg:github/aquasecurity/trivy")
    assert view.scanner_version == "0.50.0"
    assert (view.db_uri, view.db_version) == ("pkg:trivy-db", "2")
    assert view.result == {"Results": []}
    assert view.scan_finished_on == "2025-01-01T00:01:00Z"
    assert view.invocation_builder_id == "https://ci.example.com"
    assert view.invocation_parameters == ["--severity", "HIGH"]
    data = view.to_dict()
    assert data["scanner"]["db"] == {"uri": "pkg:trivy-db", "version": "2"}
    assert data["invocation"]["eventId"] == "1"


def test_cyclonedx_top_level_fields() -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {"timestamp": "2025-01-01T00:00:00Z", "component": {"name": "app"}},
        "components": [{"name": "openssl", "version": "3.0"}, {"type": "library"}, "junk"],
        "dependencies": [{"ref": "openssl"}],
    }
    view = parse_predicate(CYCLONEDX_PREDICATE_TYPE, bom)
    assert isinstance(view, CycloneDXBOM)
    assert (view.bom_format, view.spec_version, view.version) == ("CycloneDX", "1.5", 1)
    assert view.serial_number.startswith("urn:uuid:")
    assert view.timestamp == "2025-01-01T00:00:00Z"
    assert view.component == {"name": "app"}
    assert len(view.components) == 2
    assert view.component_names == ("openssl",)
    assert view.to_dict()["componentCount"] == 2
    assert CycloneDXBOM.from_predicate({"version": 1.0}).version == 1
    assert CycloneDXBOM.from_predicate({"version": True}).version is None


SPDX_JSON = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "app",
    "documentNamespace": "https://example.com/spdx/app-1.4",
    "creationInfo": {"created": "2025-01-01T00:00:00Z", "creators": ["Tool: syft-1.0"]},
    "packages": [{"name": "openssl", "SPDXID": "SPDXRef-1"}],
    "relationships": [{"relationshipType": "DESCRIBES"}],
}


def test_spdx_json_and_cosign_string_forms() -> None:
    for predicate in (SPDX_JSON, json.dumps(SPDX_JSON)):
        view = parse_predicate(SPDX_PREDICATE_TYPE, predicate)
        assert isinstance(view, SPDXDocument)
        assert view.spdx_version == "SPDX-2.3"
        assert view.name == "app"
        assert view.document_namespace.endswith("app-1.4")
        assert view.created == "2025-01-01T00:00:00Z"
        assert view.creators == ("Tool: syft-1.0",)
        assert view.package_names == ("openssl",)
        assert view.to_dict()["packageCount"] == 1


def test_spdx_tag_value_document_fields() -> None:
    text = (
        "SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\nSPDXID: SPDXRef-DOCUMENT\n"
        "DocumentName: app\nDocumentNamespace: https://example.com/app\n"
        "Creator: Tool: a\nCreator: Organization: b\nCreated: 2025-01-01T00:00:00Z\n"
        "PackageName: openssl\nnot a field line\n"
    )
    view = SPDXDocument.from_predicate(text)
    assert (view.spdx_version, view.data_license, view.spdx_id) == (
        "SPDX-2.2",
        "CC0-1.0",
        "SPDXRef-DOCUMENT",
    )
    assert view.name == "app"
    assert view.creators == ("Tool: a", "Organization: b")
    assert view.created == "2025-01-01T00:00:00Z"
    assert view.packages == ()
    assert SPDXDocument.from_predicate("{not json").spdx_version == ""


def test_cosign_custom_and_predicate_of() -> None:
    statement = Statement(
        "https://in-toto.io/Statement/v1",
        (),
        COSIGN_CUSTOM_PREDICATE_TYPE,
        {"Data": "hello", "Timestamp": "2025-01-01T00:00:00Z"},
    )
    view = predicate_of(statement)
    assert view == CosignCustom(data="hello", timestamp="2025-01-01T00:00:00Z")
    assert view is not None
    assert view.to_dict()["Data"] == "hello"


# -- build_predicate ---------------------------------------------------------------------------

NOW = datetime(2025, 2, 28, 19, 18, 11, 123456, tzinfo=timezone.utc)


def test_custom_wraps_the_file_text_with_a_timestamp() -> None:
    uri, predicate = build_predicate(b"any text\n", "custom", timestamp=NOW)
    assert uri == COSIGN_CUSTOM_PREDICATE_TYPE
    assert predicate == {"Data": "any text\n", "Timestamp": "2025-02-28T19:18:11Z"}
    _, later = build_predicate(b"x", "custom")
    assert len(later["Timestamp"]) == len("2025-02-28T19:18:11Z")


def test_spdx_is_a_string_and_spdxjson_an_object() -> None:
    content = json.dumps(SPDX_JSON).encode()
    assert build_predicate(content, "spdx") == (SPDX_PREDICATE_TYPE, content.decode())
    assert build_predicate(content, "spdxjson") == (SPDX_PREDICATE_TYPE, SPDX_JSON)


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("slsaprovenance", SLSA_PROVENANCE_V02_PREDICATE_TYPE),
        ("slsaprovenance02", SLSA_PROVENANCE_V02_PREDICATE_TYPE),
        ("slsaprovenance1", SLSA_PROVENANCE_V1_PREDICATE_TYPE),
        ("cyclonedx", CYCLONEDX_PREDICATE_TYPE),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", OPENVEX_PREDICATE_TYPE),
        ("link", "https://in-toto.io/Link/v1"),
        ("https://example.com/my-predicate/v1", "https://example.com/my-predicate/v1"),
    ],
)
def test_other_types_parse_a_json_object(name: str, uri: str) -> None:
    assert build_predicate(b'{"a": [1, 2]}', name) == (uri, {"a": [1, 2]})


def test_slsaprovenance1_renames_invocation_id_as_cosign_writes_it() -> None:
    content = json.dumps({"runDetails": {"metadata": {"invocationID": "42"}}}).encode()
    _, predicate = build_predicate(content, "slsaprovenance1")
    assert predicate == {"runDetails": {"metadata": {"invocationId": "42"}}}


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"[1, 2]", "slsaprovenance", "must hold a JSON object, not an array"),
        (b'"text"', "spdxjson", "not a string"),
        (b"{bad", "vuln", "predicate file"),
        (b'{"a": 1, "a": 2}', "vuln", "duplicate key"),
        (b"\xff\xfe", "custom", "not UTF-8"),
        (b"{}", "not a type", "invalid predicate type"),
    ],
)
def test_bad_predicate_files_are_refused(content: bytes, name: str, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        build_predicate(content, name)


def test_predicate_files_are_capped() -> None:
    with pytest.raises(SizeLimitExceededError):
        build_predicate(b" " * (MAX_PREDICATE_FILE_BYTES + 1), "vuln")
    deep = b"[" * 100 + b"]" * 100
    with pytest.raises(SizeLimitExceededError):
        build_predicate(b'{"a":' + deep + b"}", "vuln")
